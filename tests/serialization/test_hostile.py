"""Hostile frames: every one gives a SealpackError subclass, never anything else."""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import importlib
import struct
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors
from sealpack.serialization import Codec, DecodeLimits
from sealpack.serialization.wire import Ext, OobKind
from tests.serialization.helpers import ext, pack, raw_body_frame, raw_frame

codec = Codec(oob_threshold=32)
codec.register_data_classes()
SAMPLE_VALUE = {
    "w": np.arange(20, dtype=np.float32),
    "f": np.asfortranarray(np.ones((6, 4), dtype=np.int16)),
    "meta": ("x", 1, 2.5, None, {1, 2}, dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)),
    "blob": b"\x00" * 40,
    "small": [np.float16(1), bytearray(b"ab"), 2**80],
}
SAMPLE = codec.dumps(SAMPLE_VALUE)


def decode_fails_cleanly(data: bytes | bytearray, using: Codec = codec) -> errors.SealpackError:
    with pytest.raises(errors.SealpackError) as info:
        using.loads(data)
    return info.value


def test_truncation_at_every_position_fails_cleanly() -> None:
    for end in range(len(SAMPLE)):
        decode_fails_cleanly(SAMPLE[:end])
        decode_fails_cleanly(bytearray(SAMPLE[:end]))


def test_trailing_bytes_are_rejected() -> None:
    decode_fails_cleanly(SAMPLE + b"\x00")


@given(position=st.integers(0, len(SAMPLE) - 1), bit=st.integers(0, 7))
def test_bit_flips_decode_or_fail_cleanly(position: int, bit: int) -> None:
    data = bytearray(SAMPLE)
    data[position] ^= 1 << bit
    with contextlib.suppress(errors.SealpackError):
        codec.loads(data)


@given(data=st.binary(max_size=300))
def test_random_bytes_fail_cleanly(data: bytes) -> None:
    decode_fails_cleanly(b"SPKC\x01\x00\x00\x00" + data)


