"""KeyStore: encryption at rest, permissions, durability and crash safety."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sealpack import errors, x3dh
from sealpack.keys import Identity, KeyStore
from sealpack.keys.keystore import KEY_FILE, LOCK_FILE, STATE_FILE

NOW = 1_700_000_000
PASS = b"correct horse battery staple"
FAST = 2**10  # scrypt cost for tests


def make_store(tmp_path: Path, opks: int = 3) -> KeyStore:
    identity = Identity.generate("bob", one_time_prekeys=opks, now=NOW)
    return KeyStore.create(tmp_path / "bob", identity, passphrase=PASS, scrypt_n=FAST)


def test_create_open_round_trip(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    bundle = store.identity.bundle()
    store.close()
    with KeyStore.open(tmp_path / "bob", passphrase=PASS) as again:
        assert again.encrypted
        assert again.identity.bundle() == bundle
        assert again.identity.fingerprint() == bundle.fingerprint()


def test_permissions_and_layout(tmp_path: Path) -> None:
    make_store(tmp_path).close()
    directory = tmp_path / "bob"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert sorted(p.name for p in directory.iterdir()) == [LOCK_FILE, KEY_FILE, STATE_FILE]
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_keys_encrypted_at_rest(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    from sealpack.keys.secret import export_raw

    seed_hex = export_raw(store.identity._state.seed).hex()
    text = (tmp_path / "bob" / KEY_FILE).read_text()
    assert seed_hex not in text
    document = json.loads(text)
    assert document["encryption"] == "scrypt-aes256gcm" and "keys" not in document


def test_wrong_passphrase(tmp_path: Path) -> None:
    make_store(tmp_path).close()
    with pytest.raises(errors.WrongPassphraseError):
        KeyStore.open(tmp_path / "bob", passphrase=b"wrong")
    with pytest.raises(errors.WrongPassphraseError):
        KeyStore.open(tmp_path / "bob", passphrase=None)


def test_tampered_or_corrupt_file(tmp_path: Path) -> None:
    make_store(tmp_path).close()
    path = tmp_path / "bob" / KEY_FILE
    document = json.loads(path.read_text())
    ciphertext = bytearray.fromhex(document["ciphertext"])
    ciphertext[10] ^= 1
    document["ciphertext"] = ciphertext.hex()
    path.write_text(json.dumps(document))
    with pytest.raises(errors.WrongPassphraseError):
        KeyStore.open(tmp_path / "bob", passphrase=PASS)
    document["version"] = 9
    path.write_text(json.dumps(document))
    with pytest.raises(errors.UnsupportedVersionError):
        KeyStore.open(tmp_path / "bob", passphrase=PASS)
    for garbage in ("", "{", "[]", '{"type": "sealpack-keystore"}'):
        path.write_text(garbage)
        with pytest.raises(errors.KeyStoreError):
            KeyStore.open(tmp_path / "bob", passphrase=PASS)
    document["version"], document["kdf"]["n"] = 1, 2**40
    path.write_text(json.dumps(document))
    with pytest.raises(errors.KeyStoreError):
        KeyStore.open(tmp_path / "bob", passphrase=PASS)


def test_missing_store(tmp_path: Path) -> None:
    with pytest.raises(errors.KeyStoreError):
        KeyStore.open(tmp_path / "nobody", passphrase=PASS)


def test_create_arguments(tmp_path: Path) -> None:
    identity = Identity.generate("bob", one_time_prekeys=0)
    with pytest.raises(errors.KeyStoreError):
        KeyStore.create(tmp_path / "a", identity, passphrase=None)
    with pytest.raises(errors.KeyStoreError):
        KeyStore.create(tmp_path / "a", identity, passphrase=PASS, unencrypted=True)
    with pytest.raises(errors.KeyStoreError):
        KeyStore.create(tmp_path / "a", identity, passphrase=b"")
    KeyStore.create(tmp_path / "a", identity, passphrase=PASS, scrypt_n=FAST).close()
    with pytest.raises(errors.KeyStoreError):  # already in a store
        KeyStore.create(tmp_path / "b", identity, passphrase=PASS, scrypt_n=FAST)
    other = Identity.generate("bob", one_time_prekeys=0)
    with pytest.raises(errors.KeyStoreError):  # a store is already there
        KeyStore.create(tmp_path / "a", other, passphrase=PASS, scrypt_n=FAST)
    with pytest.raises(errors.KeyStoreError):
        KeyStore.create(tmp_path / "c", other, passphrase=PASS, scrypt_n=1000)


def test_unencrypted_is_loud(tmp_path: Path) -> None:
    identity = Identity.generate("bob", one_time_prekeys=1)
    with pytest.warns(UserWarning, match="UNENCRYPTED"):
        store = KeyStore.create(tmp_path / "bob", identity, passphrase=None, unencrypted=True)
    assert not store.encrypted
    store.close()
    with pytest.warns(UserWarning, match="UNENCRYPTED"):
        again = KeyStore.open(tmp_path / "bob", passphrase=None)
    assert again.identity.bundle() == identity.bundle()


def _sent_with_prekey(store: KeyStore, prekey_id: int) -> x3dh.X3DHResult:
    """A fresh sender runs X3DH against the store's bundle using one-time prekey ``prekey_id``."""
    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    bundle = store.identity.bundle()
    return x3dh.initiate(
        alice, bundle, one_time_prekey_id=prekey_id, pq_prekey_id=bundle.pq_prekey.id, now=NOW
    )


