"""A hostile key store folder: odd values in state.db, odd files at identity.key.

Everything in the store folder may have been written by someone without the passphrase
(keys.md 6.5) or simply corrupted. Each case must give KeyStoreError, never a raw
struct.error / TypeError / ValueError / IsADirectoryError, never a hang, and never an
allocation sized by a stored value.
"""

from __future__ import annotations

import os
import sqlite3
import tracemalloc
import warnings
from pathlib import Path

import pytest

from sealpack import errors
from sealpack.keys import Identity, KeyStore
from sealpack.keys.keystore import KEY_FILE, STATE_FILE
from sealpack.keys.secret import export_raw
from sealpack.keys.state_mac import StateMac
from sealpack.keys.store_files import MAX_KEY_FILE
from tests.fifo import call_or_hang

PASS = b"correct horse battery staple"
FAST = 2**10
NOW = 1_700_000_000
SENDER = b"s" * 16


def _store(tmp_path: Path, *, unencrypted: bool = False) -> Path:
    path = tmp_path / "bob"
    identity = Identity.generate("bob", one_time_prekeys=2, now=NOW)
    secret = {"passphrase": None, "unencrypted": True} if unencrypted else {"passphrase": PASS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = KeyStore.create(path, identity, scrypt_n=FAST, **secret)  # type: ignore[arg-type]
    with store:
        store.trust_store.check(Identity.generate("carol", one_time_prekeys=0).bundle())
        store.replay_guard.accept(SENDER, b"m1", 2**40, now=NOW)
        store.identity._consume_one_time_prekey(1)
    return path


def _sql(path: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    with sqlite3.connect(path / STATE_FILE) as db:
        for statement in statements:
            db.execute(statement, params)


def _open(path: Path, passphrase: bytes | None = PASS) -> KeyStore:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KeyStore.open(path, passphrase=passphrase, now=NOW)


@pytest.mark.parametrize(
    "attack",
    [
        "UPDATE consumed_prekeys SET id = -1",  # was struct.error (u64be)
        "UPDATE consumed_prekeys SET id = 9223372036854775807",  # encodes, fails its tag
        "UPDATE replay SET expires_at = 1.5",  # REAL in an INTEGER column: was TypeError
        "UPDATE replay SET sender = 'text'",  # TEXT in a BLOB column
        "UPDATE trust_pins SET name = x'00ff'",  # BLOB in a TEXT column
        "UPDATE row_counts SET count = 'x' WHERE tbl = 'replay'",  # was ValueError
        "UPDATE row_counts SET xor = 1.5 WHERE tbl = 'replay'",  # was TypeError
        "UPDATE row_counts SET xor = x'00' WHERE tbl = 'replay'",  # a short XOR
        "UPDATE row_counts SET count = -1 WHERE tbl = 'trust_pins'",  # was struct.error
        "UPDATE row_counts SET tag = 7 WHERE tbl = 'trust_pins'",
    ],
)
def test_hostile_state_db_values_are_keystore_errors_not_raw(tmp_path: Path, attack: str) -> None:
    """A folder writer (or corruption) edits one value of state.db: KeyStoreError at open."""
    path = _store(tmp_path)
    _sql(path, attack)
    with pytest.raises(errors.KeyStoreError):
        _open(path).close()


def test_a_stored_size_is_never_allocated(tmp_path: Path) -> None:
    """row_counts.xor set to an INTEGER made _stored() call bytes(n): n bytes allocated
    from a nine-byte edit (40 MB here; 2**40 would try a terabyte)."""
    path = _store(tmp_path)
    _sql(path, "UPDATE row_counts SET xor = 40000000 WHERE tbl = 'replay'")
    tracemalloc.start()
    try:
        with pytest.raises(errors.KeyStoreError):
            _open(path).close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"opening allocated {peak >> 20} MiB"


def test_a_well_tagged_row_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    """An unencrypted store's tag key comes from the seed, which a reader of identity.key
    has: he can tag an INTEGER digest. The column kinds are checked before any cast, so
    it is a KeyStoreError, not bytes(40000000)."""
    path = _store(tmp_path, unencrypted=True)
    store = _open(path, None)
    mac = StateMac.derive(export_raw(store.identity._state.seed), encrypted=False)
    store.close()
    fields = (SENDER, b"m9", 2**40, 40_000_000, "done", None, None)
    tag = mac.tag("replay", fields)  # type: ignore[arg-type]
    with sqlite3.connect(path / STATE_FILE) as db:
        count, acc = db.execute("SELECT count, xor FROM row_counts WHERE tbl = 'replay'").fetchone()
        acc = bytes(a ^ b for a, b in zip(acc, tag, strict=True))
        db.execute("INSERT INTO replay VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*fields, tag))
        db.execute(
            "UPDATE row_counts SET count = ?, xor = ?, tag = ? WHERE tbl = 'replay'",
            (count + 1, acc, mac.tag("row_counts", ("replay", count + 1, acc))),
        )
    with pytest.raises(errors.KeyStoreError):
        _open(path, None).close()


def test_identity_key_replaced_by_a_directory_is_a_keystore_error(tmp_path: Path) -> None:
    """read() of a directory raised a raw IsADirectoryError out of KeyStore.open."""
    path = _store(tmp_path)
    (path / KEY_FILE).unlink()
    (path / KEY_FILE).mkdir()
    with pytest.raises(errors.KeyStoreError, match="not a regular file"):
        _open(path).close()


def test_identity_key_replaced_by_a_fifo_does_not_hang_open(tmp_path: Path) -> None:
    """identity.key was opened without O_NONBLOCK: a FIFO there blocked KeyStore.open (or a
    receiver's refresh() under the store lock) forever instead of raising KeyStoreError."""
    path = _store(tmp_path)
    (path / KEY_FILE).unlink()
    os.mkfifo(path / KEY_FILE, 0o600)
    hung, outcome = call_or_hang(lambda: _open(path).close(), path / KEY_FILE)
    assert not hung, "KeyStore.open blocked on a FIFO planted at identity.key"
    assert outcome and isinstance(outcome[0], errors.KeyStoreError)


def test_an_oversized_identity_key_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    """A key file larger than MAX_KEY_FILE is refused; at most MAX_KEY_FILE + 1 bytes read."""
    path = _store(tmp_path)
    with open(path / KEY_FILE, "r+b") as handle:
        handle.truncate(MAX_KEY_FILE + 4096)
    with pytest.raises(errors.KeyStoreError, match="larger than"):
        _open(path).close()
