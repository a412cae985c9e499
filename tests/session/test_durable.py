"""Session state in the key store: encrypted, atomic, locked; forward secrecy and PCS."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import sealpack
from sealpack import errors
from sealpack.session import Session, StoreStorage
from tests.session.conftest import PASS, established

ROOT = Path(__file__).resolve().parents[2]


def _reopen(path: Path) -> sealpack.KeyStore:
    return sealpack.KeyStore.open(path, passphrase=PASS)


def test_state_survives_reopening_and_is_encrypted(stores):
    a, b = stores
    sa, _ = established(a, b, a.identity.bundle(), b.identity.bundle())
    pending = sa.seal("before restart")
    path = StoreStorage(b).path_for(a.identity.public_identity_key)
    data = path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"SEALSESS" not in data and a.identity.public_identity_key not in data
    with _reopen(b.path) as again:
        assert Session(again, a.identity.bundle()).open(pending) == "before restart"


def test_altered_state_file_is_refused(stores):
    a, b = stores
    established(a, b, a.identity.bundle(), b.identity.bundle())
    path = StoreStorage(b).path_for(a.identity.public_identity_key)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(errors.KeyStoreError, match="fails authentication"):
        Session(b, a.identity.bundle()).seal("x")


def test_restored_state_never_reuses_a_key_and_nonce(stores):
    """A state file put back from a backup (or a store copied to a second machine) sends
    again with a message key already used. The random nonce of every inline payload keeps
    the two messages from sharing an AES-GCM keystream and authentication key; the peer
    refuses the second as a replay (docs/spec/session.md sections 4 and 6)."""
    a, b = stores
    sa, sb = established(a, b, a.identity.bundle(), b.identity.bundle())
    path = StoreStorage(a).path_for(b.identity.public_identity_key)
    backup = path.read_bytes()
    first = sa.seal({"weights": bytes(1000), "round": 1})
    path.write_bytes(backup)
    second = sa.seal({"weights": bytes(1000), "round": 2})
    assert first[:66] == second[:66]  # same chain position: the same message key
    same = sum(x == y for x, y in zip(first[66:], second[66:], strict=True))
    assert same < len(first[66:]) // 8  # a repeated nonce would leave nearly all equal
    assert sb.open(first) == {"weights": bytes(1000), "round": 1}
    with pytest.raises(errors.ReplayError):
        sb.open(second)


def test_stolen_snapshot_cannot_open_earlier_messages(stores, tmp_path):
    """Forward secrecy: keys of received messages are gone from the store."""
    a, b = stores
    sa, sb = established(a, b, a.identity.bundle(), b.identity.bundle())
    old = [sa.seal(f"old {i}") for i in range(3)]
    for message in old:
        sb.open(message)
    shutil.copytree(b.path, tmp_path / "stolen")
    with _reopen(tmp_path / "stolen") as thief:
        session = Session(thief, a.identity.bundle())
        for message in old:
            with pytest.raises(errors.ReplayError):
                session.open(message)


def test_stolen_snapshot_is_locked_out_after_one_round_trip(stores, tmp_path):
    """Post-compromise security: after Bob's next DH step the thief's copy is useless."""
    a, b = stores
    sa, sb = established(a, b, a.identity.bundle(), b.identity.bundle())
    shutil.copytree(b.path, tmp_path / "stolen")
    a1 = sa.seal("seen by the thief too")
    assert sb.open(a1) == "seen by the thief too"
    assert sa.open(sb.seal("bob answers with a fresh ratchet key")) is not None
    a2 = sa.seal("after one round trip")
    assert sb.open(a2) == "after one round trip"
    with _reopen(tmp_path / "stolen") as thief:
        session = Session(thief, a.identity.bundle())
        assert session.open(a1) == "seen by the thief too"  # compromise was before a1
        with pytest.raises(errors.TamperedError):
            session.open(a2)


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


_SENDER = """
    import pathlib, sys, time, sealpack
    from sealpack.session import Session
    store = sealpack.KeyStore.open(sys.argv[1], passphrase=b"session test passphrase")
    peer = sealpack.KeyBundle.from_json(open(sys.argv[2]).read())
    session = Session(store, peer)
    out = []
    go = pathlib.Path(sys.argv[5] + ".go")
    pathlib.Path(sys.argv[5] + ".ready").touch()
    while not go.exists():
        time.sleep(0.001)
    for i in range(int(sys.argv[3])):
        out.append(session.seal(f"{sys.argv[4]} {i}").hex())
    open(sys.argv[5], "w").write("\\n".join(out))
