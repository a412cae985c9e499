"""The codec frame: fixed header, buffer table, msgpack sections, aligned buffers.

Layout (all integers little-endian, offsets from the first byte of the frame)::

    0   4  magic b"SPKC"
    4   1  version (1)
    5   1  flags (0)
    6   2  reserved (0)
    8   8  types_length   length of the type-table msgpack section
    16  8  body_length    length of the root-value msgpack section
    24  8  buffer_count
    32  8  total_length   length of the whole frame
    40  16*buffer_count  (offset u64, length u64) per buffer
    ..  types section, body section, zero padding to a multiple of 64,
        then each buffer at its 64-aligned offset, zero padding between them.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from sealpack.errors import DecodeError
from sealpack.serialization.limits import DecodeLimits, check_limit

__all__ = [
    "ALIGNMENT",
    "HEADER_SIZE",
    "MAGIC",
    "VERSION",
    "Frame",
    "build_frame",
    "flat_view",
    "parse_frame",
    "small_frame",
]

MAGIC = b"SPKC"
VERSION = 1
ALIGNMENT = 64
_HEADER = struct.Struct("<4sBBHQQQQ")
HEADER_SIZE = _HEADER.size  # 40
_ENTRY_SIZE = 16
_ZEROS = memoryview(bytes(ALIGNMENT))


def align(position: int) -> int:
    """Round ``position`` up to the next multiple of ALIGNMENT."""
    return -(-position // ALIGNMENT) * ALIGNMENT


class Frame(NamedTuple):
    """The sections of a parsed frame, as views into the input."""

    types: memoryview
    body: memoryview
    buffers: list[memoryview]


def _layout(head_end: int, lengths: list[int]) -> tuple[list[int], int]:
    offsets: list[int] = []
    end = head_end
    for length in lengths:
        offset = align(end)
        offsets.append(offset)
        end = offset + length
    return offsets, end


def build_frame(types: bytes, body: bytes, buffers: list[memoryview]) -> list[memoryview]:
    """Lay out a frame as a list of parts whose concatenation is the frame.

    Args:
        types: the packed type table.
        body: the packed root value.
        buffers: out-of-band buffers (flat unsigned-byte views); not copied.

    Returns:
        The head (header, table, sections, padding) followed by each buffer
        and the zero padding after it, all as memoryviews.
    """
    lengths = [buffer.nbytes for buffer in buffers]
    head_end = HEADER_SIZE + _ENTRY_SIZE * len(buffers) + len(types) + len(body)
    offsets, total = _layout(head_end, lengths)
    first_offset = offsets[0] if offsets else head_end
    head = bytearray(first_offset)
    _HEADER.pack_into(head, 0, MAGIC, VERSION, 0, 0, len(types), len(body), len(buffers), total)
    if buffers:
        table = [value for pair in zip(offsets, lengths, strict=True) for value in pair]
        struct.pack_into(f"<{2 * len(buffers)}Q", head, HEADER_SIZE, *table)
    start = HEADER_SIZE + _ENTRY_SIZE * len(buffers)
    head[start : start + len(types)] = types
    head[start + len(types) : head_end] = body
    parts = [memoryview(head)]
    for index, buffer in enumerate(buffers):
        parts.append(buffer)
        if index + 1 < len(buffers):
            gap = offsets[index + 1] - offsets[index] - lengths[index]
            if gap:
                parts.append(_ZEROS[:gap])
    return parts


def small_frame(types: bytes, body: bytes) -> bytes:
    """The whole frame of a message without out-of-band buffers, as one bytes object.

    Args:
        types: the packed type table.
        body: the packed root value.

    Returns:
        Exactly ``b"".join(build_frame(types, body, []))``.
    """
    total = HEADER_SIZE + len(types) + len(body)
    header = _HEADER.pack(MAGIC, VERSION, 0, 0, len(types), len(body), 0, total)
    return b"".join((header, types, body))


def parse_frame(data: memoryview, limits: DecodeLimits) -> Frame:
    """Check a frame's header, table and padding; return views of its sections.

    Args:
        data: the whole frame as a flat unsigned-byte memoryview.
        limits: decode limits (total size, buffer count).

    Returns:
        Views of the type table, body and every buffer.

    Raises:
        DecodeError: anything out of place (magic, version, lengths, offsets, padding).
        LimitExceededError: the frame is larger than the limits allow.
    """
    size = len(data)
    if size > limits.max_total_size:
        check_limit("frame size", size, limits.max_total_size)
    if size < HEADER_SIZE:
        raise DecodeError("malformed frame: shorter than the 40-byte header")
    magic, version, flags, reserved, types_len, body_len, count, total = _HEADER.unpack_from(
        data, 0
    )
    if magic != MAGIC:
        raise DecodeError("malformed frame: bad magic (not a sealpack codec frame)")
    if version != VERSION or flags != 0 or reserved != 0:
        raise DecodeError(f"malformed frame: unsupported version {version} or flags {flags}")
    if total != size:
        raise DecodeError(f"malformed frame: header says {total} bytes, input has {size}")
    start = HEADER_SIZE + _ENTRY_SIZE * count
    head_end = start + types_len + body_len
    if count == 0 and head_end == size:  # no out-of-band buffers: nothing else to check
        no_buffers: list[memoryview] = []
        sections = (data[start : start + types_len], data[start + types_len : head_end], no_buffers)
        frame: Frame = _new_frame(Frame, sections)  # NamedTuple's __new__ is Python code
        return frame
    check_limit("buffer count", count, limits.max_buffers)
    if head_end > size:
        raise DecodeError("malformed frame: sections extend past the end of the input")
    return Frame(
        types=data[start : start + types_len],
        body=data[start + types_len : head_end],
        buffers=_buffers(data, head_end, count),
    )


_new_frame = tuple.__new__


def _buffers(data: memoryview, head_end: int, count: int) -> list[memoryview]:
    """Views of the out-of-band buffers, after checking offsets, lengths and padding."""
    table = struct.unpack_from(f"<{2 * count}Q", data, HEADER_SIZE)
    offsets, lengths = list(table[0::2]), list(table[1::2])
    expected_offsets, end = _layout(head_end, lengths)
    if offsets != expected_offsets or end != len(data):
        raise DecodeError("malformed frame: buffer offsets or lengths are inconsistent")
    _check_padding(data, head_end, offsets, lengths)
    return [data[offset : offset + length] for offset, length in zip(offsets, lengths, strict=True)]


def _check_padding(data: memoryview, head_end: int, offsets: list[int], lengths: list[int]) -> None:
    previous_end = head_end
    for offset, length in zip(offsets, lengths, strict=True):
        if data[previous_end:offset] != _ZEROS[: offset - previous_end]:
            raise DecodeError("malformed frame: non-zero padding")
        previous_end = offset + length


def flat_view(data: Any) -> memoryview:
    """The input of a decode as a flat unsigned-byte memoryview (no copy).

    Raises:
        DecodeError: not a bytes-like object, or not contiguous.
    """
    if type(data) is bytes:  # the common case: always flat, contiguous bytes
        return memoryview(data)
    try:
        view = memoryview(data)
    except TypeError as error:
        raise DecodeError(f"expected a bytes-like object, got {type(data).__name__}") from error
    if not view.c_contiguous:
        raise DecodeError("the input buffer must be contiguous")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view
