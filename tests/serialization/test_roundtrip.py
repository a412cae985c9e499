"""Hypothesis round trips over nested mixtures of every supported type."""

from __future__ import annotations

import argparse
import datetime as dt
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sealpack.serialization import Codec
from tests.serialization.helpers import assert_same

CODECS = [Codec(), Codec(oob_threshold=8), Codec(oob_threshold=0)]

PLAIN_DTYPES = [
    "|b1", "|i1", "<i2", ">i4", "<i8", "|u1", "<u2", "<u4", ">u8",
    "<f2", "<f4", ">f8", "<c8", "<c16", "<M8[ns]", "<M8[D]", "<m8[s]", ">m8[us]",
    "|S1", "|S7", "<U3", ">U1", "|V5",
]  # fmt: skip
STRUCTURED_DTYPES = [
    np.dtype([("a", "<i4"), ("b", ">f8"), ("c", "S3")]),
    np.dtype([("pos", "<f4", (3,)), ("tag", "<U2")]),
    np.dtype({"names": ["x", "y"], "formats": ["<u2", "<i8"], "offsets": [0, 8], "itemsize": 24}),
    np.dtype([("inner", [("p", "<i2"), ("q", "|b1")]), ("z", "<c8")]),
    np.dtype([("a", "<i4"), ("b", "<f8")], align=True),
]
ALL_DTYPES = [np.dtype(d) for d in PLAIN_DTYPES] + STRUCTURED_DTYPES


def typed_arrays(dtype: np.dtype[Any], shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    if dtype.kind == "V" and dtype.fields is None:  # raw void: hypothesis has no strategy
        raw = hnp.arrays(np.uint8, (*shape, dtype.itemsize))
        return raw.map(lambda a: np.ascontiguousarray(a).view(dtype).reshape(shape))
    return hnp.arrays(dtype, shape)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray[Any, Any]:
    dtype = draw(st.sampled_from(ALL_DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    array = draw(typed_arrays(dtype, shape))
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "strided" and array.ndim:
        return array[::2]
    return array


def numpy_scalars() -> st.SearchStrategy[Any]:
    dtypes = st.sampled_from([np.dtype(d) for d in PLAIN_DTYPES] + STRUCTURED_DTYPES[:1])
    return dtypes.flatmap(lambda dtype: typed_arrays(dtype, ()).map(lambda a: a[()]))


timezones = (
    st.none()
    | st.just(dt.timezone.utc)
    | st.integers(-1439, 1439).map(lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))
)
hashables = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=8),
    lambda children: st.tuples(children, children) | st.frozensets(children, max_size=3),
    max_leaves=4,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(),
    st.text(),
    st.binary(),
    st.binary().map(bytearray),
    st.binary().map(memoryview),
    st.complex_numbers(),
    st.datetimes(timezones=timezones),
    st.dates(),
    st.times(timezones=timezones),
    st.timedeltas(),
    st.decimals(allow_nan=False),
    st.uuids(),
    arrays(),
    numpy_scalars(),
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(hashables, children, max_size=5),
        st.dictionaries(st.text(max_size=5), children, max_size=5).map(OrderedDict),
        st.sets(hashables, max_size=5),
        st.frozensets(hashables, max_size=5),
        st.dictionaries(st.text("abcxyz_", min_size=1, max_size=4), children, max_size=3).map(
            lambda attrs: argparse.Namespace(**attrs)
        ),
    )


values = st.recursive(scalars, containers, max_leaves=20)


@pytest.mark.parametrize("codec", CODECS, ids=["default", "oob8", "oob0"])
@given(value=values)
def test_round_trip_keeps_values_and_types(codec: Codec, value: Any) -> None:
    data = codec.dumps(value)
    assert_same(value, codec.loads(data))
    assert_same(value, codec.loads(bytearray(data)))
    assert b"".join(codec.dumps_buffers(value)) == data


@given(array=arrays())
def test_arrays_round_trip_through_out_of_band_buffers(array: np.ndarray[Any, Any]) -> None:
    codec = CODECS[2]
    data = bytearray(codec.dumps(array))
    restored = codec.loads(data)
    assert_same(array, restored)
    if array.nbytes:
        assert restored.flags.writeable
        assert np.shares_memory(restored, np.frombuffer(data, np.uint8))


@given(value=st.dictionaries(st.text(), st.floats() | st.integers(), max_size=20))
def test_plain_dicts_with_any_keys_round_trip(value: dict[str, Any]) -> None:
    codec = CODECS[0]
    assert_same(value, codec.loads(codec.dumps(value)))


def test_user_dict_with_codec_like_keys_round_trips() -> None:
    codec = CODECS[0]
    value = {"__type__": "os.system", "__ndarray__": [1], "$ext": b"x", "": None}
    assert_same(value, codec.loads(codec.dumps(value)))