def _header_field(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack("<Q", value) + data[offset + 8 :]


@pytest.mark.parametrize("offset", [8, 16, 24, 32])
@pytest.mark.parametrize("delta", [2**63, 2**64 - 1, 2**32, 1, 64])
def test_huge_or_wrong_header_sizes_fail_cleanly(offset: int, delta: int) -> None:
    original = struct.unpack_from("<Q", SAMPLE, offset)[0]
    decode_fails_cleanly(_header_field(SAMPLE, offset, (original + delta) % 2**64))


@pytest.mark.parametrize("entry", range(6))
@pytest.mark.parametrize("delta", [64, -64, 2**63, 2**64 - 1, 1])
def test_out_of_range_buffer_offsets_and_lengths_fail_cleanly(entry: int, delta: int) -> None:
    count = struct.unpack_from("<Q", SAMPLE, 24)[0]
    assert count >= 3
    position = 40 + 8 * (entry % (2 * count))
    original = struct.unpack_from("<Q", SAMPLE, position)[0]
    decode_fails_cleanly(_header_field(SAMPLE, position, (original + delta) % 2**64))


@pytest.mark.parametrize(
    "header",
    [
        b"XPKC\x01\x00\x00\x00",
        b"SPKC\x02\x00\x00\x00",
        b"SPKC\x01\x01\x00\x00",
        b"SPKC\x01\x00\x01\x00",
    ],
)
def test_bad_magic_version_flags_fail_cleanly(header: bytes) -> None:
    error = decode_fails_cleanly(header + SAMPLE[8:])
    assert isinstance(error, errors.DecodeError)


def test_non_zero_padding_is_rejected() -> None:
    data = bytearray(SAMPLE)
    first_offset = struct.unpack_from("<Q", data, 40)[0]
    data[first_offset - 1] = 1
    decode_fails_cleanly(data)


def test_limits_on_total_size_and_buffer_count() -> None:
    data = Codec(oob_threshold=0).dumps([b"a"] * 20)
    error = decode_fails_cleanly(data, Codec(limits=DecodeLimits(max_buffers=10)))
    assert isinstance(error, errors.LimitExceededError)
    error = decode_fails_cleanly(SAMPLE, Codec(limits=DecodeLimits(max_total_size=100)))
    assert isinstance(error, errors.LimitExceededError)


@pytest.mark.parametrize(
    "body",
    [
        b"\x91" * 100_000 + b"\xc0",  # nested arrays
        b"\x81\xc0" * 100_000 + b"\xc0",  # nested maps
        b"\xdd\xff\xff\xff\xff",  # array claiming 2^32-1 items
        b"\xdf\xff\xff\xff\xff",  # map claiming 2^32-1 pairs
        b"\xdb\xff\xff\xff\xff",  # str claiming 4 GiB
        b"\xc6\x7f\xff\xff\xff",  # bin claiming 2 GiB
        b"\xc9\xff\xff\xff\xff\x01",  # ext claiming 4 GiB
        b"\xc1",  # reserved marker
        b"\xd9\x02\xff\xfe",  # invalid UTF-8
        b"",
        b"\xc0\xc0",
        b"\x81\x91\x01\x01",  # list used as a map key
    ],
)
def test_malformed_msgpack_bodies_fail_cleanly(body: bytes) -> None:
    decode_fails_cleanly(raw_body_frame(body))


def test_depth_bomb_hits_the_depth_limit() -> None:
    error = decode_fails_cleanly(raw_body_frame(b"\x91" * 300 + b"\xc0"))
    assert isinstance(error, errors.LimitExceededError)


def test_nested_ext_depth_bomb_hits_the_depth_limit() -> None:
    value: Any = None
    for _ in range(400):
        value = ext(Ext.TUPLE, [value])
    error = decode_fails_cleanly(raw_frame(value))
    assert isinstance(error, errors.LimitExceededError)


def test_too_many_items_hits_the_item_limit() -> None:
    limited = Codec(limits=DecodeLimits(max_items=100))
    error = decode_fails_cleanly(raw_frame([[0] * 60, [0] * 60]), limited)
    assert isinstance(error, errors.LimitExceededError)


@pytest.mark.parametrize("code", [0, 20, 99, 127, -1, -2, -128])
def test_unknown_ext_codes_fail_cleanly(code: int) -> None:
    fixext4 = b"\xd6" + struct.pack("b", code) + b"\x00\x00\x00\x01"  # -1: a msgpack timestamp
    decode_fails_cleanly(raw_body_frame(b"\x91" + fixext4))
    decode_fails_cleanly(raw_body_frame(fixext4))
    decode_fails_cleanly(raw_body_frame(b"\x81" + fixext4 + b"\xc0"))


@pytest.mark.parametrize(
    "root",
    [
        ext(Ext.CUSTOM, [0, None]),
        ext(Ext.CUSTOM, [-1, None]),
        ext(Ext.CUSTOM, [2**63, None]),
        ext(Ext.CUSTOM, ["0", None]),
        ext(Ext.CUSTOM, [0]),
        ext(Ext.OOB, [int(OobKind.BYTES), 0]),
        ext(Ext.OOB, [9, 0]),
        ext(Ext.TUPLE, {"a": 1}),
        ext(Ext.SET, [[1]]),
        ext(Ext.ORDERED_DICT, [1]),
        ext(Ext.NAMESPACE, {1: 2}),
        ext(Ext.DATETIME, [2024, 13, 1, 0, 0, 0, 0, 0, None]),
        ext(Ext.DATETIME, [2024, 1, 1, 0, 0, 0, 0, 0, 86400 * 10**6]),
        ext(Ext.DATETIME, ["2024"]),
        ext(Ext.TIMEDELTA, [0, -1, 0]),
        ext(Ext.TIMEDELTA, [10**12, 0, 0]),
        ext(Ext.DATE, [0, 1, 1]),
        ext(Ext.TIME, [25, 0, 0, 0, 0, None]),
        ext(Ext.DECIMAL, b"not a number", raw=True),
        ext(Ext.DECIMAL, b"\xff", raw=True),
        ext(Ext.UUID, b"short", raw=True),
        ext(Ext.COMPLEX, b"\x00" * 15, raw=True),
        ext(Ext.BIGINT, b"", raw=True),
        ext(Ext.NDARRAY, ["<f4", [2], False, b"\x00" * 7]),
        ext(Ext.NDARRAY, ["<f4", [2**62, 2**62], False, b"\x00" * 8]),
        ext(Ext.NDARRAY, ["<f4", [-1], False, b""]),
        ext(Ext.NDARRAY, ["|O8", [1], False, b"\x00" * 8]),
        ext(Ext.NDARRAY, ["<f4", [1], 1, b"\x00" * 4]),
        ext(Ext.NDARRAY, ["<f4", [1], False, 0]),
        ext(Ext.NDARRAY, ["<f4", [1] * 65, False, b"\x00" * 4]),
        ext(Ext.NDARRAY, [[], [0], False, b""]),
        ext(Ext.NDARRAY, ["|V0", [2**63], False, b""]),
        ext(Ext.NPSCALAR, ["<f8", b"\x00"]),
        ext(Ext.NPSCALAR, ["|O8", b"\x00" * 8]),
        ext(Ext.NPSCALAR, ["<f8"]),
    ],
)
def test_malformed_ext_payloads_fail_cleanly(root: Any) -> None:
    decode_fails_cleanly(raw_frame(root))


def test_buffer_referenced_twice_or_never_is_rejected() -> None:
    twice = [ext(Ext.OOB, [0, 0]), ext(Ext.OOB, [0, 0])]
    decode_fails_cleanly(raw_frame(twice, buffers=[b"abc"]))
    decode_fails_cleanly(raw_frame(None, buffers=[b"abc"]))


@pytest.mark.parametrize(
    "types",
    [[1], ["a", "a"], ["x" * 5000], "os.system", [["os", "system"]], None],
)
def test_bad_type_tables_fail_cleanly(types: Any) -> None:
    body = pack(ext(Ext.CUSTOM, [0, None]))
    decode_fails_cleanly(raw_body_frame(body, types=pack(types)))


@pytest.mark.parametrize(
    "name", ["os.system", "subprocess.Popen", "posix.system", "builtins.eval", "nt.system"]
)
def test_payload_naming_a_dangerous_callable_imports_nothing(name: str) -> None:
    data = raw_frame(ext(Ext.CUSTOM, [0, ["touch /tmp/pwned"]]), types=[name])
    modules_before = set(sys.modules)
    attempts: list[str] = []

    def no_import(module: str, *args: Any, **kwargs: Any) -> Any:
        attempts.append(module)
        raise AssertionError(f"decoder tried to import {module}")

    real_import, real_import_module = builtins.__import__, importlib.import_module
    message = ""
    builtins.__import__, importlib.import_module = no_import, no_import  # type: ignore[assignment]
    try:
        codec.loads(data)
    except errors.UnknownTypeError as error:
        message = str(error)
    finally:
        builtins.__import__, importlib.import_module = real_import, real_import_module
    assert attempts == []
    assert set(sys.modules) == modules_before
    assert name in message and "register" in message


def test_non_buffer_input_fails_cleanly() -> None:
    with pytest.raises(errors.DecodeError):
        codec.loads("text")  # type: ignore[arg-type]
    with pytest.raises(errors.DecodeError):
        codec.loads(np.arange(10, dtype=np.uint8)[::2])  # type: ignore[arg-type]


TIMESTAMPS = {
    "fixext4": b"\xd6\xff" + bytes(4),
    "fixext8": b"\xd7\xff" + bytes(8),
    "ext8 12": b"\xc7\x0c\xff" + bytes(12),
    "ext16 4": b"\xc8\x00\x04\xff" + bytes(4),
    "ext32 8": b"\xc9\x00\x00\x00\x08\xff" + bytes(8),
}


@pytest.mark.parametrize("name", sorted(TIMESTAMPS))
@pytest.mark.parametrize("where", ["root", "list", "map value", "map key", "after many 0xff"])
def test_msgpack_timestamps_are_refused_wherever_they_are(name: str, where: str) -> None:
    """msgpack builds ext -1 itself (no ext hook): a body without any other ext value
    skips the decoder's walk, so it must still see and refuse these."""
    stamp = TIMESTAMPS[name]
    bodies = {
        "root": stamp,
        "list": b"\x92\x01" + stamp,
        "map value": b"\x81\xa1a" + stamp,
        "map key": b"\x81" + stamp + b"\x01",
        "after many 0xff": b"\xdc\x00\x41" + b"\xff" * 64 + stamp,  # 64 times -1 first
    }
    error = decode_fails_cleanly(raw_body_frame(bodies[where]))
    assert isinstance(error, errors.DecodeError)


def test_plain_bodies_with_0xff_bytes_still_decode() -> None:
    value = {"ints": [-1] * 50, "floats": [float.fromhex("0x1.fffffffffffffp+0")] * 20}
    assert codec.loads(codec.dumps(value)) == value