"""


def test_two_processes_on_one_store_never_fork_the_session(stores, tmp_path):
    a, b = stores
    established(a, b, a.identity.bundle(), b.identity.bundle())
    bundle = tmp_path / "bob.json"
    bundle.write_text(b.identity.bundle().to_json())
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(_SENDER),
                str(a.path),
                str(bundle),
                "25",
                name,
                str(tmp_path / name),
            ],
            cwd=ROOT,
        )
        for name in ("p", "q")
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"{n}.ready").exists() for n in ("p", "q")):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.005)
    (tmp_path / "p.go").touch()
    (tmp_path / "q.go").touch()
    assert all(p.wait(timeout=120) == 0 for p in procs)
    messages = [
        bytes.fromhex(line)
        for name in ("p", "q")
        for line in (tmp_path / name).read_text().splitlines()
    ]
    headers = {m[:66] for m in messages}
    assert len(headers) == 50  # no message number used twice
    bob = Session(b, a.identity.bundle())
    opened = {bob.open(m) for m in messages}
    assert opened == {f"{n} {i}" for n in ("p", "q") for i in range(25)}


_RECEIVER = """
    import os, signal, sys, sealpack
    from sealpack.keys import fsutil
    from sealpack.session import Session, storage
    store = sealpack.KeyStore.open(sys.argv[1], passphrase=b"session test passphrase")
    peer = sealpack.KeyBundle.from_json(open(sys.argv[2]).read())
    real = storage.atomic_write
    def crash_before(path, data):
        os.kill(os.getpid(), signal.SIGKILL)
    def crash_after(path, data):
        real(path, data)
        os.kill(os.getpid(), signal.SIGKILL)
    storage.atomic_write = crash_before if sys.argv[4] == "before" else crash_after
    print(Session(store, peer).open(bytes.fromhex(open(sys.argv[3]).read())), flush=True)
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_receiver_loses_and_reuses_no_key(stores, tmp_path, when):
    a, b = stores
    sa, _ = established(a, b, a.identity.bundle(), b.identity.bundle())
    message = sa.seal("exactly once")
    (tmp_path / "m").write_text(message.hex())
    (tmp_path / "alice.json").write_text(a.identity.bundle().to_json())
    done = _run(_RECEIVER, str(b.path), str(tmp_path / "alice.json"), str(tmp_path / "m"), when)
    assert done.returncode == -9 and "exactly once" not in done.stdout
    bob = Session(b, a.identity.bundle())
    if when == "before":  # nothing persisted: the message opens, once
        assert bob.open(message) == "exactly once"
    with pytest.raises(errors.ReplayError):  # persisted: its key is gone, never reused
        bob.open(message)
    assert bob.open(sa.seal("next")) == "next"


_HOLDING_RECEIVER = """
    import os, signal, sys, sealpack
    from sealpack.session import Session
    store = sealpack.KeyStore.open(sys.argv[1], passphrase=b"session test passphrase")
    peer = sealpack.KeyBundle.from_json(open(sys.argv[2]).read())
    opened = Session(store, peer).open_message(bytes.fromhex(open(sys.argv[3]).read()), hold=True)
    print(opened.obj, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # dies before the application acknowledged
"""


def test_held_message_survives_a_crash_until_acknowledged(stores, tmp_path):
    """Exactly once: opened with hold=True, a crash before the ack redelivers it."""
    a, b = stores
    sa, _ = established(a, b, a.identity.bundle(), b.identity.bundle())
    message = sa.seal({"task": 7})
    (tmp_path / "m").write_text(message.hex())
    (tmp_path / "alice.json").write_text(a.identity.bundle().to_json())
    done = _run(_HOLDING_RECEIVER, str(b.path), str(tmp_path / "alice.json"), str(tmp_path / "m"))
    assert done.returncode == -9 and "{'task': 7}" in done.stdout
    bob = Session(b, a.identity.bundle())
    again = bob.open_message(message, hold=True)
    assert again.obj == {"task": 7} and again.redelivered and again.receipt is not None
    bob.acknowledge(again)
    with pytest.raises(errors.ReplayError):
        bob.open_message(message, hold=True)
    assert bob.open(sa.seal("next")) == "next"
