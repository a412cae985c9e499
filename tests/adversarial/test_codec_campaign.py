"""Hostile codec frames: malformed input raises a SealpackError, nothing else escapes.

A codec frame has no integrity of its own (the envelope gives it that), so a
mutation may decode to another value; what must never happen is a foreign
exception, an import, a write, or unbounded time. Truncations, header-field
changes and recursion bombs must be refused outright.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealpack import errors
from sealpack.serialization import like
from sealpack.serialization.frame import HEADER_SIZE, build_frame
from sealpack.serialization.wire import PACK_OPTIONS, Ext
from tests.adversarial.harness import reject, tolerate
from tests.adversarial.mutate import INTERESTING_INTS, mutants
from tests.adversarial.samples import codec, sample_frames, sample_objects

FRAMES = sample_frames()
CODEC = codec()
_HEADER_FIELDS = {  # name -> (offset, struct format) in the 40-byte frame header
    "magic": (0, "<I"),
    "version": (4, "<B"),
    "flags": (5, "<B"),
    "reserved": (6, "<H"),
    "types_length": (8, "<Q"),
    "body_length": (16, "<Q"),
    "buffer_count": (24, "<Q"),
    "total_length": (32, "<Q"),
}


def raw_frame(body: bytes, types: bytes = b"\x90", buffers: list[bytes] | None = None) -> bytes:
    """A frame around hand-written msgpack sections (valid framing, hostile content)."""
    views = [memoryview(b) for b in buffers or []]
    return b"".join(build_frame(types, body, views))


def ext(code: int, payload: Any) -> bytes:
    data = payload if isinstance(payload, bytes) else msgpack.packb(payload, **PACK_OPTIONS)
    return msgpack.packb(msgpack.ExtType(code, data))


def test_samples_decode() -> None:
    """Control: every unmutated sample decodes and uses out-of-band buffers somewhere."""
    for frame in FRAMES:
        CODEC.loads(frame)
    assert any(int.from_bytes(f[24:32], "little") > 0 for f in FRAMES)


def test_truncation_at_every_offset() -> None:
    for frame in FRAMES[:3]:
        for cut in range(len(frame)):
            reject(lambda f=frame, c=cut: CODEC.loads(f[:c]), errors.DecodeError)


@pytest.mark.parametrize("field", sorted(_HEADER_FIELDS))
@pytest.mark.parametrize("value", INTERESTING_INTS, ids=lambda v: f"{v:#x}")
def test_header_fields(field: str, value: int) -> None:
    offset, fmt = _HEADER_FIELDS[field]
    for frame in FRAMES:
        try:
            packed = struct.pack(fmt, value)
        except struct.error:
            packed = struct.pack(fmt, value & ((1 << (8 * struct.calcsize(fmt))) - 1))
        mutated = frame[:offset] + packed + frame[offset + len(packed) :]
        if mutated == frame:
            continue
        reject(lambda m=mutated: CODEC.loads(m), errors.DecodeError)


def test_buffer_table_entries() -> None:
    frame = next(f for f in FRAMES if int.from_bytes(f[24:32], "little") > 0)
    for slot in range(2):  # offset then length of the first buffer
        position = HEADER_SIZE + 8 * slot
        for value in INTERESTING_INTS:
            mutated = frame[:position] + struct.pack("<Q", value) + frame[position + 8 :]
            if mutated != frame:
                reject(lambda m=mutated: CODEC.loads(m), errors.DecodeError)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutants(FRAMES))
def test_mutated_frames_never_escape(mutated: bytes) -> None:
    tolerate(lambda: CODEC.loads(mutated))


@given(st.binary(max_size=400))
def test_hostile_body_sections(body: bytes) -> None:
    tolerate(lambda: CODEC.loads(raw_frame(body)))


@given(st.binary(max_size=200), st.integers(0, 255))
def test_every_ext_code_with_garbage(payload: bytes, code: int) -> None:
    body = msgpack.packb(msgpack.ExtType(code % 128, payload))
    tolerate(lambda: CODEC.loads(raw_frame(body)))


BOMBS = {
    "nested arrays": b"\x91" * 100_000 + b"\xc0",
    "nested maps": b"\x81\xc0" * 50_000 + b"\xc0",
    "array claims 2^32-1": b"\xdd\xff\xff\xff\xff",
    "map claims 2^32-1": b"\xdf\xff\xff\xff\xff",
    "str claims 2^32-1": b"\xdb\xff\xff\xff\xff",
    "bin claims 2^32-1": b"\xc6\xff\xff\xff\xff",
    "ext claims 2^32-1": b"\xc9\xff\xff\xff\xff\x13",
}


def _nested_ext(depth: int) -> bytes:
    data = msgpack.packb(None)
    for _ in range(depth):
        inner = msgpack.packb([msgpack.ExtType(Ext.TUPLE, data)])
        data = msgpack.packb(msgpack.ExtType(Ext.TUPLE, inner))
    return data


_OBJECT_STRUCT = {"names": ["a"], "formats": ["|O8"], "offsets": [0], "itemsize": 8}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_recursion_and_length_bombs(name: str) -> None:
    reject(lambda: CODEC.loads(raw_frame(BOMBS[name])))


def test_nested_ext_bomb() -> None:
    """Ext values nest inside ext payloads: depth is still counted across them."""
    reject(lambda: CODEC.loads(raw_frame(_nested_ext(400))), errors.LimitExceededError)


@pytest.mark.parametrize(
    "payload",
    [
        [Ext.OOB, [0, 0]],  # buffer index without buffers
        [Ext.OOB, [0, 2**63]],
        [Ext.OOB, [9, 0]],
        [Ext.NDARRAY, ["<f8", [2**62, 2**62], False, b""]],
        [Ext.NDARRAY, ["<f8", [2**32 - 1] * 3, False, b"\x00" * 8]],
        [Ext.NDARRAY, ["|O8", [1], False, b"\x00" * 8]],
        [Ext.NDARRAY, [{"names": ["a"], "formats": ["|O8"], "offsets": [0], "itemsize": 8}, [1]]],
        [Ext.NDARRAY, [_OBJECT_STRUCT, [1], False, b"\x00" * 8]],
        [Ext.NDARRAY, [[["<f8", [2**31]], [2**31]], [1], False, b""]],
        [Ext.NDARRAY, ["<f8", [0] * 1000, False, b""]],
        [Ext.NPSCALAR, ["<U2147483647", b""]],
        [Ext.CUSTOM, [0, {}]],
        [Ext.CUSTOM, [2**63, {}]],
        [Ext.BIGINT, b"\x01" * (1 << 21)],
        [Ext.DECIMAL, b"9" * 100_000],
        [Ext.DATETIME, [2**63, 1, 1, 0, 0, 0, 0, 0, None]],
        [Ext.TIMEDELTA, [2**63, 0, 0]],
        [Ext.DATETIME, [2000, 1, 1, 0, 0, 0, 0, 0, 2**40]],
        [Ext.NAMESPACE, {1: 2}],
    ],
    ids=lambda p: str(p)[:50],
)
def test_hostile_typed_values(payload: list[Any]) -> None:
    code, value = payload
    reject(lambda: CODEC.loads(raw_frame(ext(code, value))))


@pytest.mark.parametrize(
    "types",
    [
        msgpack.packb(["x"] * 20_000),
        msgpack.packb(["a", "a"]),
        msgpack.packb(["a" * 5000]),
        msgpack.packb([1, 2]),
        msgpack.packb({"a": 1}),
        b"\xdd\xff\xff\xff\xff",
        b"\xc1",
    ],
    ids=["too many", "duplicate", "overlong", "not str", "map", "claims 2^32-1", "reserved byte"],
)
def test_hostile_type_tables(types: bytes) -> None:
    reject(lambda: CODEC.loads(raw_frame(b"\xc0", types=types)), errors.DecodeError)


def test_padding_and_unreferenced_buffers() -> None:
    frame = raw_frame(b"\xc0", buffers=[b"never referenced"])
    reject(lambda: CODEC.loads(frame), errors.DecodeError)
    reference = msgpack.ExtType(Ext.OOB, msgpack.packb([0, 0]))
    twice = raw_frame(msgpack.packb([reference, reference]), buffers=[b"x"])
    reject(lambda: CODEC.loads(twice), errors.DecodeError)
    padded = bytearray(raw_frame(ext(Ext.OOB, [0, 0]), buffers=[b"abc", b"def"]))
    padded[-4] = 1  # inside the zero padding between the two buffers
    reject(lambda: CODEC.loads(bytes(padded)), errors.DecodeError)


@given(st.sampled_from(FRAMES), st.data())
def test_streamed_load_of_truncated_or_lying_frames(frame: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(frame) - 1))
    reject(lambda: CODEC.load(io.BytesIO(frame[:cut])), errors.DecodeError)
    lying = frame[:32] + struct.pack("<Q", data.draw(st.sampled_from([2**63, 2**64 - 1])))
    reject(lambda: CODEC.load(io.BytesIO(lying + frame[40:])))


EXPECTATIONS = [like(obj) for obj in sample_objects()]


def test_samples_decode_under_their_own_expectation() -> None:
    """Control: each sample matches like(itself); every other expectation refuses it."""
    for index, frame in enumerate(FRAMES):
        CODEC.loads(frame, expect=EXPECTATIONS[index])
        for other in EXPECTATIONS[:index] + EXPECTATIONS[index + 1 :]:
            reject(lambda frame=frame, other=other: CODEC.loads(frame, expect=other))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutants(FRAMES), st.integers(0, len(EXPECTATIONS) - 1))
def test_mutated_frames_under_an_expectation_never_escape(mutated: bytes, index: int) -> None:
    tolerate(lambda: CODEC.loads(mutated, expect=EXPECTATIONS[index]))


@given(st.binary(max_size=400), st.integers(0, len(EXPECTATIONS) - 1))
def test_hostile_bodies_under_an_expectation(body: bytes, index: int) -> None:
    tolerate(lambda: CODEC.loads(raw_frame(body), expect=EXPECTATIONS[index]))
