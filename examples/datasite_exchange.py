"""Two peers exchange a sealed model through a datasite folder.

Run: python examples/datasite_exchange.py
The folder could be synced by SyftBox, rsync or a shared disk; here it is local.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from sealpack.exchange.peer import Peer
from sealpack.keys import Identity, KeyStore


def make_peer(name: str, site: Path, keys: Path) -> Peer:
    """Create an identity, keep its keys in a passphrase-protected store, publish it."""
    identity = Identity.generate(name, one_time_prekeys=10)
    store = KeyStore.create(keys / name, identity, passphrase=f"{name} passphrase".encode())
    return Peer(name, site, store)


def main() -> None:
    with tempfile.TemporaryDirectory() as temp:
        site, keys = Path(temp) / "datasite", Path(temp) / "keys"
        alice = make_peer("alice", site, keys)
        bob = make_peer("bob", site, keys)

        weights = {"dense.w": np.random.default_rng(0).standard_normal((256, 256))}
        alice.send(weights, to=["bob"], metadata={"round": 1})
        (message_id,) = bob.transport.list_inbox("bob")
        kept = bob.transport.read_message("bob", message_id)  # what an attacker could copy

        # Each message is acknowledged once this loop body finished: if bob's process
        # died inside it, the message would come again after a restart, marked
        # message.redelivered (process such messages idempotently).
        for message in bob.iter_messages():
            sender, metadata, obj = message
            print(f"bob got {sorted(obj)} from {sender} with {metadata}")

        # Anyone with write access to the folder can replay the blob: it is refused.
        bob.transport.deliver("bob", kept, sender="alice")
        print("after a replay bob accepts:", bob.receive())
        print("quarantine:", [record.reason for record in bob.quarantined()])
        alice.close()
        bob.close()


if __name__ == "__main__":
    main()
