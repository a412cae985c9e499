"""The small-message fast paths (issue 18) keep their behaviour: cached key objects,
cached ML-KEM public keys, the replay guard's lazy purge, the one-chunk seal and open."""

from __future__ import annotations

import hashlib
import pickle

import pytest

from sealpack import errors, primitives, primitives_kem
from sealpack.envelope import agreement, opener, parallel, randomness, sealer
from sealpack.envelope import header as hdr
from sealpack.envelope.opened import OpenOptions
from sealpack.envelope.senders import sender_resolver
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


def _counter_rng() -> primitives.Rng:
    """A deterministic rng (a fresh one per seal gives the same draws in the same order)."""
    state = {"n": 0}

    def rng(n: int) -> bytes:
        state["n"] += 1
        return hashlib.shake_256(state["n"].to_bytes(8, "big")).digest(n)

    return rng


@pytest.mark.parametrize(
    "pieces",
    [[b""], [b"x" * 1000], [b"ab", bytearray(b"cd"), memoryview(b"ef" * 300)], [b"z" * 1023]],
)
def test_one_chunk_blob_is_byte_for_byte_the_blob_of_the_general_path(
    pieces: list[bytes],
) -> None:
    alice = Identity.generate("alice", one_time_prekeys=0, post_quantum=False, now=1000)
    bob = Identity.generate("bob", one_time_prekeys=0, post_quantum=False, now=1000)
    options = sealer.SealOptions(chunk_size=1024, allow_classical=True)
    kwargs = {"sender": alice, "recipients": [bob.bundle()], "options": options, "now": 2000}
    with randomness.reproducible_for_vectors():  # the same draws twice, on purpose
        fast = sealer.seal_bytes(pieces, rng=_counter_rng(), **kwargs)  # type: ignore[arg-type]
        general = sealer.seal_buffers(pieces, rng=_counter_rng(), **kwargs)  # type: ignore[arg-type]
    assert fast == bytes(general)
    assert type(fast) is bytes
    plaintext, _ = opener.open_buffer(
        fast,
        recipient=bob,
        resolve_sender=sender_resolver([alice.bundle()]),
        options=OpenOptions(now=2000),
    )
    assert plaintext == b"".join(pieces)


def test_one_chunk_open_reports_progress_once_and_refuses_a_flipped_tag() -> None:
    alice = Identity.generate("alice", one_time_prekeys=0)
    bob = Identity.generate("bob", one_time_prekeys=0)
    blob = sealer.seal_bytes([b"p" * 100], sender=alice, recipients=[bob.bundle()])
    seen: list[tuple[int, int]] = []
    resolve = sender_resolver([alice.bundle()])
    plaintext, _ = opener.open_buffer(
        blob,
        recipient=bob,
        resolve_sender=resolve,
        options=OpenOptions(progress=lambda done, total: seen.append((done, total))),
    )
    assert plaintext == b"p" * 100 and seen == [(100, 100)]
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    payload = memoryview(bytearray(blob[header.header_length : -hdr.SIGNATURE_SIZE]))
    decryptor = opener.unlock(header, bob, payload[:56], OpenOptions())
    payload[-1] ^= 1  # the only chunk's tag
    with pytest.raises(errors.TamperedError):
        parallel.decrypt_chunks(decryptor, payload, memoryview(bytearray(100)))
