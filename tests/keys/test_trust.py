"""Fingerprints, trust on first use, and the in-memory replay guard."""

from __future__ import annotations

import re

import pytest

from sealpack import errors
from sealpack.keys import Identity, MemoryReplayGuard, ReplayGuard, TrustStore, fingerprint
from sealpack.keys.fingerprint import FINGERPRINT_ITERATIONS
from sealpack.primitives import sha512

NOW = 1_700_000_000


def test_fingerprint_format_and_stability() -> None:
    identity = Identity.generate("alice", one_time_prekeys=0)
    value = identity.fingerprint()
    assert re.fullmatch(r"\d{5}( \d{5}){11}", value)
    assert value == identity.bundle().fingerprint() == fingerprint(identity.public_identity_key)
    other = Identity.generate("alice", one_time_prekeys=0)
    assert other.fingerprint() != value


def test_fingerprint_construction_matches_documentation() -> None:
    key = bytes(range(32))
    state = sha512(b"sealpack/fingerprint/v1\x00" + key)
    for _ in range(FINGERPRINT_ITERATIONS):
        state = sha512(state + key)
    groups = [int.from_bytes(state[i * 5 : i * 5 + 5], "big") % 100000 for i in range(12)]
    assert fingerprint(key) == " ".join(f"{g:05d}" for g in groups)


def test_trust_on_first_use_then_alert() -> None:
    store = TrustStore()
    alice = Identity.generate("alice", one_time_prekeys=0)
    impostor = Identity.generate("alice", one_time_prekeys=0)
    assert store.check(alice.bundle()) == alice.bundle()
    assert store.pinned_key("alice") == alice.public_identity_key
    store.check(alice.bundle())  # same identity, new prekeys would be fine too
    with pytest.raises(errors.IdentityChangedError) as info:
        store.check(impostor.bundle())
    message = str(info.value)
    assert alice.fingerprint() in message and impostor.fingerprint() in message
    assert not store.is_trusted(impostor.bundle())
    store.accept(impostor.bundle())
    assert store.check(impostor.bundle()) == impostor.bundle()
    with pytest.raises(errors.IdentityChangedError):
        store.check(alice.bundle())
    assert store.names() == ["alice"]


def test_rotated_prekeys_keep_trust() -> None:
    store = TrustStore()
    bob = Identity.generate("bob", one_time_prekeys=1, now=NOW)
    store.check(bob.bundle())
    bob.rotate_signed_prekey(now=NOW + 5)
    bob.replenish_one_time_prekeys(2)
    assert store.check(bob.bundle()).signed_prekey.id == 2


def test_memory_replay_guard() -> None:
    guard = MemoryReplayGuard()
    assert isinstance(guard, ReplayGuard)
    guard.accept(b"s" * 16, b"m1", NOW + 100, now=NOW)
    guard.accept(b"t" * 16, b"m1", NOW + 100, now=NOW)  # other sender, same id
    with pytest.raises(errors.ReplayError):
        guard.accept(b"s" * 16, b"m1", NOW + 100, now=NOW + 50)
    # long after expiry the entry is purged (the envelope's expiry check covers it then)
    guard.accept(b"s" * 16, b"m1", NOW + 100, now=NOW + 100 + 2 * 86400)


def test_memory_replay_guard_seen_records_nothing() -> None:
    guard = MemoryReplayGuard()
    assert not guard.seen(b"s" * 16, b"m1")
    assert not guard.seen(b"s" * 16, b"m1")  # asking twice does not record
    guard.accept(b"s" * 16, b"m1", NOW + 100, now=NOW)
    assert guard.seen(b"s" * 16, b"m1")
    assert guard.seen(bytearray(b"s" * 16), memoryview(b"m1"))
    assert not guard.seen(b"t" * 16, b"m1")
    assert not guard.seen(b"s" * 16, b"m2")
