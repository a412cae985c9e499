"""KeyBundle version 2: JSON round trips, signatures over every prekey, hostile input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors
from sealpack.keys import (
    Identity,
    KeyBundle,
    OneTimePrekeyPublic,
    PQOneTimePrekeyPublic,
    SignedPrekeyPublic,
)
from sealpack.keys.bundle_json import VERSION_1_MESSAGE

NOW = 1_700_000_000
ALICE = Identity.generate("alice", one_time_prekeys=3, pq_one_time_prekeys=2, now=NOW)
BUNDLE = ALICE.bundle()
LOW_ORDER_X25519 = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"


def doc() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(BUNDLE.to_json())
    return result


def load(document: Any, now: int = NOW) -> KeyBundle:
    return KeyBundle.from_json(json.dumps(document), now=now)


names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,20}", fullmatch=True)


@given(
    name=names,
    opks=st.integers(0, 5),
    pq_opks=st.integers(0, 2),
    lifetime=st.integers(1, 10**9),
    created=st.integers(0, 2**39),
)
def test_round_trip(name: str, opks: int, pq_opks: int, lifetime: int, created: int) -> None:
    identity = Identity.generate(
        name,
        one_time_prekeys=opks,
        pq_one_time_prekeys=pq_opks,
        now=created,
        signed_prekey_lifetime=lifetime,
    )
    bundle = identity.bundle()
    text = bundle.to_json()
    again = KeyBundle.from_json(text, now=created)
    assert again == bundle
    assert KeyBundle.from_json(text.encode(), now=created).to_json() == text
    assert again.fingerprint() == identity.fingerprint()
    assert again.key_id == identity.key_id and len(again.key_id) == 16


def test_verify_signature() -> None:
    signature = ALICE.sign(b"hello", purpose="test")
    assert BUNDLE.verify(b"hello", signature, purpose="test")
    assert not BUNDLE.verify(b"hellO", signature, purpose="test")
    assert not BUNDLE.verify(b"hello", signature, purpose="test2")
    assert not BUNDLE.verify(b"hello", signature[:-1], purpose="test")


def test_expired_bundle_refused() -> None:
    expires = BUNDLE.signed_prekey.expires
    load(doc(), now=expires - 1)
    with pytest.raises(errors.BundleError, match="expired"):
        load(doc(), now=expires)


def test_with_one_time_prekeys() -> None:
    pq_id = BUNDLE.pq_one_time_prekeys[1].id
    claimed = BUNDLE.with_one_time_prekeys([2], pq_ids=[pq_id])
    assert [p.id for p in claimed.one_time_prekeys] == [2]
    assert [p.id for p in claimed.pq_one_time_prekeys] == [pq_id]
    assert claimed.identity_key == BUNDLE.identity_key
    assert claimed.pq_prekey == BUNDLE.pq_prekey
    assert claimed.with_one_time_prekeys([]).one_time_prekeys == ()
    assert BUNDLE.with_one_time_prekeys([2]).pq_one_time_prekeys == ()
    # A claimed subset still verifies: every prekey carries its own signature.
    assert KeyBundle.from_json(claimed.to_json(), now=NOW) == claimed
    with pytest.raises(errors.BundleError):
        BUNDLE.with_one_time_prekeys([99])
    with pytest.raises(errors.BundleError):
        BUNDLE.with_one_time_prekeys([], pq_ids=[BUNDLE.pq_prekey.id])  # type: ignore[union-attr]
    with pytest.raises(errors.SealArgumentError):
        BUNDLE.with_one_time_prekeys([], pq_ids="1")


def test_unknown_version() -> None:
    document = doc()
    document["version"] = 3
    with pytest.raises(errors.UnsupportedVersionError, match="version 3"):
        load(document)


def test_version_1_bundle_is_a_clean_cut() -> None:
    document = doc()
    document["version"] = 1
    for key in ("pq_prekey", "pq_one_time_prekeys"):
        del document[key]
    for opk in document["one_time_prekeys"]:
        del opk["signature"]
    with pytest.raises(errors.UnsupportedVersionError) as caught:
        load(document)
    assert str(caught.value) == VERSION_1_MESSAGE
    assert "format version 1 (sealpack 0.1) is no longer read" in VERSION_1_MESSAGE


def test_name_swap_refused() -> None:
    """Issue 10.1: Mallory republishes Alice's signed bundle under the name "mallory"."""
    document = doc()
    document["name"] = "mallory"
    with pytest.raises(errors.BundleError, match="signature"):
        load(document)
    with pytest.raises(errors.BundleError, match="signature"):
        KeyBundle(
            "mallory",
            BUNDLE.identity_key,
            BUNDLE.signed_prekey,
            BUNDLE.one_time_prekeys,
            BUNDLE.pq_prekey,
            BUNDLE.pq_one_time_prekeys,
        )


