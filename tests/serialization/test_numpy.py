"""numpy arrays: dtypes, orders, zero-copy views, writability, refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sealpack import errors
from sealpack.serialization import Codec
from sealpack.serialization.numpy_types import dtype_from_wire, dtype_to_wire
from tests.serialization.helpers import assert_same

codec = Codec(oob_threshold=64)


def test_large_array_is_sent_without_copy() -> None:
    array = np.arange(10_000, dtype=np.float32)
    parts = codec.dumps_buffers({"w": array})
    assert any(np.shares_memory(np.frombuffer(part, np.uint8), array) for part in parts)


def test_fortran_array_is_not_copied_and_stays_fortran() -> None:
    array = np.asfortranarray(np.arange(600, dtype=np.int64).reshape(20, 30))
    parts = codec.dumps_buffers(array)
    assert any(np.shares_memory(np.frombuffer(part, np.uint8), array) for part in parts)
    restored = codec.loads(b"".join(parts))
    assert restored.flags.f_contiguous and not restored.flags.c_contiguous
    np.testing.assert_array_equal(restored, array)


def test_non_contiguous_array_is_copied_once_and_round_trips() -> None:
    base = np.arange(4000, dtype=np.float64).reshape(40, 100)
    view = base[::3, 1::7]
    restored = codec.loads(codec.dumps(view))
    np.testing.assert_array_equal(restored, view)
    assert restored.flags.c_contiguous


@pytest.mark.parametrize(
    ("make_input", "writable"),
    [
        (bytes, False),
        (bytearray, True),
        (lambda data: memoryview(bytearray(data)), True),
        (lambda data: memoryview(data), False),
        (lambda data: np.frombuffer(bytearray(data), np.uint8), True),
    ],
)
def test_decoded_arrays_are_views_writable_exactly_when_input_is(
    make_input: Any, writable: bool
) -> None:
    data = make_input(codec.dumps({"big": np.arange(1000, dtype=np.int32), "small": np.ones(2)}))
    restored = codec.loads(data)
    assert restored["big"].flags.writeable is writable
    assert restored["small"].flags.writeable is writable
    np.testing.assert_array_equal(restored["big"], np.arange(1000))
    assert np.shares_memory(restored["big"], np.frombuffer(data, np.uint8))


def test_writing_a_decoded_view_changes_the_input_buffer() -> None:
    data = bytearray(codec.dumps(np.zeros(100, dtype=np.uint8)))
    restored = codec.loads(data)
    restored[:] = 7
    assert data.count(7) == 100


def test_out_of_band_buffers_are_64_byte_aligned_in_the_frame() -> None:
    data = bytearray(codec.dumps([np.arange(n + 100, dtype=np.uint8) for n in range(5)]))
    for array in codec.loads(data):
        offset = array.__array_interface__["data"][0] - np.frombuffer(data, np.uint8).ctypes.data
        assert offset % 64 == 0


@pytest.mark.parametrize(
    "array",
    [
        np.array(3.5),
        np.zeros((0, 3), dtype=np.float32),
        np.zeros((2, 0), dtype="<U4", order="F"),
        np.array(["ab", "c"], dtype=">U2"),
        np.array([b"x", b"yz"], dtype="S2"),
        np.array([1, 2], dtype=">i8"),
        np.array([np.datetime64("2024-01-01T00:00:00.123", "ms"), np.datetime64("NaT")]),
        np.array([1, -2], dtype="m8[25s]"),
        np.ones((2, 3, 4, 5), dtype=np.float16),
        np.zeros(3, dtype=[("a", "<i4"), ("b", [("c", "<f8", (2, 2))])]),
        np.zeros(2, dtype=np.dtype({"names": ["a"], "formats": ["<i2"], "titles": ["Alpha"]})),
        np.zeros(4, dtype=[]),
    ],
)
def test_special_arrays_round_trip(array: np.ndarray[Any, Any]) -> None:
    restored = codec.loads(codec.dumps(array))
    assert_same(array, restored)


def test_memmap_encodes_as_plain_array(tmp_path: Any) -> None:
    mapped = np.memmap(tmp_path / "m.bin", dtype=np.float32, mode="w+", shape=(300,))
    mapped[:] = 1.5
    restored = codec.loads(codec.dumps(mapped))
    assert type(restored) is np.ndarray
    np.testing.assert_array_equal(restored, np.full(300, 1.5, dtype=np.float32))


@pytest.mark.parametrize(
    "value",
    [
        np.array([1, "x", None], dtype=object),
        np.zeros(2, dtype=[("a", "<i4"), ("o", object)]),
    ],
)
def test_object_dtype_is_refused_on_encode(value: Any) -> None:
    with pytest.raises(errors.SerializationTypeError):
        codec.dumps(value)


def test_numpy_scalars_keep_their_exact_type() -> None:
    values = [np.float64(1.5), np.float32(2), np.int8(-3), np.bool_(True), np.str_("hi")]
    values += [np.datetime64("2024-02-29"), np.complex64(1 + 2j), np.bytes_(b"")]
    restored = codec.loads(codec.dumps(values))
    for original, back in zip(values, restored, strict=True):
        assert type(back) is type(original) and back == original


@pytest.mark.parametrize(
    "wire",
    [
        "|O8", "O", "<f4 ", "f4", "<f4,<f8", "eval('1')", "<M8[ns]]", "|T16", "<i99999999999",
        "<f4[ns]", ["<f4"], ["<f4", [-1]], ["<f4", [2**40]], ["|O8", [2]],
        {"names": ["a"], "formats": ["|O8"], "offsets": [0], "itemsize": 8},
        {"names": ["a", "a"], "formats": ["<i4", "<i4"], "offsets": [0, 4], "itemsize": 8},
        {"names": ["a"], "formats": ["<i4"], "offsets": [0], "itemsize": 2},
        {"names": ["a"], "formats": ["<i4"], "offsets": [0], "itemsize": 4, "evil": 1},
        {"names": [1], "formats": ["<i4"], "offsets": [0], "itemsize": 4},
        {"names": ["a"], "formats": ["<i4"], "offsets": [-4], "itemsize": 4},
        {"names": ["a"], "formats": ["<i4"]},
        42, None, b"<f4",
    ],
)  # fmt: skip
def test_hostile_dtype_descriptions_are_rejected(wire: Any) -> None:
    with pytest.raises(errors.DecodeError):
        dtype_from_wire(wire)


def test_deeply_nested_dtype_description_is_rejected() -> None:
    wire: Any = "<i4"
    for _ in range(40):
        wire = {"names": ["a"], "formats": [wire], "offsets": [0], "itemsize": 4}
    with pytest.raises(errors.DecodeError):
        dtype_from_wire(wire)


@pytest.mark.parametrize("dtype", ["<f8", ">i2", "|b1", "<M8[us]", "|S5", "<U7", "|V3"])
def test_plain_dtype_wire_is_its_str(dtype: str) -> None:
    assert dtype_to_wire(np.dtype(dtype)) == dtype
    assert dtype_from_wire(dtype) == np.dtype(dtype)
