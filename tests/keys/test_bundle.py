"""KeyBundle: JSON round trips and hostile input to from_json."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors
from sealpack.keys import Identity, KeyBundle, OneTimePrekeyPublic, SignedPrekeyPublic

NOW = 1_700_000_000
ALICE = Identity.generate("alice", one_time_prekeys=3, now=NOW)
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
    lifetime=st.integers(1, 10**9),
    created=st.integers(0, 2**40),
)
def test_round_trip(name: str, opks: int, lifetime: int, created: int) -> None:
    identity = Identity.generate(
        name, one_time_prekeys=opks, now=created, signed_prekey_lifetime=lifetime
    )
    bundle = identity.bundle()
    text = bundle.to_json()
    again = KeyBundle.from_json(text, now=created)
    assert again == bundle
    assert KeyBundle.from_json(text.encode(), now=created).to_json() == text
    assert again.fingerprint() == identity.fingerprint()
    assert again.key_id == identity.key_id and len(again.key_id) == 16


def test_verify_signature() -> None:
    signature = ALICE.sign(b"hello")
    assert BUNDLE.verify(b"hello", signature)
    assert not BUNDLE.verify(b"hellO", signature)
    assert not BUNDLE.verify(b"hello", signature[:-1])


def test_expired_bundle_refused() -> None:
    expires = BUNDLE.signed_prekey.expires
    load(doc(), now=expires - 1)
    with pytest.raises(errors.BundleError, match="expired"):
        load(doc(), now=expires)


def test_with_one_time_prekeys() -> None:
    claimed = BUNDLE.with_one_time_prekeys([2])
    assert [p.id for p in claimed.one_time_prekeys] == [2]
    assert claimed.identity_key == BUNDLE.identity_key
    assert claimed.with_one_time_prekeys([]).one_time_prekeys == ()
    with pytest.raises(errors.BundleError):
        BUNDLE.with_one_time_prekeys([99])


def test_unknown_version() -> None:
    document = doc()
    document["version"] = 2
    with pytest.raises(errors.UnsupportedVersionError):
        load(document)


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
        (("name",), ""),
        (("name",), "../etc"),
        (("name",), "a" * 65),
        (("name",), ["alice"]),
        (("type",), "something-else"),
        (("version",), "1"),
        (("one_time_prekeys",), {}),
        (("one_time_prekeys",), [{"id": 1}]),
        (("one_time_prekeys",), [{"id": 1, "public": LOW_ORDER_X25519}]),
        (("one_time_prekeys",), [{"id": 1, "public": "11" * 32, "x": 1}]),
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


@pytest.mark.parametrize("key", ["signed_prekey", "identity_key", "name", "one_time_prekeys"])
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
        KeyBundle.from_json(" " * (5 * 1024 * 1024), now=NOW)


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
    # Only flips that keep the meaning (e.g. whitespace) or touch unsigned fields survive.
    assert parsed.identity_key == BUNDLE.identity_key
    assert parsed.signed_prekey == BUNDLE.signed_prekey


def test_direct_construction_is_verified() -> None:
    spk = BUNDLE.signed_prekey
    bad = SignedPrekeyPublic(spk.id, spk.public, spk.created, spk.expires + 5, spk.signature)
    with pytest.raises(errors.BundleError):
        KeyBundle("alice", BUNDLE.identity_key, bad)
    with pytest.raises(errors.BundleError):
        KeyBundle("alice", BUNDLE.identity_key, spk, [OneTimePrekeyPublic(1, spk.public)])  # type: ignore[arg-type]
    other = Identity.generate("mallory", one_time_prekeys=0, now=NOW).bundle()
    with pytest.raises(errors.BundleError, match="signature"):
        KeyBundle("alice", other.identity_key, spk)


def test_repr_is_short_and_public() -> None:
    text = repr(BUNDLE)
    assert "alice" in text and BUNDLE.fingerprint() in text