def _flip_low_bit(hex_key: str) -> str:
    raw = bytearray(bytes.fromhex(hex_key))
    raw[0] ^= 0x02
    return raw.hex()


@pytest.mark.parametrize("field", ["one_time_prekeys", "pq_one_time_prekeys"])
def test_flipped_bit_in_a_one_time_prekey_refused(field: str) -> None:
    """Issue 10.3: every prekey is signed, so a bit flipped in transit is a BundleError."""
    document = doc()
    prekey = document[field][1]
    prekey["public"] = _flip_low_bit(prekey["public"])
    with pytest.raises(errors.BundleError, match="signature"):
        load(document)


def test_stripping_the_pq_prekey_is_refused_as_a_downgrade() -> None:
    document = doc()
    document["pq_prekey"] = None
    document["pq_one_time_prekeys"] = []
    with pytest.raises(errors.BundleError, match="post-quantum prekey was removed"):
        load(document)
    with pytest.raises(errors.BundleError, match="post-quantum prekey was removed"):
        KeyBundle("alice", BUNDLE.identity_key, BUNDLE.signed_prekey, BUNDLE.one_time_prekeys)


def test_pq_one_time_prekeys_need_the_last_resort_prekey() -> None:
    document = doc()
    document["pq_prekey"] = None
    with pytest.raises(errors.BundleError):
        load(document)


def test_pq_prekey_ids_never_collide() -> None:
    document = doc()
    document["pq_one_time_prekeys"][0]["id"] = document["pq_prekey"]["id"]
    with pytest.raises(errors.BundleError):
        load(document)


def test_classical_bundle_round_trip() -> None:
    classical = Identity.generate("carol", one_time_prekeys=1, post_quantum=False, now=NOW)
    bundle = classical.bundle()
    assert bundle.pq_prekey is None and not bundle.post_quantum
    assert json.loads(bundle.to_json())["pq_prekey"] is None
    assert KeyBundle.from_json(bundle.to_json(), now=NOW) == bundle


def _mutations() -> list[tuple[str, Any]]:
    spk = ("signed_prekey",)
    return [
        (("identity_key",), "00" * 32),  # small order / identity
        (("identity_key",), "01" + "00" * 31),
        (("identity_key",), "ff" * 32),  # non-canonical
        (("identity_key",), "00" * 31),  # short
        (("identity_key",), "AB" * 32),  # uppercase hex
        (("identity_key",), 5),
        ((*spk, "public"), "00" * 32),
        ((*spk, "public"), LOW_ORDER_X25519),
        ((*spk, "public"), "ff" * 32),
        ((*spk, "public"), "00" * 33),
        ((*spk, "signature"), "00" * 64),
        ((*spk, "signature"), "00" * 63),
        ((*spk, "id"), BUNDLE.signed_prekey.id + 1),  # signature no longer matches
        ((*spk, "id"), -1),
        ((*spk, "id"), 2**32),
        ((*spk, "id"), True),
        ((*spk, "id"), "1"),
        ((*spk, "id"), 1.0),
        ((*spk, "created"), None),
        ((*spk, "expires"), BUNDLE.signed_prekey.expires + 1),
        ((*spk, "expires"), 2**70),
        ((*spk, "expires"), 2**40),
        ((*spk, "created"), BUNDLE.signed_prekey.expires),
        (("pq_prekey", "public"), "00" * 1184),
        (("pq_prekey", "public"), "ff" * 1184),
        (("pq_prekey", "public"), "00" * 32),
        (("pq_prekey", "id"), BUNDLE.pq_prekey.id + 10),  # type: ignore[union-attr]
        (("pq_prekey", "expires"), BUNDLE.signed_prekey.expires + 1),
        (("pq_prekey", "signature"), doc()["signed_prekey"]["signature"]),
        (("pq_prekey",), {}),
        (("pq_prekey",), []),
        (("pq_one_time_prekeys",), None),
        (("pq_one_time_prekeys",), [doc()["pq_one_time_prekeys"][0]] * 2),
        (("one_time_prekeys",), [{**doc()["one_time_prekeys"][0], "id": 7}]),
        (("name",), ""),
        (("name",), "../etc"),
        (("name",), "a" * 65),
        (("name",), ["alice"]),
        (("type",), "something-else"),
        (("version",), "1"),
        (("one_time_prekeys",), {}),
        (("one_time_prekeys",), [{"id": 1}]),
        (("one_time_prekeys",), [{"id": 1, "public": LOW_ORDER_X25519, "signature": "00" * 64}]),
        (("one_time_prekeys",), [{"id": 1, "public": "11" * 32, "signature": "00" * 64, "x": 1}]),
        (("one_time_prekeys",), [doc()["one_time_prekeys"][0]] * 2),  # duplicate id
        (("one_time_prekeys",), [[]]),
        (("signed_prekey",), []),
    ]


