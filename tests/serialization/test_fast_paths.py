"""The encoder's and decoder's fast paths produce the general path's bytes and checks."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack.errors import DecodeError, LimitExceededError
from sealpack.serialization import Codec, DecodeLimits
from sealpack.serialization.frame import parse_frame
from sealpack.serialization.wire import Ext
from tests.serialization.helpers import assert_same, ext, pack, raw_frame

THRESHOLD = 16
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.integers(-(2**70), 2**70),
    st.text(max_size=20),
    st.binary(max_size=20),
)


def _body(codec: Codec, obj: Any) -> bytes:
    frame = codec.dumps(obj)
    return bytes(parse_frame(memoryview(frame), codec.limits).body)


def _expected(value: Any) -> Any:
    """The general encoding of inline scalars, tuples and lists, built by hand."""
    if type(value) is tuple:
        return ext(1, [_expected(item) for item in value])
    if type(value) is list:
        return [_expected(item) for item in value]
    if type(value) is int and not -(2**63) <= value < 2**64:
        return ext(8, value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True), raw=True)
    return value


@given(st.lists(st.tuples(scalars, scalars) | st.tuples(scalars), max_size=8))
def test_list_of_tuples_matches_general_encoding(items: list[tuple[Any, ...]]) -> None:
    codec = Codec(oob_threshold=THRESHOLD)
    assert_same(codec.loads(codec.dumps(items)), items)
    flat = [v for t in items for v in t]
    if all(type(v) not in (str, bytes) or len(v) < THRESHOLD for v in flat):  # all inline
        assert _body(codec, items) == pack(_expected(items))


@given(st.dictionaries(st.text(max_size=5), scalars | st.tuples(scalars), max_size=6))
def test_dicts_with_plain_keys_round_trip(mapping: dict[str, Any]) -> None:
    codec = Codec(oob_threshold=THRESHOLD)
    assert_same(codec.loads(codec.dumps(mapping)), mapping)


def test_depth_limit_still_counts_tuples_in_lists() -> None:
    codec = Codec(limits=DecodeLimits(max_depth=2))
    assert codec.loads(codec.dumps([(1, "a")])) == [(1, "a")]
    with pytest.raises(LimitExceededError):
        codec.dumps([[(1, "a")]])
    with pytest.raises(LimitExceededError):
        codec.loads(raw_frame([[ext(1, [1, "a"])]]))


def test_small_ext_payload_with_trailing_bytes_is_refused() -> None:
    good = msgpack.ExtType(1, pack([1, 2]))
    bad = msgpack.ExtType(1, pack([1, 2]) + b"\x00")
    codec = Codec()
    assert codec.loads(raw_frame([good, good])) == [(1, 2), (1, 2)]
    with pytest.raises(DecodeError):
        codec.loads(raw_frame([good, bad, good]))
    with pytest.raises(DecodeError):
        codec.loads(raw_frame([msgpack.ExtType(1, b"\x92\x01")]))  # truncated payload


def test_unproven_claim_in_a_small_payload_is_refused() -> None:
    claim = b"\xdd\xff\xff\xff\xff"  # array32 claiming 2**32-1 items, none present
    with pytest.raises(DecodeError):
        Codec().loads(raw_frame([msgpack.ExtType(1, claim)]))


def test_bodies_without_ext_values_still_obey_depth_and_item_limits() -> None:
    """Such bodies skip the decoder's walk when their container count proves the limits."""
    codec = Codec(limits=DecodeLimits(max_depth=3))
    assert codec.loads(raw_frame([[[1]]])) == [[[1]]]
    pair = ext(Ext.TUPLE, [1, "a"])
    assert codec.loads(raw_frame([[pair], 2])) == [[(1, "a")], 2]
    for deep in ([[[[1]]]], [[[pair]]], {"a": {"b": {"c": [1]}}}):
        with pytest.raises(LimitExceededError):
            codec.loads(raw_frame(deep))
    few = Codec(limits=DecodeLimits(max_items=10))
    assert few.loads(raw_frame(list(range(5)))) == list(range(5))
    with pytest.raises(LimitExceededError):
        few.loads(raw_frame(list(range(11))))
