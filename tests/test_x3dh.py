"""Classical X3DH (recipients without a PQ prekey): vectors, agreement, prekeys, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors, primitives, x3dh
from sealpack.keys import Identity
from tests.conftest import feeder, load_vectors, vector_tests

NOW = 1_700_000_000


def test_vector_file_shape() -> None:
    data = load_vectors("x3dh.json")
    assert bytes.fromhex(data["info"]) == x3dh.INFO
    tests = vector_tests("x3dh.json")
    assert data["numberOfTests"] == len(tests) >= 8
    assert any(t["opkb_priv"] is None for t in tests)
    assert any(t["opkb_priv"] is not None for t in tests)
    invalid = [t for t in tests if t["result"] == "invalid"]
    assert len(invalid) >= 2 and all(t["comment"] for t in invalid)


@pytest.mark.parametrize("case", vector_tests("x3dh.json"), ids=lambda t: f"tc{t['tcId']}")
def test_vectors_rederived_through_x3dh(case: dict[str, str]) -> None:
    h = bytes.fromhex
    assert primitives.ed25519_seed_to_x25519_private(h(case["ika_seed"])) == h(case["ika_priv"])
    assert primitives.ed25519_seed_to_x25519_private(h(case["ikb_seed"])) == h(case["ikb_priv"])
    opk = case["opkb_priv"]
    alice = Identity.generate(
        "alice",
        one_time_prekeys=0,
        post_quantum=False,
        now=NOW,
        rng=feeder([h(case["ika_seed"]), bytes(32)]),
    )
    bob_chunks = [h(case["ikb_seed"]), h(case["spkb_priv"])] + ([h(opk)] if opk else [])
    bob = Identity.generate(
        "bob", post_quantum=False, one_time_prekeys=1 if opk else 0, now=NOW, rng=feeder(bob_chunks)
    )
    context = h(case["context"])
    sent = x3dh.initiate(
        alice,
        bob.bundle(),
        one_time_prekey_id=1 if opk else None,
        pq_prekey_id=None,
        context=context,
        rng=feeder([h(case["eka_priv"])]),
        now=NOW,
    )
    got = x3dh.respond(bob, sent.header, context=context, now=NOW)
    assert got.shared_key == sent.shared_key
    assert sent.associated_data == got.associated_data == h(case["ad"])
    matches = sent.shared_key == h(case["sk"])
    assert matches is (case["result"] == "valid")


@pytest.fixture(scope="module")
def pair() -> tuple[Identity, Identity]:
    return (
        Identity.generate("alice", post_quantum=False, one_time_prekeys=0, now=NOW),
        Identity.generate("bob", post_quantum=False, one_time_prekeys=60, now=NOW),
    )


@given(context=st.binary(max_size=64), use_opk=st.booleans())
def test_both_sides_agree(pair: tuple[Identity, Identity], context: bytes, use_opk: bool) -> None:
    alice, bob = pair
    bundle = bob.bundle()
    opk_id = bundle.one_time_prekeys[0].id if use_opk and bundle.one_time_prekeys else None
    sent = x3dh.initiate(
        alice, bundle, one_time_prekey_id=opk_id, pq_prekey_id=None, context=context, now=NOW
    )
    got = x3dh.respond(bob, sent.header, context=context, now=NOW)
    assert got.shared_key == sent.shared_key and len(got.shared_key) == 32
    assert got.associated_data == sent.associated_data
    assert sent.associated_data.endswith(context)
    assert sent.associated_data[:32] == x3dh.encode_identity_key(alice.public_identity_key)


def test_fresh_ephemeral_each_time(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    first = x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW)
    second = x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW)
    assert first.header.ephemeral_key != second.header.ephemeral_key
    assert first.shared_key != second.shared_key


def test_result_repr_hides_shared_key(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    result = x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW)
    assert result.shared_key.hex() not in repr(result)
    assert repr(result.shared_key)[2:20] not in repr(result)


def test_one_time_prekey_used_once() -> None:
    alice = Identity.generate("alice", post_quantum=False, one_time_prekeys=0, now=NOW)
    bob = Identity.generate("bob", post_quantum=False, one_time_prekeys=2, now=NOW)
    bundle = bob.bundle()
    sent = x3dh.initiate(alice, bundle, one_time_prekey_id=1, pq_prekey_id=None, now=NOW)
    x3dh.respond(bob, sent.header, now=NOW)
    assert bob.one_time_prekey_ids() == [2]
    assert [p.id for p in bob.bundle().one_time_prekeys] == [2]
    with pytest.raises(errors.PrekeyError):
        x3dh.respond(bob, sent.header, now=NOW)


def test_unknown_ids_refused(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    with pytest.raises(errors.PrekeyError):
        x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=10**6, pq_prekey_id=None, now=NOW)
    sent = x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW)
    for header in (
        x3dh.X3DHHeader(sent.header.identity_key, sent.header.ephemeral_key, 999, None),
        x3dh.X3DHHeader(sent.header.identity_key, sent.header.ephemeral_key, 1, 10**6),
    ):
        with pytest.raises(errors.PrekeyError):
            x3dh.respond(bob, header, now=NOW)


def test_expired_signed_prekey_refused_by_sender() -> None:
    alice = Identity.generate("alice", post_quantum=False, one_time_prekeys=0, now=NOW)
    bob = Identity.generate(
        "bob", post_quantum=False, one_time_prekeys=0, now=NOW, signed_prekey_lifetime=100
    )
    x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW + 99)
    with pytest.raises(errors.PrekeyError):
        x3dh.initiate(
            alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW + 100
        )


def test_rotation_grace_period() -> None:
    alice = Identity.generate("alice", post_quantum=False, one_time_prekeys=0, now=NOW)
    bob = Identity.generate("bob", post_quantum=False, one_time_prekeys=0, now=NOW)
    in_flight = x3dh.initiate(
        alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW
    )
    bob.rotate_signed_prekey(grace_period=1000, now=NOW + 10)
    assert bob.bundle().signed_prekey.id == 2 != in_flight.header.signed_prekey_id
    opened = x3dh.respond(bob, in_flight.header, now=NOW + 500)
    assert opened.shared_key == in_flight.shared_key
    with pytest.raises(errors.PrekeyError):
        x3dh.respond(bob, in_flight.header, now=NOW + 1010)
    assert bob.purge_expired(now=NOW + 1010) == 1
    fresh = x3dh.initiate(
        alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW + 20
    )
    assert x3dh.respond(bob, fresh.header, now=NOW + 20).shared_key == fresh.shared_key


LOW_ORDER_U = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
]


@pytest.mark.parametrize("bad_ek", [*LOW_ORDER_U, b"\xff" * 32, b"short"])
def test_invalid_ephemeral_key_is_tampering(pair: tuple[Identity, Identity], bad_ek: bytes) -> None:
    alice, bob = pair
    sent = x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW)
    header = x3dh.X3DHHeader(sent.header.identity_key, bad_ek, 1, None)
    with pytest.raises(errors.TamperedError):
        x3dh.respond(bob, header, now=NOW)


@pytest.mark.parametrize(
    "bad_ik", [bytes(32), (1).to_bytes(32, "little"), b"\xff" * 32, b"\x01" * 31]
)
def test_invalid_identity_key_in_header_is_tampering(
    pair: tuple[Identity, Identity], bad_ik: bytes
) -> None:
    alice, bob = pair
    sent = x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW)
    header = x3dh.X3DHHeader(bad_ik, sent.header.ephemeral_key, 1, None)
    with pytest.raises(errors.TamperedError):
        x3dh.respond(bob, header, now=NOW)


def test_wrong_types_in_header(pair: tuple[Identity, Identity]) -> None:
    alice, bob = pair
    sent = x3dh.initiate(alice, bob.bundle(), one_time_prekey_id=None, pq_prekey_id=None, now=NOW)
    with pytest.raises(errors.PrekeyError):
        x3dh.respond(
            bob,
            x3dh.X3DHHeader(sent.header.identity_key, sent.header.ephemeral_key, "1", None),
            now=NOW,
        )  # type: ignore[arg-type]
    with pytest.raises(errors.TamperedError):
        x3dh.respond(bob, "not a header", now=NOW)  # type: ignore[arg-type]


def test_info_is_long_enough() -> None:
    assert len(x3dh.INFO) >= 8
