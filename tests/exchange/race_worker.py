"""Worker processes for the concurrency tests (run as a script, not collected).

Usage:
    race_worker.py claim ROOT PEER GO_FILE          print every claimed prekey id
    race_worker.py send ROOT PEER SENDER COUNT GO   deliver COUNT messages
    race_worker.py slow ROOT PEER                   stream a large blob slowly (to be killed)
    race_worker.py peer_send ROOT KEYS NAME COUNT GO  Peer NAME sends COUNT messages to bob
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import BinaryIO

from sealpack.exchange import DirectoryTransport


def payload(sender: str, index: int) -> bytes:
    """The exact bytes message ``index`` of ``sender`` carries (size varies)."""
    head = f"{sender}:{index}:".encode()
    return head + bytes((index * 7 + k) % 251 for k in range(1000 + 997 * (index % 13)))


def wait_for(go_file: str) -> None:
    while not Path(go_file).exists():
        time.sleep(0.005)


def claim(root: str, peer: str, go_file: str) -> None:
    transport = DirectoryTransport(root)
    wait_for(go_file)
    while (key_id := transport.claim_one_time_prekey(peer)) is not None:
        print(key_id, flush=True)


def send(root: str, peer: str, sender: str, count: str, go_file: str) -> None:
    transport = DirectoryTransport(root)
    wait_for(go_file)
    for index in range(int(count)):
        transport.deliver(peer, payload(sender, index), sender=sender)


def slow(root: str, peer: str) -> None:
    def writer(out: BinaryIO) -> None:
        for _ in range(10_000):
            out.write(b"\xab" * 65536)
            out.flush()
            time.sleep(0.01)

    DirectoryTransport(root).deliver(peer, writer, sender="writer")


def peer_send(root: str, keys: str, name: str, count: str, go_file: str) -> None:
    from sealpack.exchange.peer import Peer
    from sealpack.keys import KeyStore

    sender = Peer(name, root, KeyStore.open(Path(keys) / name, passphrase=b"pw"), publish=False)
    wait_for(go_file)
    for index in range(int(count)):
        sender.send({"from": name, "index": index}, to=["bob"])
    sender.close()


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    workers = {"claim": claim, "send": send, "slow": slow, "peer_send": peer_send}
    workers[command](*arguments)
