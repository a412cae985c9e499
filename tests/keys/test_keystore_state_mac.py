"""Issue 10.12: state.db rows are authenticated; an unencrypted key file never takes a passphrase.

On sealpack 0.1 whoever could write the key store folder could re-pin a peer or wipe the
replay memory with the sqlite3 shell, without the passphrase, and nothing noticed.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import pytest

from sealpack import errors
from sealpack.keys import Identity, KeyStore
from sealpack.keys.keystore import DEFAULT_SCRYPT_N, KEY_FILE, STATE_FILE
from sealpack.keys.state_mac import StateMac, encode_row
from tests.keys.stores import swap_in_unencrypted_key_file

PASS = b"correct horse battery staple"
FAST = 2**10
NOW = 1_700_000_000
SENDER = b"s" * 16


def _store(tmp_path: Path, name: str = "bob") -> Path:
    path = tmp_path / name
    identity = Identity.generate(name, one_time_prekeys=2, now=NOW)
    with KeyStore.create(path, identity, passphrase=PASS, scrypt_n=FAST) as store:
        store.trust_store.check(Identity.generate("carol", one_time_prekeys=0).bundle())
        store.replay_guard.accept(SENDER, b"m1", 2**40, now=NOW)
        store.replay_guard.accept(SENDER, b"m2", 2**40, now=NOW)
        store.identity._consume_one_time_prekey(1)
    return path


def _sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path / STATE_FILE) as db:
        for statement in statements:
            db.execute(statement)


def _open(path: Path) -> KeyStore:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KeyStore.open(path, passphrase=PASS, now=NOW)


def test_repinning_a_peer_without_the_passphrase_is_detected(tmp_path: Path) -> None:
    path = _store(tmp_path)
    mallory = Identity.generate("carol", one_time_prekeys=0)
    key = mallory.public_identity_key.hex()
    _sql(path, f"UPDATE trust_pins SET identity_key = X'{key}' WHERE name = 'carol'")
    with pytest.raises(errors.KeyStoreError, match="modified outside sealpack"):
        _open(path)


def test_a_repin_under_an_open_handle_is_detected_at_use(tmp_path: Path) -> None:
    path = _store(tmp_path)
    with _open(path) as store:
        mallory = Identity.generate("carol", one_time_prekeys=0)
        key = mallory.public_identity_key.hex()
        _sql(path, f"UPDATE trust_pins SET identity_key = X'{key}' WHERE name = 'carol'")
        with pytest.raises(errors.KeyStoreError, match="modified outside sealpack"):
            store.trust_store.check(mallory.bundle())


@pytest.mark.parametrize(
    "attack",
    [
        "DELETE FROM replay",  # wipe the replay memory
        "DELETE FROM replay WHERE message_id = X'6d31'",  # forget one message id
        "DELETE FROM trust_pins",  # forget a pin: the next bundle would be trusted on first use
        "DELETE FROM consumed_prekeys",
        "DROP TABLE replay",
    ],
)
def test_deleting_rows_is_detected(tmp_path: Path, attack: str) -> None:
    path = _store(tmp_path)
    _sql(path, attack)
    with pytest.raises(errors.KeyStoreError, match=r"state\.db"):
        _open(path)


def test_a_forgotten_message_id_is_not_accepted_by_an_open_handle(tmp_path: Path) -> None:
    """Wiping the replay memory under a running receiver: the replay is refused, not opened."""
    path = _store(tmp_path)
    with _open(path) as store:
        _sql(path, "DELETE FROM replay WHERE message_id = X'6d31'")
        with pytest.raises(errors.KeyStoreError, match="modified outside sealpack"):
            store.replay_guard.lookup(SENDER, b"m1")
        with pytest.raises(errors.KeyStoreError):
            store.replay_guard.accept(SENDER, b"m1", 2**40, now=NOW)


def test_a_row_swapped_for_another_store_row_is_detected(tmp_path: Path) -> None:
    """A tag is bound to the row's table and content and to this store's key."""
    path, other = _store(tmp_path), _store(tmp_path, "dave")
    with sqlite3.connect(other / STATE_FILE) as db:
        foreign = db.execute("SELECT identity_key, tag FROM trust_pins").fetchone()
    _sql(
        path,
        f"UPDATE trust_pins SET identity_key = X'{foreign[0].hex()}', tag = X'{foreign[1].hex()}'",
    )
    with pytest.raises(errors.KeyStoreError, match="modified outside sealpack"):
        _open(path)


def test_replacing_or_deleting_state_db_is_detected(tmp_path: Path) -> None:
    path = _store(tmp_path)
    (path / STATE_FILE).unlink()
    sqlite3.connect(path / STATE_FILE).close()  # an empty database in its place
    with pytest.raises(errors.KeyStoreError, match="no authenticated tables"):
        _open(path)


def test_unencrypted_key_file_opened_with_a_passphrase_is_refused(tmp_path: Path) -> None:
    """A key file replaced by an "encryption": "none" one is not silently used."""
    path = _store(tmp_path)
    attacker = tmp_path / "attacker"
    swap_in_unencrypted_key_file(path, attacker)
    with pytest.raises(errors.KeyStoreError, match=r'UNENCRYPTED .*"none".* passphrase'):
        _open(path)
    with pytest.raises(errors.KeyStoreError, match="UNENCRYPTED"):
        KeyStore.open(attacker, passphrase=PASS)


def test_unknown_encryption_name_is_refused(tmp_path: Path) -> None:
    path = _store(tmp_path)
    document = json.loads((path / KEY_FILE).read_text())
    document["encryption"] = "rot13"
    (path / KEY_FILE).write_text(json.dumps(document))
    with pytest.raises(errors.KeyStoreError, match="unknown encryption"):
        _open(path)


def test_unencrypted_stores_tag_their_rows_too(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = KeyStore.create(
            path, Identity.generate("bob", one_time_prekeys=0), passphrase=None, unencrypted=True
        )
        store.replay_guard.accept(SENDER, b"m1", 2**40, now=NOW)
        store.close()
        _sql(path, "DELETE FROM replay")
        with pytest.raises(errors.KeyStoreError, match=r"state\.db"):
            KeyStore.open(path, passphrase=None)


def test_row_encoding_is_domain_separated() -> None:
    assert encode_row("t", (1,)) != encode_row("t", (b"\x00" * 7 + b"\x01",))
    assert encode_row("t", ("ab", "c")) != encode_row("t", ("a", "bc"))
    assert encode_row("t", (None,)) != encode_row("t", (b"",))
    assert encode_row("a", (1,)) != encode_row("b", (1,))
    assert encode_row("t", (1,)).startswith(b"sealpack/v2/state-row\x00\x01t")
    mac = StateMac(b"k" * 32)
    assert "6b6b" not in repr(mac) and "k" * 8 not in repr(mac)


def test_scrypt_default_follows_owasp() -> None:
    """N = 2**17, r = 8, p = 1 (OWASP Password Storage Cheat Sheet); see keys.md section 6."""
    assert DEFAULT_SCRYPT_N == 2**17


def test_names_for_key_reads_authenticated_pins(tmp_path: Path) -> None:
    path = _store(tmp_path)
    with _open(path) as store:
        carol = store.trust_store.pinned_key("carol")
        assert carol is not None
        assert store._state.names_for_key(carol) == ["carol"]
        assert store.trust_store.name_for_key(carol) == "carol"
        _sql(path, "UPDATE trust_pins SET name = 'mallory'")
        with pytest.raises(errors.KeyStoreError, match="modified outside sealpack"):
            store.trust_store.name_for_key(carol)
