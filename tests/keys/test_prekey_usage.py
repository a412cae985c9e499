"""The sender's record of used one-time prekeys: in memory, and durable in a KeyStore."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import api, errors
from sealpack.keys import Identity, KeyStore, MemoryPrekeyUsage, PrekeyUsage
from sealpack.keys.keystore import STATE_FILE

NOW = 1_700_000_000
PASS = b"sender passphrase"
FAST = 2**10


def _stores(tmp_path: Path) -> tuple[Path, Identity]:
    """Alice's key store on disk and Bob, whose static bundle has three OPKs."""
    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    KeyStore.create(tmp_path / "alice", alice, passphrase=PASS, scrypt_n=FAST).close()
    return tmp_path / "alice", Identity.generate("bob", one_time_prekeys=3, now=NOW)


def _opk(blob: bytes) -> int | None:
    return api.inspect(blob).recipients[0].one_time_prekey_id


def test_memory_usage_takes_first_unused_per_recipient() -> None:
    usage = MemoryPrekeyUsage()
    assert isinstance(usage, PrekeyUsage)
    assert [usage.take(b"B" * 32, [4, 2, 9]) for _ in range(4)] == [4, 2, 9, None]
    assert usage.take(b"C" * 32, [4, 2]) == 4  # another recipient: its own record
    assert usage.take(b"C" * 32, []) is None


@given(st.lists(st.integers(1, 50), unique=True), st.lists(st.integers(1, 50), unique=True))
def test_memory_usage_never_returns_an_id_twice(first: list[int], second: list[int]) -> None:
    usage = MemoryPrekeyUsage()
    taken = [usage.take(b"R", first) for _ in first] + [usage.take(b"R", second) for _ in second]
    ids = [i for i in taken if i is not None]
    assert len(ids) == len(set(ids)) == len(set(first) | set(second))
    assert ids[: len(first)] == first


def test_identity_has_in_memory_usage_keystore_durable(tmp_path: Path) -> None:
    assert isinstance(Identity.generate("x", one_time_prekeys=0).prekey_usage, MemoryPrekeyUsage)
    path, _ = _stores(tmp_path)
    with KeyStore.open(path, passphrase=PASS) as store:
        assert store.identity.prekey_usage.take(b"B" * 32, [1, 2]) == 1
    with KeyStore.open(path, passphrase=PASS) as store:
        assert store.identity.prekey_usage.take(b"B" * 32, [1, 2]) == 2
        assert store.identity.prekey_usage.take(b"B" * 32, [1, 2]) is None


def test_two_opens_of_one_sender_use_different_opks(tmp_path: Path) -> None:
    """Two KeyStore.open()s (as two processes would) sealing to one static bundle."""
    path, bob = _stores(tmp_path)
    static = bob.bundle()
    first_store = KeyStore.open(path, passphrase=PASS)
    second_store = KeyStore.open(path, passphrase=PASS)
    with first_store, second_store:
        first = api.seal({"n": 1}, sender=first_store, recipients=[static], now=NOW)
        second = api.seal({"n": 2}, sender=second_store, recipients=[static], now=NOW)
        sender = first_store.identity.bundle()
    assert (_opk(first), _opk(second)) == (1, 2)
    assert api.unseal(first, recipient=bob, senders=[sender], now=NOW) == {"n": 1}
    assert api.unseal(second, recipient=bob, senders=[sender], now=NOW) == {"n": 2}


_SEAL_IN_A_PROCESS = textwrap.dedent(
    """
    import sys
    from sealpack import api
    from sealpack.keys import KeyBundle, KeyStore
    bundle = KeyBundle.from_json(open(sys.argv[2]).read(), now={now})
    with KeyStore.open(sys.argv[1], passphrase={passphrase!r}) as store:
        blob = api.seal(sys.argv[3], sender=store, recipients=[bundle], now={now})
    open(sys.argv[4], "wb").write(blob)
    """
).format(now=NOW, passphrase=PASS)


def test_two_processes_use_different_opks(tmp_path: Path) -> None:
    path, bob = _stores(tmp_path)
    (tmp_path / "bob.json").write_text(bob.bundle().to_json())
    for text in ("one", "two"):
        argv = [str(path), str(tmp_path / "bob.json"), text, str(tmp_path / text)]
        subprocess.run([sys.executable, "-c", _SEAL_IN_A_PROCESS, *argv], check=True)
    blobs = [(tmp_path / name).read_bytes() for name in ("one", "two")]
    assert [_opk(blob) for blob in blobs] == [1, 2]
    with KeyStore.open(path, passphrase=PASS) as store:
        sender = store.identity.bundle()
    for blob, text in zip(blobs, ("one", "two"), strict=True):
        assert api.unseal(blob, recipient=bob, senders=[sender], now=NOW) == text


def test_wiping_the_used_prekey_record_is_detected(tmp_path: Path) -> None:
    """Deleting the record (to make this sender reuse a peer's one-time prekey) is refused."""
    path, bob = _stores(tmp_path)
    with KeyStore.open(path, passphrase=PASS) as store:
        api.seal(1, sender=store, recipients=[bob.bundle()], now=NOW)
    with sqlite3.connect(path / STATE_FILE) as db:
        db.execute("DELETE FROM used_peer_prekeys")
    with pytest.raises(errors.KeyStoreError, match="modified outside sealpack"):
        KeyStore.open(path, passphrase=PASS)


def test_seal_without_one_time_prekey_marks_nothing(tmp_path: Path) -> None:
    path, bob = _stores(tmp_path)
    with KeyStore.open(path, passphrase=PASS) as store:
        blob = api.seal(1, sender=store, recipients=[bob.bundle()], now=NOW, one_time_prekey=False)
        assert _opk(blob) is None
        assert store.identity.prekey_usage.take(bob.public_identity_key, [1]) == 1


@pytest.mark.parametrize("bad", [None, 1, "yes"])
def test_one_time_prekey_must_be_a_bool(bad: object) -> None:
    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    with pytest.raises(api.SealArgumentError):
        api.seal(1, sender=alice, recipients=[alice.bundle()], now=NOW, one_time_prekey=bad)  # type: ignore[arg-type]
