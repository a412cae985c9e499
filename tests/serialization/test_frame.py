"""Frame layout: header fields, alignment, zero-copy parts, 64-bit sizes (> 4 GiB)."""

from __future__ import annotations

import io
import mmap
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors
from sealpack.serialization import Codec
from sealpack.serialization.frame import ALIGNMENT, HEADER_SIZE, _layout

HEADER = struct.Struct("<4sBBHQQQQ")


def read_header(data: bytes | memoryview) -> tuple[Any, ...]:
    return HEADER.unpack_from(data, 0)


def test_header_and_buffer_table_describe_the_frame() -> None:
    codec = Codec(oob_threshold=100)
    arrays = [np.full(n, n % 256, dtype=np.uint8) for n in (100, 150, 99, 1000)]
    data = codec.dumps(arrays)
    magic, version, flags, reserved, types_len, body_len, count, total = read_header(data)
    assert (magic, version, flags, reserved) == (b"SPKC", 1, 0, 0)
    assert total == len(data) and count == 3 and types_len == 1  # empty type table: 0x90
    table = struct.unpack_from(f"<{2 * count}Q", data, HEADER_SIZE)
    offsets, lengths = table[0::2], table[1::2]
    assert lengths == (100, 150, 1000)
    assert all(offset % ALIGNMENT == 0 for offset in offsets)
    assert offsets[0] >= HEADER_SIZE + 16 * count + types_len + body_len
    assert offsets[-1] + lengths[-1] == total
    for offset, length in zip(offsets, lengths, strict=True):
        assert data[offset : offset + length] == bytes([length % 256]) * length


@given(lengths=st.lists(st.integers(0, 2**40), max_size=6), head=st.integers(40, 2**20))
def test_layout_uses_64_bit_offsets_and_minimal_padding(lengths: list[int], head: int) -> None:
    offsets, end = _layout(head, lengths)
    previous = head
    for offset, length in zip(offsets, lengths, strict=True):
        assert offset % ALIGNMENT == 0 and 0 <= offset - previous < ALIGNMENT
        previous = offset + length
    assert end == previous
    packed = struct.pack(f"<{len(offsets)}Q", *offsets)  # every offset fits in a u64
    assert list(struct.unpack(f"<{len(offsets)}Q", packed)) == offsets


def test_parts_join_to_dumps_and_only_the_head_is_new_memory() -> None:
    codec = Codec(oob_threshold=1024)
    value = {"a": np.ones(5000), "b": bytes(4096), "c": "x" * 3000, "d": memoryview(bytes(2048))}
    parts = codec.dumps_buffers(value)
    assert b"".join(parts) == codec.dumps(value)
    assert parts[1].obj is not None and np.shares_memory(
        np.frombuffer(parts[1], np.uint8), value["a"]
    )
    assert codec.loads(b"".join(parts))["c"] == "x" * 3000


def test_threshold_zero_sends_every_buffer_out_of_band() -> None:
    codec = Codec(oob_threshold=0)
    value = [b"", b"a", bytearray(b"bc"), np.zeros(0), "", "s"]
    data = codec.dumps(value)
    assert read_header(data)[6] == 6
    restored = codec.loads(data)
    assert restored[:3] == value[:3] and type(restored[2]) is bytearray
    assert restored[4:] == ["", "s"]


def test_invalid_threshold_is_rejected() -> None:
    with pytest.raises(ValueError):
        Codec(oob_threshold=-1)
    with pytest.raises(ValueError):
        Codec(oob_threshold=2**31)


class TrickleWriter(io.RawIOBase):
    """A raw stream that accepts at most 1000 bytes per write call."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk: Any) -> int:
        piece = bytes(chunk[:1000])
        self.data += piece
        return len(piece)


class TrickleReader(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.source = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        piece = self.source.read(min(len(target), 777))
        target[: len(piece)] = piece
        return len(piece)


def test_dump_and_load_handle_short_writes_and_reads() -> None:
    codec = Codec()
    value = {"w": np.arange(100_000, dtype=np.int32)}
    writer = TrickleWriter()
    codec.dump(value, writer)
    assert bytes(writer.data) == codec.dumps(value)
    restored = codec.load(TrickleReader(bytes(writer.data)))
    np.testing.assert_array_equal(restored["w"], value["w"])


def test_load_refuses_claimed_size_over_the_limit() -> None:
    header = HEADER.pack(b"SPKC", 1, 0, 0, 0, 0, 0, 2**63)
    with pytest.raises(errors.LimitExceededError):
        Codec().load(io.BytesIO(header))


def test_array_over_4_gib_round_trips_through_sparse_files(tmp_path: Path) -> None:
    size = (1 << 32) + 4096 + 3  # > 4 GiB, never resident: both files are sparse
    source_path, frame_path = tmp_path / "array.bin", tmp_path / "frame.bin"
    with open(source_path, "wb") as handle:
        handle.truncate(size)
    big = np.memmap(source_path, dtype=np.uint8, mode="r+", shape=(size,))
    marker = (1 << 32) + 7
    big[marker] = 42
    big[-1] = 9

    parts = Codec().dumps_buffers({"big": big, "note": "sparse"})
    assert np.shares_memory(np.frombuffer(parts[1], np.uint8), big)  # not copied
    total = read_header(parts[0])[7]
    offset, length = struct.unpack_from("<QQ", parts[0], HEADER_SIZE)
    assert length == size and total == offset + size > 1 << 32

    with open(frame_path, "wb") as handle:
        handle.write(parts[0])
        handle.truncate(total)
        for position in (marker, size - 1):
            handle.seek(offset + position)
            handle.write(bytes([big[position]]))
    with open(frame_path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    restored = Codec().loads(mapped)
    array = restored["big"]
    assert restored["note"] == "sparse" and array.shape == (size,) and array.flags.writeable
    assert array[marker] == 42 and array[-1] == 9 and array[marker + 1] == 0
    del array, restored, big
