"""Identity: generation, determinism, rotation, replenishment, PQ prekeys, signing."""

from __future__ import annotations

import pytest

from sealpack import errors, primitives
from sealpack.keys import Identity, KeyBundle, SignedPrekeyPublic, verify_app_signature
from sealpack.keys.prekeys import signed_prekey_message

NOW = 1_700_000_000


def counter_rng() -> primitives.Rng:
    state = {"n": 0}

    def rng(n: int) -> bytes:
        state["n"] += 1
        return primitives.sha512(state["n"].to_bytes(4, "big"))[:n]

    return rng


def test_generation_is_deterministic_with_rng() -> None:
    first = Identity.generate(
        "alice", one_time_prekeys=3, pq_one_time_prekeys=2, rng=counter_rng(), now=NOW
    )
    second = Identity.generate(
        "alice", one_time_prekeys=3, pq_one_time_prekeys=2, rng=counter_rng(), now=NOW
    )
    assert first.bundle() == second.bundle()
    assert first.bundle().signed_prekey.created == NOW
    assert first.bundle().signed_prekey.expires == NOW + 30 * 86400
    assert [p.id for p in first.bundle().one_time_prekeys] == [1, 2, 3]
    assert first.bundle().pq_prekey is not None and first.bundle().pq_prekey.id == 1
    assert [p.id for p in first.bundle().pq_one_time_prekeys] == [2, 3]


def test_randomness_order_is_the_documented_one() -> None:
    """seed (32), SPK (32), PQ last-resort seed (64), OPKs (32 each), PQ OPK seeds (64 each)."""
    drawn: list[int] = []
    rng = counter_rng()

    def recording(n: int) -> bytes:
        drawn.append(n)
        return rng(n)

    identity = Identity.generate(
        "alice", one_time_prekeys=2, pq_one_time_prekeys=1, rng=recording, now=NOW
    )
    assert drawn == [32, 32, 64, 32, 32, 64]
    replay = counter_rng()
    seed, spk, pq = replay(32), replay(32), replay(64)
    bundle = identity.bundle()
    assert bundle.identity_key == primitives.ed25519_public_from_seed(seed)
    assert bundle.signed_prekey.public == primitives.x25519_public_from_private(spk)
    assert bundle.pq_prekey is not None
    assert bundle.pq_prekey.public == primitives.mlkem768_public_from_seed(pq)
    drawn.clear()
    identity.rotate_signed_prekey(rng=recording, now=NOW + 1)
    assert drawn == [32, 64]


def test_classical_identity() -> None:
    identity = Identity.generate("carol", one_time_prekeys=1, post_quantum=False, now=NOW)
    assert not identity.post_quantum and identity.pq_prekey_id is None
    assert identity.bundle().pq_prekey is None
    with pytest.raises(errors.KeyStoreError):
        identity.replenish_pq_one_time_prekeys(1)
    with pytest.raises(errors.KeyStoreError):
        Identity.generate("carol", post_quantum=False, pq_one_time_prekeys=1)
    identity.enable_post_quantum(now=NOW + 1)
    bundle = identity.bundle()
    assert identity.post_quantum and bundle.pq_prekey is not None
    assert bundle.pq_prekey.id == identity.pq_prekey_id == 1
    # the signed prekey's signature now covers has_pq_prekey = 1: stripping is refused
    with pytest.raises(errors.BundleError, match="removed"):
        KeyBundle("carol", bundle.identity_key, bundle.signed_prekey, bundle.one_time_prekeys)


def test_pq_one_time_prekeys_replenish_and_consume() -> None:
    identity = Identity.generate("bob", one_time_prekeys=1, pq_one_time_prekeys=2, now=NOW)
    assert identity.pq_one_time_prekey_ids() == [2, 3]
    identity._consume_prekeys(1, 3)
    assert identity.one_time_prekey_ids() == [] and identity.pq_one_time_prekey_ids() == [2]
    with pytest.raises(errors.PrekeyError):
        identity._consume_prekeys(None, 3)
    with pytest.raises(errors.PrekeyError):  # nothing consumed when one of the two is gone
        identity._consume_prekeys(1, 2)
    assert identity.pq_one_time_prekey_ids() == [2]
    identity.replenish_pq_one_time_prekeys(2)
    assert identity.pq_one_time_prekey_ids() == [2, 4, 5]  # never reused ids
    assert [p.id for p in identity.bundle().pq_one_time_prekeys] == [2, 4, 5]
    with pytest.raises(errors.KeyStoreError):
        identity.replenish_pq_one_time_prekeys(1000)