def _assert_reopened_refuses(path: Path, sent: x3dh.X3DHResult, remaining: list[int]) -> None:
    """The reopened store holds exactly ``remaining`` OPKs and refuses ``sent`` again."""
    with KeyStore.open(path, passphrase=PASS) as again:
        assert again.identity.one_time_prekey_ids() == remaining
        with pytest.raises(errors.PrekeyError):
            x3dh.respond(again.identity, sent.header, now=NOW)


def test_one_time_prekey_consumption_is_durable(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    sent = _sent_with_prekey(store, 2)
    assert x3dh.respond(store.identity, sent.header, now=NOW).shared_key == sent.shared_key
    store.close()
    _assert_reopened_refuses(tmp_path / "bob", sent, [1, 3])


def test_consumed_record_wins_over_stale_key_file(tmp_path: Path) -> None:
    """A crash between the SQLite commit and the key file rewrite cannot revive an OPK."""
    store = make_store(tmp_path)
    stale = (tmp_path / "bob" / KEY_FILE).read_bytes()
    sent = _sent_with_prekey(store, 1)
    x3dh.respond(store.identity, sent.header, now=NOW)
    store.close()
    (tmp_path / "bob" / KEY_FILE).write_bytes(stale)
    _assert_reopened_refuses(tmp_path / "bob", sent, [2, 3])


def test_replay_guard_and_pins_are_durable(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.identity.replay_guard is store.replay_guard
    assert not store.replay_guard.seen(b"k" * 16, b"msg")
    assert not store.replay_guard.seen(b"k" * 16, b"msg")  # a look-up records nothing
    store.replay_guard.accept(b"k" * 16, b"msg", NOW + 10, now=NOW)
    assert store.replay_guard.seen(b"k" * 16, b"msg")
    assert not store.replay_guard.seen(b"j" * 16, b"msg")
    peer = Identity.generate("carol", one_time_prekeys=0)
    store.trust_store.check(peer.bundle())
    store.close()
    with KeyStore.open(tmp_path / "bob", passphrase=PASS) as again:
        assert again.replay_guard.seen(b"k" * 16, b"msg")
        with pytest.raises(errors.ReplayError):
            again.identity.replay_guard.accept(b"k" * 16, b"msg", NOW + 10, now=NOW + 1)
        impostor = Identity.generate("carol", one_time_prekeys=0)
        with pytest.raises(errors.IdentityChangedError):
            again.trust_store.check(impostor.bundle())
        again.trust_store.accept(impostor.bundle())
    with KeyStore.open(tmp_path / "bob", passphrase=PASS) as third:
        assert third.trust_store.is_trusted(impostor.bundle())


def test_rotation_and_replenish_persist(tmp_path: Path) -> None:
    store = make_store(tmp_path, opks=1)
    store.identity.rotate_signed_prekey(grace_period=100, now=NOW + 10)
    store.identity.replenish_one_time_prekeys(4)
    bundle = store.identity.bundle()
    store.close()
    with KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW + 20) as again:
        assert again.identity.bundle() == bundle
        assert sorted(again.identity._state.signed_prekeys) == [1, 2]
        assert again.identity.purge_expired(now=NOW + 200) == 2  # signed + PQ last-resort
    with KeyStore.open(tmp_path / "bob", passphrase=PASS) as third:
        assert sorted(third.identity._state.signed_prekeys) == [2]


WRITER = textwrap.dedent(
    """
    import sys
    from sealpack import x3dh
    from sealpack.keys import Identity, KeyStore
    store = KeyStore.open(sys.argv[1], passphrase=b"pw")
    alice = Identity.generate("alice", one_time_prekeys=0)
    print("ready", flush=True)
    step = 0
    while True:
        step += 1
        store.identity.replenish_one_time_prekeys(2)
        opk = store.identity.one_time_prekey_ids()[0]
        bundle = store.identity.bundle()
        pq = bundle.pq_prekey.id
        sent = x3dh.initiate(alice, bundle, one_time_prekey_id=opk, pq_prekey_id=pq)
        x3dh.respond(store.identity, sent.header)
        store.replay_guard.accept(b"s" * 16, step.to_bytes(8, "big"), 2**40, now=0)
        if step % 3 == 0:
            store.identity.rotate_signed_prekey(grace_period=3600)
    """
)


def test_crash_during_writes_leaves_a_consistent_store(tmp_path: Path) -> None:
    identity = Identity.generate("bob", one_time_prekeys=2)
    KeyStore.create(tmp_path / "bob", identity, passphrase=b"pw", scrypt_n=FAST).close()
    chance = random.Random(1234)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for _ in range(4):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path / "bob")],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(chance.uniform(0.02, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        with KeyStore.open(tmp_path / "bob", passphrase=b"pw") as store:
            _check_consistent(store)


def _check_consistent(store: KeyStore) -> None:
    consumed = store._state.consumed_one_time_prekeys()
    ids = store.identity.one_time_prekey_ids()
    assert ids and not consumed & set(ids)
    bundle = store.identity.bundle()  # verifies every signature and point
    assert bundle.identity_key == store.identity.public_identity_key
    alice = Identity.generate("alice", one_time_prekeys=0)
    sent = x3dh.initiate(
        alice, bundle, one_time_prekey_id=ids[-1], pq_prekey_id=bundle.pq_prekey.id
    )
    assert x3dh.respond(store.identity, sent.header).shared_key == sent.shared_key
    assert not list(store.path.glob(".*.tmp"))


def test_interrupted_create_recovers_and_a_deleted_state_db_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "bob"
    directory.mkdir(mode=0o700)
    (directory / STATE_FILE).write_bytes(b"")  # a create that died before the key file
    store = make_store(tmp_path)
    store.close()
    assert stat.S_IMODE((directory / STATE_FILE).stat().st_mode) == 0o600
    with KeyStore.open(directory, passphrase=PASS) as again:
        assert again.identity.one_time_prekey_ids() == [1, 2, 3]
    (directory / STATE_FILE).unlink()  # wipes replay memory and pins: refused (10.12)
    with pytest.raises(errors.KeyStoreError, match=r"lost its state\.db"):
        KeyStore.open(directory, passphrase=PASS)


def test_key_file_layout_read_independently(tmp_path: Path) -> None:
    """identity.key (version 2) decrypts per keys.md §6 with pyca directly."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    store = make_store(tmp_path)
    store.close()
    document = json.loads((tmp_path / "bob" / KEY_FILE).read_text())
    kdf = document["kdf"]
    salt, nonce = bytes.fromhex(kdf["salt"]), bytes.fromhex(document["nonce"])
    assert len(salt) == 16 and len(nonce) == 12
    key = Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(PASS)
    params = b"".join(v.to_bytes(4, "big") for v in (kdf["n"], kdf["r"], kdf["p"]))
    assert document["version"] == 2 and document["encryption"] == "scrypt-aes256gcm"
    aad = b"sealpack/keystore/v2\x00" + salt + params
    plain = AESGCM(key).decrypt(nonce, bytes.fromhex(document["ciphertext"]), aad)
    assert json.loads(plain)["name"] == "bob"
    assert json.loads(plain)["held_one_time_prekeys"] == []


def test_open_purges_retired_signed_prekeys(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.identity.rotate_signed_prekey(grace_period=100, now=NOW + 10)
    store.close()
    with KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW + 50) as again:
        assert sorted(again.identity._state.signed_prekeys) == [1, 2]  # still in grace
    with KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW + 110) as again:
        assert sorted(again.identity._state.signed_prekeys) == [2]
    with KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW + 110) as again:
        assert sorted(again.identity._state.signed_prekeys) == [2]  # the purge was saved


def test_open_warns_when_the_signed_prekey_ages(tmp_path: Path) -> None:
    import warnings

    make_store(tmp_path).close()
    lifetime = 30 * 86400
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # young prekey: no warning at all
        KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW + lifetime // 2).close()
    with pytest.warns(UserWarning, match=r"expires in .*sealpack prekeys rotate"):
        KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW + lifetime * 81 // 100).close()
    with pytest.warns(UserWarning, match=r"EXPIRED.*sealpack prekeys rotate"):
        KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW + lifetime).close()
    with KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW + lifetime) as store:
        store.identity.rotate_signed_prekey(now=NOW + lifetime)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rotated: quiet again
        KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW + lifetime + 1).close()
