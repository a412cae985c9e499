"""Identity: generation, determinism, rotation and replenishment."""

from __future__ import annotations

import pytest

from sealpack import errors, primitives
from sealpack.keys import Identity

NOW = 1_700_000_000


def counter_rng() -> primitives.Rng:
    state = {"n": 0}

    def rng(n: int) -> bytes:
        state["n"] += 1
        return primitives.sha256(state["n"].to_bytes(4, "big"))[:n]

    return rng


def test_generation_is_deterministic_with_rng() -> None:
    first = Identity.generate("alice", one_time_prekeys=3, rng=counter_rng(), now=NOW)
    second = Identity.generate("alice", one_time_prekeys=3, rng=counter_rng(), now=NOW)
    assert first.bundle() == second.bundle()
    assert first.bundle().signed_prekey.created == NOW
    assert first.bundle().signed_prekey.expires == NOW + 30 * 86400
    assert [p.id for p in first.bundle().one_time_prekeys] == [1, 2, 3]


def test_identity_x25519_matches_bundle_encoding() -> None:
    identity = Identity.generate("alice", one_time_prekeys=0)
    assert identity._identity_secret().public == identity.bundle().identity_key_x25519


def test_replenish_uses_fresh_ids() -> None:
    identity = Identity.generate("bob", one_time_prekeys=2, now=NOW)
    identity._consume_one_time_prekey(2)
    identity.replenish_one_time_prekeys(2)
    assert identity.one_time_prekey_ids() == [1, 3, 4]
    assert len({p.public for p in identity.bundle().one_time_prekeys}) == 3
    with pytest.raises(errors.KeyStoreError):
        identity.replenish_one_time_prekeys(-1)
    with pytest.raises(errors.KeyStoreError):
        identity.replenish_one_time_prekeys(10_000)


def test_rotation_produces_new_signed_prekey() -> None:
    identity = Identity.generate("bob", one_time_prekeys=0, now=NOW)
    before = identity.bundle()
    identity.rotate_signed_prekey(now=NOW + 100)
    after = identity.bundle()
    assert after.signed_prekey.id == before.signed_prekey.id + 1
    assert after.signed_prekey.public != before.signed_prekey.public
    assert after.signed_prekey.created == NOW + 100
    assert after.identity_key == before.identity_key
    with pytest.raises(errors.KeyStoreError):
        identity.rotate_signed_prekey(grace_period=-1)


def test_owner_deletes_expired_prekeys() -> None:
    identity = Identity.generate("bob", one_time_prekeys=0, now=NOW)
    identity.rotate_signed_prekey(grace_period=0, now=NOW + 1)
    assert sorted(identity._state.signed_prekeys) == [2]
    with pytest.raises(errors.PrekeyError):
        identity._signed_prekey_secret(1, NOW + 1)


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "é", "a" * 65, None])
def test_bad_names(name: object) -> None:
    with pytest.raises(errors.KeyStoreError):
        Identity.generate(name, one_time_prekeys=0)  # type: ignore[arg-type]


def test_bad_lifetime() -> None:
    with pytest.raises(errors.KeyStoreError):
        Identity.generate("a", one_time_prekeys=0, signed_prekey_lifetime=0)


def test_sign_and_key_id() -> None:
    identity = Identity.generate("carol", one_time_prekeys=0)
    assert identity.bundle().verify(b"m", identity.sign(b"m"))
    expected = primitives.sha256(b"sealpack/key-id/v1" + identity.public_identity_key)[:16]
    assert identity.key_id == expected