def test_times_stay_below_2_to_the_40() -> None:
    with pytest.raises(errors.KeyStoreError, match="2\\*\\*40"):
        Identity.generate("a", one_time_prekeys=0, now=2**40 - 10)


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
    assert before.pq_prekey is not None and after.pq_prekey is not None
    assert after.pq_prekey.id == before.pq_prekey.id + 1
    assert after.pq_prekey.public != before.pq_prekey.public
    assert after.pq_prekey.created == NOW + 100
    with pytest.raises(errors.KeyStoreError):
        identity.rotate_signed_prekey(grace_period=-1)


def test_owner_deletes_expired_prekeys() -> None:
    identity = Identity.generate("bob", one_time_prekeys=0, now=NOW)
    identity.rotate_signed_prekey(grace_period=0, now=NOW + 1)
    assert sorted(identity._state.signed_prekeys) == [2]
    assert sorted(identity._state.pq_prekeys) == [2]
    with pytest.raises(errors.PrekeyError):
        identity._signed_prekey_secret(1, NOW + 1)
    with pytest.raises(errors.PrekeyError):
        identity._pq_prekey_secret(1, NOW + 1)


def test_pq_prekey_grace_period_follows_the_signed_prekey() -> None:
    identity = Identity.generate("bob", one_time_prekeys=0, now=NOW)
    identity.rotate_signed_prekey(grace_period=100, now=NOW + 10)
    identity._pq_prekey_secret(1, NOW + 109)
    identity._signed_prekey_secret(1, NOW + 109)
    with pytest.raises(errors.PrekeyError):
        identity._pq_prekey_secret(1, NOW + 110)
    assert identity.purge_expired(now=NOW + 110) == 2


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "é", "a" * 65, None])
def test_bad_names(name: object) -> None:
    with pytest.raises(errors.KeyStoreError):
        Identity.generate(name, one_time_prekeys=0)  # type: ignore[arg-type]


def test_bad_lifetime() -> None:
    with pytest.raises(errors.KeyStoreError):
        Identity.generate("a", one_time_prekeys=0, signed_prekey_lifetime=0)


def test_sign_and_key_id() -> None:
    identity = Identity.generate("carol", one_time_prekeys=0)
    assert identity.bundle().verify(b"m", identity.sign(b"m", purpose="x"), purpose="x")
    expected = primitives.sha256(b"sealpack/key-id/v1" + identity.public_identity_key)[:16]
    assert identity.key_id == expected


def test_sign_is_domain_separated() -> None:
    """Issue 10.4: an application signature never covers raw bytes of its choosing."""
    identity = Identity.generate("carol", one_time_prekeys=0, now=NOW)
    bundle = identity.bundle()
    # What an attacker would ask an application to sign: the exact bytes of a signed
    # prekey encoding (here, a prekey the attacker controls, under carol's name).
    spk = bundle.signed_prekey
    forged_public = primitives.x25519_public_from_private(bytes(range(32)))
    wanted = signed_prekey_message("carol", 9, forged_public, spk.created, spk.expires, True)
    signature = identity.sign(wanted, purpose="chat")
    assert not primitives.ed25519_verify(identity.public_identity_key, signature, wanted)
    expected = b"sealpack/v2/app/chat\x00" + wanted
    assert primitives.ed25519_verify(identity.public_identity_key, signature, expected)
    assert verify_app_signature(identity.public_identity_key, wanted, signature, purpose="chat")
    assert not verify_app_signature(identity.public_identity_key, wanted, signature, purpose="ch")
    forged = SignedPrekeyPublic(9, forged_public, spk.created, spk.expires, signature)
    with pytest.raises(errors.BundleError):
        KeyBundle("carol", bundle.identity_key, forged, (), bundle.pq_prekey)
    for purpose in ("", "a\x00b", "-x", "a" * 65, None, "é"):
        with pytest.raises(errors.SealArgumentError):
            identity.sign(b"m", purpose=purpose)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        identity.sign(b"m")  # type: ignore[call-arg]


def test_internal_signing_needs_a_sealpack_label() -> None:
    identity = Identity.generate("carol", one_time_prekeys=0, now=NOW)
    identity._sign_envelope(b"sealpack/v2/signature\x00header")
    for message in (b"raw bytes", b"sealpack/v2/app/x\x00m"):
        with pytest.raises(errors.SealArgumentError):
            identity._sign_envelope(message)


def test_a_held_one_time_prekey_is_listed_apart_until_acknowledged() -> None:
    import sealpack

    alice = Identity.generate("alice", one_time_prekeys=0)
    bob = Identity.generate("bob", one_time_prekeys=2)
    first = bob.one_time_prekey_ids()[0]
    blob = sealpack.seal(b"x", sender=alice, recipients=[bob.bundle()])
    _, info = sealpack.unseal(
        blob, recipient=bob, senders=[alice.bundle()], hold=True, with_metadata=True
    )
    assert bob.held_one_time_prekey_ids() == [first]
    assert first not in bob.one_time_prekey_ids()
    sealpack.acknowledge(bob, info)
    assert bob.held_one_time_prekey_ids() == []
