"""PQXDH (X25519 + ML-KEM-768): vectors, round trips, one-time PQ prekeys, downgrades,
malformed KEM input, and an adversary that breaks X25519."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealpack import errors, primitives, x3dh
from sealpack.keys import Identity
from tests.conftest import VECTORS_DIR, feeder, load_vectors, vector_tests

NOW = 1_700_000_000
OTHER_KEM_SEED = primitives.sha512(b"an unused last-resort PQ prekey")


def test_vector_file_shape() -> None:
    data = load_vectors("pqxdh.json")
    assert bytes.fromhex(data["info"]) == x3dh.PQ_INFO == b"sealpack_CURVE25519_SHA-256_ML-KEM-768"
    tests = vector_tests("pqxdh.json")
    assert data["numberOfTests"] == len(tests) >= 10
    assert len({t["tcId"] for t in tests}) == len(tests)
    flags = {flag for t in tests for flag in t["flags"]}
    assert flags >= {"WithOPK", "NoOPK", "PQOneTime", "PQLastResort"}
    assert flags >= {"wrong_ct", "ss_first", "drop_dh4"}
    assert {t["result"] for t in tests} == {"valid", "invalid"}
    assert all(t["comment"] for t in tests)


def test_generator_reproduces_the_committed_file() -> None:
    path = VECTORS_DIR / "tools" / "gen_pqxdh.py"
    spec = importlib.util.spec_from_file_location("sealpack_vectors_gen_pqxdh", path)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.render(generator.build()) == (VECTORS_DIR / "pqxdh.json").read_text()


def _dh(private: bytes, public_of: bytes) -> bytes:
    peer = X25519PrivateKey.from_private_bytes(public_of).public_key()
    return X25519PrivateKey.from_private_bytes(private).exchange(peer)


@pytest.mark.parametrize("case", vector_tests("pqxdh.json"), ids=lambda t: f"tc{t['tcId']}")
def test_vectors_independently(case: dict[str, Any]) -> None:
    """Pure formulas of keys.md section 4 with pyca/cryptography (no sealpack code)."""
    h = bytes.fromhex
    kem = MLKEM768PrivateKey.from_seed_bytes(h(case["pqpkb_seed"]))
    assert kem.public_key().public_bytes_raw() == h(case["pqpkb_pub"])
    shared = kem.decapsulate(h(case["kem_ct"]))
    assert (shared == h(case["kem_ss"])) is ("wrong_ct" not in case["flags"])
    ika, ikb, spkb, eka = (h(case[k]) for k in ("ika_priv", "ikb_priv", "spkb_priv", "eka_priv"))
    outputs = [_dh(ika, spkb), _dh(eka, ikb), _dh(eka, spkb)]
    if case["opkb_priv"] is not None:
        outputs.append(_dh(eka, h(case["opkb_priv"])))
    ikm = b"\xff" * 32 + b"".join(outputs) + shared
    info = b"sealpack_CURVE25519_SHA-256_ML-KEM-768"
    sk = HKDF(algorithm=hashes.SHA256(), length=32, salt=bytes(32), info=info).derive(ikm)
    assert (sk == h(case["sk"])) is (case["result"] == "valid")
    encode = [
        X25519PrivateKey.from_private_bytes(k).public_key().public_bytes_raw() for k in (ika, ikb)
    ]
    assert encode[0] + encode[1] + h(case["context"]) == h(case["ad"])


def _bob_from_vector(case: dict[str, Any]) -> tuple[Identity, int]:
    """Bob's identity rebuilt from the vector's keys, and the PQ prekey id to use."""
    h = bytes.fromhex
    one_time = case["pqpkb_kind"] == "one-time"
    opk = case["opkb_priv"]
    last_resort = OTHER_KEM_SEED if one_time else h(case["pqpkb_seed"])
    chunks = [h(case["ikb_seed"]), h(case["spkb_priv"]), last_resort]
    chunks += [h(opk)] if opk else []
    chunks += [h(case["pqpkb_seed"])] if one_time else []
    bob = Identity.generate(
        "bob",
        one_time_prekeys=1 if opk else 0,
        pq_one_time_prekeys=1 if one_time else 0,
        now=NOW,
        rng=feeder(chunks),
    )
    return bob, 2 if one_time else 1


@pytest.mark.parametrize("case", vector_tests("pqxdh.json"), ids=lambda t: f"tc{t['tcId']}")
def test_vectors_through_sealpack_x3dh(case: dict[str, Any]) -> None:
    h = bytes.fromhex
    bob, pq_id = _bob_from_vector(case)
    assert primitives.ed25519_seed_to_x25519_private(h(case["ikb_seed"])) == h(case["ikb_priv"])
    header = x3dh.X3DHHeader(
        identity_key=primitives.ed25519_public_from_seed(h(case["ika_seed"])),
        ephemeral_key=primitives.x25519_public_from_private(h(case["eka_priv"])),
        signed_prekey_id=1,
        one_time_prekey_id=None if case["opkb_priv"] is None else 1,
        pq_prekey_id=pq_id,
        kem_ciphertext=h(case["kem_ct"]),
    )
    got = x3dh.respond(bob, header, context=h(case["context"]), now=NOW)
    assert got.associated_data == h(case["ad"])
    assert (got.shared_key == h(case["sk"])) is (case["result"] == "valid")
    one_time = case["pqpkb_kind"] == "one-time"
    assert got.one_time_prekeys == (header.one_time_prekey_id, pq_id if one_time else None)


@pytest.fixture
def pair() -> tuple[Identity, Identity]:
    return (
        Identity.generate("alice", one_time_prekeys=0, now=NOW),
        Identity.generate("bob", one_time_prekeys=3, pq_one_time_prekeys=3, now=NOW),
    )


@pytest.mark.parametrize("use_opk", [True, False])
@pytest.mark.parametrize("pq_one_time", [True, False])
def test_hybrid_round_trip(
    pair: tuple[Identity, Identity], use_opk: bool, pq_one_time: bool
) -> None:
    alice, bob = pair
    bundle = bob.bundle()
    assert bundle.pq_prekey is not None
    pq_id = bundle.pq_one_time_prekeys[0].id if pq_one_time else bundle.pq_prekey.id
    opk_id = 1 if use_opk else None
    sent = x3dh.initiate(
        alice, bundle, one_time_prekey_id=opk_id, pq_prekey_id=pq_id, context=b"c", now=NOW
    )
    assert sent.header.pq_prekey_id == pq_id
    assert sent.header.kem_ciphertext is not None and len(sent.header.kem_ciphertext) == 1088
    expected_used = (opk_id, pq_id if pq_one_time else None)
    assert sent.one_time_prekeys == expected_used
    got = x3dh.respond(bob, sent.header, context=b"c", now=NOW)
    assert got.shared_key == sent.shared_key and got.associated_data == sent.associated_data
    assert got.one_time_prekeys == expected_used
    assert (1 in bob.one_time_prekey_ids()) is not use_opk
    assert bob.pq_one_time_prekey_ids() == ([3, 4] if pq_one_time else [2, 3, 4])
    assert sent.shared_key.hex() not in repr(sent)


def test_pq_one_time_prekey_is_used_once(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    bundle = bob.bundle()
    pq_id = bundle.pq_one_time_prekeys[1].id
    sent = x3dh.initiate(alice, bundle, one_time_prekey_id=None, pq_prekey_id=pq_id, now=NOW)
    x3dh.respond(bob, sent.header, now=NOW)
    assert pq_id not in [p.id for p in bob.bundle().pq_one_time_prekeys]
    with pytest.raises(errors.PrekeyError):
        x3dh.respond(bob, sent.header, now=NOW)


def test_last_resort_prekey_is_not_consumed(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    bundle = bob.bundle()
    assert bundle.pq_prekey is not None
    sent = x3dh.initiate(
        alice, bundle, one_time_prekey_id=None, pq_prekey_id=bundle.pq_prekey.id, now=NOW
    )
    first = x3dh.respond(bob, sent.header, now=NOW)
    again = x3dh.respond(bob, sent.header, now=NOW)
    assert first.shared_key == again.shared_key == sent.shared_key
    assert first.one_time_prekeys == (None, None)


def test_consume_false_deletes_nothing_and_names_what_to_commit(
    pair: tuple[Identity, Identity],
) -> None:
    alice, bob = pair
    bundle = bob.bundle()
    pq_id = bundle.pq_one_time_prekeys[0].id
    sent = x3dh.initiate(alice, bundle, one_time_prekey_id=2, pq_prekey_id=pq_id, now=NOW)
    before = (bob.one_time_prekey_ids(), bob.pq_one_time_prekey_ids(), bob.bundle())
    for _ in range(2):
        got = x3dh.respond(bob, sent.header, now=NOW, consume=False)
        assert got.shared_key == sent.shared_key
        assert got.one_time_prekeys == (2, pq_id)
    assert (bob.one_time_prekey_ids(), bob.pq_one_time_prekey_ids(), bob.bundle()) == before
    bob._consume_prekeys(*got.one_time_prekeys)
    assert 2 not in bob.one_time_prekey_ids() and pq_id not in bob.pq_one_time_prekey_ids()
    with pytest.raises(errors.PrekeyError):
        x3dh.respond(bob, sent.header, now=NOW, consume=False)


def test_sender_refuses_classical_to_a_hybrid_bundle(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    with pytest.raises(errors.DowngradeError, match="post-quantum"):
        x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=1, pq_prekey_id=None, now=NOW)


def test_recipient_refuses_a_header_without_the_kem_part(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    bundle = bob.bundle()
    assert bundle.pq_prekey is not None
    sent = x3dh.initiate(
        alice, bundle, one_time_prekey_id=1, pq_prekey_id=bundle.pq_prekey.id, now=NOW
    )
    header = sent.header
    stripped = [
        x3dh.X3DHHeader(header.identity_key, header.ephemeral_key, 1, 1),
        x3dh.X3DHHeader(header.identity_key, header.ephemeral_key, 1, 1, header.pq_prekey_id),
        x3dh.X3DHHeader(
            header.identity_key, header.ephemeral_key, 1, 1, None, header.kem_ciphertext
        ),
    ]
    for attempt in stripped:
        with pytest.raises(errors.DowngradeError):
            x3dh.respond(bob, attempt, now=NOW)
    assert 1 in bob.one_time_prekey_ids()  # nothing burnt by the refused attempts


def test_classical_recipient_still_works_and_refuses_stray_kem_fields() -> None:
    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    carol = Identity.generate("carol", one_time_prekeys=1, post_quantum=False, now=NOW)
    sent = x3dh.initiate(alice, carol.bundle(), one_time_prekey_id=1, pq_prekey_id=None, now=NOW)
    assert sent.header.kem_ciphertext is None and sent.header.pq_prekey_id is None
    header = sent.header
    for stray in (
        x3dh.X3DHHeader(header.identity_key, header.ephemeral_key, 1, 1, None, bytes(1088)),
        x3dh.X3DHHeader(header.identity_key, header.ephemeral_key, 1, 1, 1, None),
    ):
        with pytest.raises(errors.TamperedError):
            x3dh.respond(carol, stray, now=NOW)
    assert x3dh.respond(carol, header, now=NOW).shared_key == sent.shared_key
    with pytest.raises(errors.PrekeyError):
        x3dh.initiate(alice, carol.bundle(), one_time_prekey_id=None, pq_prekey_id=1, now=NOW)


@pytest.mark.parametrize(
    "ciphertext", [b"", bytes(1087), bytes(1089), "not bytes", bytearray(1088)], ids=repr
)
def test_malformed_kem_ciphertext_is_tampering(
    pair: tuple[Identity, Identity], ciphertext: object
) -> None:
    alice, bob = pair
    bundle = bob.bundle()
    assert bundle.pq_prekey is not None
    sent = x3dh.initiate(
        alice, bundle, one_time_prekey_id=1, pq_prekey_id=bundle.pq_prekey.id, now=NOW
    )
    h = sent.header
    bad = x3dh.X3DHHeader(h.identity_key, h.ephemeral_key, 1, 1, h.pq_prekey_id, ciphertext)  # type: ignore[arg-type]
    with pytest.raises(errors.TamperedError):
        x3dh.respond(bob, bad, now=NOW)
    assert 1 in bob.one_time_prekey_ids()


def test_wrong_kem_ciphertext_gives_another_key(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    bundle = bob.bundle()
    assert bundle.pq_prekey is not None
    sent = x3dh.initiate(
        alice, bundle, one_time_prekey_id=None, pq_prekey_id=bundle.pq_prekey.id, now=NOW
    )
    h = sent.header
    assert h.kem_ciphertext is not None
    flipped = bytes([h.kem_ciphertext[0] ^ 1]) + h.kem_ciphertext[1:]
    bad = x3dh.X3DHHeader(h.identity_key, h.ephemeral_key, 1, None, h.pq_prekey_id, flipped)
    assert x3dh.respond(bob, bad, now=NOW).shared_key != sent.shared_key


def test_unknown_or_retired_pq_prekeys(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    for bad_id in (99, True, "1"):
        with pytest.raises(errors.PrekeyError):
            x3dh.initiate(
                alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=bad_id, now=NOW
            )
    bundle = bob.bundle()
    assert bundle.pq_prekey is not None
    sent = x3dh.initiate(
        alice, bundle, one_time_prekey_id=None, pq_prekey_id=bundle.pq_prekey.id, now=NOW
    )
    h = sent.header
    unknown = x3dh.X3DHHeader(h.identity_key, h.ephemeral_key, 1, None, 99, h.kem_ciphertext)
    with pytest.raises(errors.PrekeyError):
        x3dh.respond(bob, unknown, now=NOW)
    bob.rotate_signed_prekey(grace_period=100, now=NOW + 10)
    assert x3dh.respond(bob, h, now=NOW + 109).shared_key == sent.shared_key
    with pytest.raises(errors.PrekeyError):
        x3dh.respond(bob, h, now=NOW + 110)


def test_an_adversary_that_breaks_x25519_cannot_derive_sk() -> None:
    """Hand the adversary every X25519 private key of the exchange (what a quantum
    computer would recover from the public keys): without the ML-KEM secret it cannot
    derive SK under any KDF input it could form; with it, it can (the model is right)."""
    seeds = [primitives.sha256(bytes([i])) for i in range(6)]
    kem_seed = primitives.sha512(b"bob pq")
    alice = Identity.generate(
        "alice", one_time_prekeys=0, post_quantum=False, now=NOW, rng=feeder(seeds[:2])
    )
    bob = Identity.generate(
        "bob", one_time_prekeys=1, now=NOW, rng=feeder([seeds[2], seeds[3], kem_seed, seeds[4]])
    )
    bundle = bob.bundle()
    assert bundle.pq_prekey is not None
    sent = x3dh.initiate(
        alice,
        bundle,
        one_time_prekey_id=1,
        pq_prekey_id=bundle.pq_prekey.id,
        rng=feeder([seeds[5]]),
        now=NOW,
    )
    # Everything classical, in the adversary's hands:
    ik_a = primitives.ed25519_seed_to_x25519_private(seeds[0])
    ik_b = primitives.ed25519_seed_to_x25519_private(seeds[2])
    spk_b, opk_b, ek_a = seeds[3], seeds[4], seeds[5]
    pub = primitives.x25519_public_from_private
    dhs = [
        primitives.x25519(ik_a, pub(spk_b)),
        primitives.x25519(ek_a, pub(ik_b)),
        primitives.x25519(ek_a, pub(spk_b)),
        primitives.x25519(ek_a, pub(opk_b)),
    ]
    assert primitives.x25519(ik_b, pub(ek_a)) == dhs[1]  # the keys are the real ones
    transcript = sent.header.kem_ciphertext
    assert transcript is not None
    guesses = [
        b"\xff" * 32 + b"".join(dhs),
        b"\xff" * 32 + b"".join(dhs) + bytes(32),
        b"\xff" * 32 + b"".join(dhs) + primitives.sha256(transcript),
        b"\xff" * 32 + b"".join(dhs) + transcript,
    ]
    for ikm in guesses:
        for info in (x3dh.INFO, x3dh.PQ_INFO):
            guess = primitives.hkdf_sha256(ikm, salt=bytes(32), info=info, length=32)
            assert guess != sent.shared_key
    shared = primitives.mlkem768_decapsulate(
        primitives.mlkem768_private_from_seed(kem_seed), transcript
    )
    assert x3dh.derive_shared_key(dhs, shared) == sent.shared_key


def test_kem_secret_handle_is_opaque(pair: tuple[Identity, Identity]) -> None:
    _, bob = pair
    secret, one_time = bob._pq_prekey_secret(1, NOW)
    assert not one_time
    assert "hidden" in repr(secret)
    with pytest.raises(errors.PrivateKeyExportError):
        import pickle

        pickle.dumps(secret)