@pytest.mark.parametrize(("path", "value"), _mutations(), ids=lambda v: repr(v)[:40])
def test_field_mutations_refused(path: tuple[str, ...], value: Any) -> None:
    document = doc()
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(errors.BundleError):
        load(document)


@pytest.mark.parametrize(
    "key",
    [
        "signed_prekey",
        "identity_key",
        "name",
        "one_time_prekeys",
        "pq_prekey",
        "pq_one_time_prekeys",
    ],
)
def test_missing_and_extra_keys(key: str) -> None:
    document = doc()
    del document[key]
    with pytest.raises(errors.BundleError):
        load(document)
    document = doc()
    document["extra_" + key] = 1
    with pytest.raises(errors.BundleError):
        load(document)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        "null",
        "1",
        '"x"',
        "{}",
        "\xff",
        b"\xff\xfe",
        b"\x00" * 10,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"type": "sealpack-key-bundle", "version": NaN}',
        '{"type": "sealpack-key-bundle", "version": 1e400}',
        '{"type": "sealpack-key-bundle", "version": ' + "9" * 5000 + "}",
        '{"type": "sealpack-key-bundle", "type": "sealpack-key-bundle", "version": 1}',
    ],
    ids=lambda t: repr(t)[:30],
)
def test_garbage_refused(text: str | bytes) -> None:
    with pytest.raises(errors.BundleError):
        KeyBundle.from_json(text, now=NOW)


def test_huge_input_refused_without_parsing() -> None:
    with pytest.raises(errors.BundleError, match="larger"):
        KeyBundle.from_json(" " * (9 * 1024 * 1024), now=NOW)


def test_wrong_argument_type() -> None:
    with pytest.raises(errors.BundleError):
        KeyBundle.from_json(12345, now=NOW)  # type: ignore[arg-type]


@given(cut=st.integers(0, len(BUNDLE.to_json()) - 2))
def test_truncation_refused(cut: int) -> None:
    with pytest.raises(errors.BundleError):
        KeyBundle.from_json(BUNDLE.to_json()[:cut], now=NOW)


@given(position=st.integers(0, len(BUNDLE.to_json()) - 1), bit=st.integers(0, 7))
def test_bit_flips_never_escape(position: int, bit: int) -> None:
    raw = bytearray(BUNDLE.to_json().encode())
    raw[position] ^= 1 << bit
    try:
        parsed = KeyBundle.from_json(bytes(raw), now=NOW)
    except errors.SealpackError:
        return
    # Every field is signed: only flips that keep the meaning (whitespace) survive.
    assert parsed == BUNDLE


def test_direct_construction_is_verified() -> None:
    spk = BUNDLE.signed_prekey
    bad = SignedPrekeyPublic(spk.id, spk.public, spk.created, spk.expires + 5, spk.signature)
    with pytest.raises(errors.BundleError):
        KeyBundle("alice", BUNDLE.identity_key, bad)
    opk = BUNDLE.one_time_prekeys[0]
    pq = BUNDLE.pq_prekey
    with pytest.raises(errors.BundleError):
        KeyBundle("alice", BUNDLE.identity_key, spk, [opk], pq)  # type: ignore[arg-type]
    with pytest.raises(errors.BundleError, match="signature"):
        KeyBundle(
            "alice",
            BUNDLE.identity_key,
            spk,
            (OneTimePrekeyPublic(9, opk.public, opk.signature),),
            pq,
        )
    with pytest.raises(errors.BundleError):
        fake = PQOneTimePrekeyPublic(1, spk.public, spk.signature)
        KeyBundle("alice", BUNDLE.identity_key, spk, (), pq, (fake,))
    other = Identity.generate("mallory", one_time_prekeys=0, now=NOW).bundle()
    with pytest.raises(errors.BundleError, match="signature"):
        KeyBundle("alice", other.identity_key, spk, (), pq)


def test_repr_is_short_and_public() -> None:
    text = repr(BUNDLE)
    assert "alice" in text and BUNDLE.fingerprint() in text
