"""The small-message fast paths (issue 18) keep their behaviour: cached key objects,
cached ML-KEM public keys, the replay guard's lazy purge."""

from __future__ import annotations

import pickle

import pytest

from sealpack import errors, primitives, primitives_kem
from sealpack.envelope import agreement, sealer
from sealpack.envelope import header as hdr
from sealpack.keys import Identity, MemoryReplayGuard
from sealpack.keys.fingerprint import KEY_ID_DOMAIN, key_id
from sealpack.keys.replay import RETENTION_SLACK
from sealpack.keys.secret import Ed25519Seed, PrivateKeyExportError, X25519Secret

RAW = bytes(range(1, 33))
PEER = primitives.x25519_public_from_private(bytes(range(33, 65)))


def test_cached_x25519_object_gives_the_same_secret_and_stays_hidden() -> None:
    secret = X25519Secret(RAW)
    assert secret.public == primitives.x25519_public_from_private(RAW)
    assert secret.exchange(PEER) == primitives.x25519(RAW, PEER)
    assert secret.exchange(PEER) == secret.exchange(PEER)  # reusable object
    assert RAW.hex() not in repr(secret) and "object at" not in repr(secret)
    with pytest.raises(PrivateKeyExportError):
        pickle.dumps(secret)
    with pytest.raises(errors.TamperedError):
        secret.exchange(bytes(32))  # small-order peer: still refused


def test_cached_ed25519_object_signs_like_the_seed() -> None:
    seed = Ed25519Seed(RAW)
    message = b"issue 18"
    assert seed.public == primitives.ed25519_public_from_seed(RAW)
    assert seed.sign(message) == primitives.ed25519_sign(RAW, message)
    assert primitives.ed25519_verify(seed.public, seed.sign(message), message)
    with pytest.raises(PrivateKeyExportError):
        pickle.dumps(seed)


def test_ml_kem_public_key_is_parsed_once_and_bad_keys_are_never_cached() -> None:
    public = primitives.mlkem768_public_from_seed(bytes(64))
    assert primitives_kem._public_key(public) is primitives_kem._public_key(public)
    for bad in (public[:-1], bytearray(public), b"\xff" * len(public)):
        for _ in range(2):  # refused every time, not only the first
            assert not primitives.is_valid_mlkem768_public(bad)  # type: ignore[arg-type]


def test_lazy_purge_still_drops_stale_done_records_and_keeps_held_ones() -> None:
    guard = MemoryReplayGuard()
    guard.commit_open(b"s" * 16, b"done-old", b"", 100, hold=False, now=50)
    guard.commit_open(b"s" * 16, b"held-old", b"d" * 32, 100, hold=True, now=50)
    guard.commit_open(b"s" * 16, b"done-new", b"", 10_000_000, hold=False, now=50)
    assert guard.seen(b"s" * 16, b"done-old")
    later = 100 + RETENTION_SLACK + 1
    guard.commit_open(b"s" * 16, b"trigger", b"", 10_000_000, hold=False, now=later)
    assert not guard.seen(b"s" * 16, b"done-old")  # stale: dropped
    assert guard.seen(b"s" * 16, b"held-old")  # held: kept until acknowledged
    assert guard.seen(b"s" * 16, b"done-new")
    assert guard.acknowledge(b"s" * 16, b"held-old")
    guard.commit_open(b"s" * 16, b"trigger-2", b"", 10_000_000, hold=False, now=later + 1)
    assert not guard.seen(b"s" * 16, b"held-old")  # acknowledged, stale: dropped now


def test_stanza_look_up_by_key_id_finds_every_recipient_and_only_them() -> None:
    alice = Identity.generate("alice", one_time_prekeys=0)
    readers = [Identity.generate(f"r{i}", one_time_prekeys=0) for i in range(5)]
    blob = sealer.seal_buffers(
        [b"x" * 100],
        sender=alice,
        recipients=[r.bundle() for r in readers],
        options=sealer.SealOptions(one_time_prekey=False),
    )
    header = hdr.parse_header(memoryview(blob), hdr.EnvelopeLimits())
    assert len(header.stanza_index) == len(readers)
    for reader in readers:
        stanza = agreement.stanza_of(header, reader)
        assert stanza is header.stanza_index[reader.key_id]
        assert stanza.recipient_key_id == reader.key_id
    with pytest.raises(errors.NotARecipientError):
        agreement.stanza_of(header, alice)


def test_cached_key_id_is_the_same_for_every_bytes_form_and_refuses_non_bytes() -> None:
    key = bytes(range(32))
    expected = primitives.sha256(KEY_ID_DOMAIN + key)[:16]
    for form in (key, bytearray(key), memoryview(key), key):
        assert key_id(form) == expected
    for _ in range(2):
        with pytest.raises(errors.SealArgumentError):
            key_id("not bytes")  # type: ignore[arg-type]
