"""Hostile key-bundle JSON: refused with a SealpackError, or accepted only unchanged.

The signed prekey (id, key, times) is signed by the identity key; the name and the
one-time prekeys are not (as in Signal: one-time prekeys are unsigned, names are bound
by trust on first use). So an accepted mutant must carry the original identity key
and signed prekey; anything else is a forgery that got through.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack.errors import BundleError
from sealpack.keys import KeyBundle
from tests.adversarial.harness import reject, tolerate
from tests.adversarial.mutate import INTERESTING_INTS, mutants
from tests.adversarial.samples import NOW, sample_bundle_json

TEXT = sample_bundle_json()
ORIGINAL = KeyBundle.from_json(TEXT, now=NOW)
DOCUMENT = json.loads(TEXT)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _paths(item, (*prefix, index))
    return paths


PATHS = _paths(DOCUMENT)
# json.loads(bytes) detects UTF-16/32 and imports those codecs lazily; load them now so
# the campaign below checks everything else (the encoding issue has its own test).
for _encoding in ("utf-16-be", "utf-16-le", "utf-32-be", "utf-32-le", "utf-16", "utf-32"):
    "".encode(_encoding)
hostile_json = st.recursive(
    st.none()
    | st.booleans()
    | st.sampled_from([*INTERESTING_INTS, -1, -(2**63), 10**400])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
    | st.sampled_from(["00" * 32, "FF" * 32, "00" * 31, "00" * 33, "0g" * 32, "ab" * 64]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def _check_outcome(outcome: object) -> None:
    if isinstance(outcome, KeyBundle):
        assert outcome.identity_key == ORIGINAL.identity_key
        assert outcome.signed_prekey == ORIGINAL.signed_prekey


def test_truncation_at_every_offset() -> None:
    for cut in range(len(TEXT.rstrip())):
        reject(lambda c=cut: KeyBundle.from_json(TEXT[:c], now=NOW))


@given(st.sampled_from(PATHS), hostile_json)
def test_field_replaced_by_hostile_value(path: tuple[Any, ...], value: Any) -> None:
    text = json.dumps(_replace(DOCUMENT, path, value))
    _check_outcome(tolerate(lambda: KeyBundle.from_json(text, now=NOW)))


@given(mutants([TEXT.encode()]))
def test_byte_mutations(mutated: bytes) -> None:
    _check_outcome(tolerate(lambda: KeyBundle.from_json(mutated, now=NOW)))


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        TEXT.replace('"version": 2', '"version": 2, "version": 2'),
        TEXT.replace('"version": 2', '"version": NaN'),
        TEXT.replace('"version": 2', '"version": 3'),
        TEXT.replace('"version": 2', '"version": 0'),
        TEXT.replace('"version": 2', f'"version": {2**63}'),
        TEXT.replace('"version": 2', '"version": 2.0'),
        "\ufeff" + TEXT,
        TEXT.encode("utf-16").decode("latin-1"),
        "",
        "null",
        " " * (9 * 1024 * 1024),
    ],
    ids=[
        "deep arrays",
        "deep objects",
        "duplicate key",
        "NaN",
        "version 3",
        "version 0",
        "version 2^63",
        "version float",
        "bom",
        "utf-16",
        "empty",
        "null",
        "9 MB",
    ],
)
def test_hostile_documents(text: str) -> None:
    reject(lambda: KeyBundle.from_json(text, now=NOW))


def test_signed_fields_are_bound() -> None:
    """Every signed field changed to a plausible value breaks the signature."""
    spk = DOCUMENT["signed_prekey"]
    changes = {
        "id": spk["id"] + 1,
        "created": spk["created"] - 1,
        "expires": spk["expires"] + 86400,
        "public": ORIGINAL.one_time_prekeys[0].public.hex(),
        "signature": spk["signature"][:-2] + ("00" if spk["signature"][-2:] != "00" else "01"),
    }
    for field, value in changes.items():
        text = json.dumps(_replace(DOCUMENT, ("signed_prekey", field), value))
        reject(lambda t=text: KeyBundle.from_json(t, now=NOW))
    other = DOCUMENT["one_time_prekeys"][0]["public"]
    reject(lambda: KeyBundle.from_json(json.dumps({**DOCUMENT, "identity_key": other}), now=NOW))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32-le", "utf-8-sig"])
def test_bundle_bytes_must_be_utf8(encoding: str) -> None:
    with pytest.raises(BundleError):
        KeyBundle.from_json(TEXT.encode(encoding), now=NOW)


def test_bundle_bytes_strict_utf8_only() -> None:
    assert KeyBundle.from_json(TEXT.encode("utf-8"), now=NOW) == ORIGINAL
    assert KeyBundle.from_json(bytearray(TEXT.encode("utf-8")), now=NOW) == ORIGINAL
    invalid = TEXT.replace('"type"', '"ty\udcffpe"').encode("utf-8", "surrogateescape")
    for raw in (invalid, b"\xef\xbb\xbf" + TEXT.encode(), TEXT.encode("utf-16-le")):
        reject(lambda raw=raw: KeyBundle.from_json(raw, now=NOW), BundleError)
