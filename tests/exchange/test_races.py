"""Real multi-process races on the directory transport."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sealpack.exchange import DirectoryTransport
from sealpack.exchange.atomic import remove_stale_temporaries
from sealpack.exchange.folders import open_folder

sys.path.insert(0, str(Path(__file__).parent))
from race_worker import payload

WORKER = str(Path(__file__).with_name("race_worker.py"))


def spawn(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, WORKER, *arguments], stdout=subprocess.PIPE, text=True)


def test_many_processes_claim_each_prekey_exactly_once(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    site.publish_bundle("bob", "{}", {i: bytes(32) for i in range(300)})
    go = tmp_path / "go"
    workers = [spawn("claim", str(tmp_path), "bob", str(go)) for _ in range(6)]
    time.sleep(0.3)
    go.touch()
    claimed: list[int] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        claimed += [int(line) for line in out.split()]
    assert len(claimed) == 300
    assert sorted(claimed) == list(range(300))
    assert site.available_one_time_prekeys("bob") == 0


def test_concurrent_senders_and_a_reader_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    site.register_peer("bob")
    go = tmp_path / "go"
    senders = {f"s{n}": 40 for n in range(4)}
    workers = [
        spawn("send", str(tmp_path), "bob", name, str(count), str(go))
        for name, count in senders.items()
    ]
    go.touch()
    expected = {
        (name, i): payload(name, i) for name, count in senders.items() for i in range(count)
    }
    seen: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + 60
    while len(seen) < len(expected) and time.monotonic() < deadline:
        for message_id in site.list_inbox("bob"):
            data = site.read_message("bob", message_id)
            name, index, _ = data.split(b":", 2)
            key = (name.decode(), int(index))
            assert data == expected[key], "a reader saw a partial or foreign blob"
            seen[key] = seen.get(key, 0) + 1
            site.acknowledge("bob", message_id)
    for worker in workers:
        worker.wait(timeout=60)
        assert worker.returncode == 0
    assert site.list_inbox("bob") == []
    assert set(seen) == set(expected)
    assert set(seen.values()) == {1}


def test_killed_writer_leaves_no_visible_partial_file(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    site.register_peer("bob")
    inbox = tmp_path / "bob" / "inbox"
    worker = spawn("slow", str(tmp_path), "bob")
    deadline = time.monotonic() + 30
    temporaries: list[Path] = []
    while time.monotonic() < deadline:
        temporaries = [p for p in inbox.iterdir() if p.stat().st_size > 200_000]
        if temporaries:
            break
        time.sleep(0.02)
    assert temporaries, "the writer never started"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL
    assert site.list_inbox("bob") == []
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in inbox.iterdir())
    with open_folder(tmp_path, ["bob", "inbox"]) as inbox_fd:
        assert remove_stale_temporaries(inbox_fd, older_than=0) == len(temporaries)
    assert list(inbox.iterdir()) == []


def test_sender_processes_each_use_a_distinct_prekey(tmp_path: Path) -> None:
    from sealpack.exchange.peer import Peer
    from sealpack.keys import Identity, KeyStore

    site, keys = tmp_path / "site", tmp_path / "keys"
    senders = ["s1", "s2", "s3"]
    per_sender = 6
    for name in [*senders, "bob"]:
        identity = Identity.generate(name, one_time_prekeys=12 if name == "bob" else 1)
        store = KeyStore.create(keys / name, identity, passphrase=b"pw", scrypt_n=2**10)
        Peer(name, site, store).close()
    go = tmp_path / "go"
    workers = [
        spawn("peer_send", str(site), str(keys), name, str(per_sender), str(go)) for name in senders
    ]
    go.touch()
    for worker in workers:
        worker.communicate(timeout=120)
        assert worker.returncode == 0
    bob = Peer("bob", site, KeyStore.open(keys / "bob", passphrase=b"pw"))
    received = sorted((m.obj["from"], m.obj["index"]) for m in bob.receive())
    assert received == sorted((s, i) for s in senders for i in range(per_sender))
    assert bob.quarantined() == []
    # 12 prekeys for 18 messages: each used once, 6 messages on the signed prekey alone.
    assert bob.identity.one_time_prekey_ids() == []
    claimed = list((site / "bob" / "public" / "claimed").iterdir())
    assert len(claimed) == 12
    bob.close()
