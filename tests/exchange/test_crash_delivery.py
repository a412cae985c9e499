"""Issue 17: a receiver killed (SIGKILL) at any moment loses and duplicates nothing.

Real processes (tests/exchange/receive_worker.py) are killed deterministically in
each window of the issue, then restarted: the message is delivered after the
restart, processed exactly once (the application dedupes redeliveries, which are
marked), intact, and nothing is quarantined. The soak test kills a receiver at
random moments while several sender processes send; ``SEALPACK_SOAK_SECONDS``
makes it longer (default 8).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sealpack import api
from sealpack.exchange import DirectoryTransport, Peer
from sealpack.keys import Identity, KeyStore

HERE = Path(__file__).parent
FAST_SCRYPT = 2**10
PAYLOAD = os.urandom(3 << 20)  # several chunks, so the progress callback runs mid-way


def worker(script: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *args], env=env, stderr=subprocess.PIPE
    )


def make_receiver(tmp_path: Path) -> tuple[Path, Path]:
    site, keys = tmp_path / "site", tmp_path / "keys"
    identity = Identity.generate("bob", one_time_prekeys=50)
    with KeyStore.create(keys, identity, passphrase=b"pw", scrypt_n=FAST_SCRYPT) as store:
        Peer("bob", site, store)
    return site, keys


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(
    ("mode", "redelivered"),
    [
        ("progress", [False]),  # killed while opening: nothing was committed
        ("opened", [True]),  # committed as held, the application never had it
        ("processing", [False, True]),  # processed, killed before acknowledging
        ("ack-between", [False]),  # blob removed, key store not told yet
        ("acked", [False]),  # killed right after acknowledging
    ],
)
def test_killed_receiver_delivers_exactly_once_after_restart(
    tmp_path: Path, mode: str, redelivered: list[bool]
) -> None:
    site, keys = make_receiver(tmp_path)
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=2))
    (message_id,) = alice.send(PAYLOAD, to=["bob"], metadata={"seq": 0}, stream=True)
    header = api.inspect(site / "bob" / "inbox" / f"{message_id}.sealed")
    row = (bytes.fromhex(header.sender_key_id), bytes.fromhex(header.message_id))
    log = tmp_path / "processed.log"
    killed = worker("receive_worker.py", str(site), str(keys), "bob", mode, str(log))
    assert killed.wait(timeout=60) == -signal.SIGKILL, killed.stderr.read().decode()  # type: ignore[union-attr]
    restarted = worker("receive_worker.py", str(site), str(keys), "bob", "none", str(log))
    assert restarted.wait(timeout=60) == 0, restarted.stderr.read().decode()  # type: ignore[union-attr]
    deliveries = lines(Path(f"{log}.deliveries"))
    assert [d["redelivered"] for d in deliveries] == redelivered
    assert lines(log) == [
        {"processed": ["alice", 0], "digest": hashlib.sha256(PAYLOAD).hexdigest()}
    ]
    transport = DirectoryTransport(site)
    assert transport.list_inbox("bob") == []
    assert transport.list_quarantine("bob") == []
    assert list((keys / "datasite-acks").iterdir()) == []  # every acknowledgement finished
    with KeyStore.open(keys, passphrase=b"pw") as store:
        state, _ = store.replay_guard.lookup(*row)
        assert state == "done"  # acknowledged in the key store: its one-time prekey is gone


def test_soak_receiver_killed_at_random_moments(tmp_path: Path) -> None:
    seconds = float(os.environ.get("SEALPACK_SOAK_SECONDS", "8"))
    site, keys = make_receiver(tmp_path)
    senders, per_sender = 3, max(4, int(seconds * 1.5))
    spacing = seconds / per_sender
    sent_log, log = tmp_path / "sent.log", tmp_path / "processed.log"
    sending = [
        worker(
            "soak_sender.py",
            str(site),
            f"s{i}",
            "bob",
            str(per_sender),
            str(spacing),
            str(sent_log),
        )
        for i in range(senders)
    ]
    total, rng, kills = senders * per_sender, random.Random(), 0
    receive = ["receive_worker.py", str(site), str(keys), "bob", "soak", str(log), str(total)]
    while any(process.poll() is None for process in sending):
        receiver = worker(*receive)
        time.sleep(rng.uniform(0.3, 1.5))  # killed at a random moment, whatever it does
        receiver.send_signal(signal.SIGKILL)
        kills += receiver.wait() == -signal.SIGKILL
    for process in sending:
        assert process.wait() == 0, process.stderr.read().decode()  # type: ignore[union-attr]
    receiver = worker(*receive)  # the last restart drains the inbox
    assert receiver.wait(timeout=300) == 0, receiver.stderr.read().decode()  # type: ignore[union-attr]
    sent = {(n, s): d for n, s, d in (json.loads(x) for x in sent_log.read_text().splitlines())}
    done = [(tuple(r["processed"]), r["digest"]) for r in lines(log)]
    assert len(sent) == total
    missing = set(sent.items()) - set(done)
    assert sorted(done) == sorted(sent.items()), f"missing {sorted(missing)[:5]}"  # once, intact
    fresh = [
        tuple(d["delivered"]) for d in lines(Path(f"{log}.deliveries")) if not d["redelivered"]
    ]
    assert len(fresh) == len(set(fresh))  # a second delivery is always marked
    transport = DirectoryTransport(site)
    assert transport.list_quarantine("bob") == []
    assert transport.list_inbox("bob") == []
    assert kills > 0
