"""msgpack parsing under limits sized to the input, and the type-table section.

msgpack pre-sizes each array it starts, so unproven claims in a few KB of nested
array headers would cost tens of MiB: ``check_complete`` (a skip pass that builds
nothing) proves every claimed element is present first, and the unpack limits are
never larger than the input can back (one byte per element).
"""

from __future__ import annotations

import functools
from typing import Any

import msgpack

from sealpack.errors import DecodeError
from sealpack.serialization.limits import DecodeLimits, check_limit
from sealpack.serialization.wire import UNPACK_OPTIONS

__all__ = ["check_complete", "read_type_table", "sized_limits", "unpack_options"]

_MAX_TYPE_NAME = 1024
_EMPTY_ARRAY = b"\x90"
_FEED_LIMIT = 1 << 20
"""Sections up to this size are fed to the skip pass as one copy (cheap); larger ones
are streamed from the view without a copy."""


class _ViewReader:
    """A file-like reader over a buffer, so msgpack's Unpacker streams it without a copy."""

    __slots__ = ("_position", "_view")

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._position = 0

    def read(self, size: int) -> bytes:
        chunk = self._view[self._position : self._position + size]
        self._position += len(chunk)
        return bytes(chunk)


def check_complete(data: Any) -> int:
    """Skip over one msgpack value without building it; return the input size.

    Raises msgpack's OutOfData / StackError / ValueError when a claim is not backed by
    bytes, or the nesting exceeds msgpack's stack: refused before any allocation.
    """
    size = max(len(data), 1)
    if size <= _FEED_LIMIT:
        unpacker = msgpack.Unpacker(max_buffer_size=size, **sized_limits(size))
        unpacker.feed(data)
    else:
        view = memoryview(data).cast("B")
        unpacker = msgpack.Unpacker(_ViewReader(view), max_buffer_size=size, **sized_limits(size))
    unpacker.skip()
    return size


@functools.lru_cache(maxsize=1024)
def sized_limits(size: int, max_length: int | None = None) -> dict[str, int]:
    """msgpack length limits no larger than the input can back (one byte per element)."""
    length = size if max_length is None else min(size, max_length)
    return {
        "max_str_len": size,
        "max_bin_len": size,
        "max_ext_len": size,
        "max_array_len": length,
        "max_map_len": min(length, size // 2),
    }


@functools.lru_cache(maxsize=1024)
def unpack_options(size: int, max_length: int) -> dict[str, Any]:
    """All unpackb keyword arguments but ``ext_hook`` for a section of ``size`` bytes
    (cached: ext payloads of one shape repeat)."""
    return {**UNPACK_OPTIONS, **sized_limits(size, max_length)}


def read_type_table(section: memoryview, limits: DecodeLimits) -> list[str]:
    """The frame's type table: distinct names of at most 1024 characters.

    Raises:
        DecodeError: unreadable, not a list of str, duplicates or overlong names.
        LimitExceededError: more names than ``limits.max_type_names``.
    """
    if section == _EMPTY_ARRAY:  # no registered types: the common case
        return []
    try:
        size = check_complete(section)
        names = msgpack.unpackb(
            section, **UNPACK_OPTIONS, **sized_limits(size, limits.max_type_names)
        )
    except Exception as error:
        raise DecodeError("malformed frame: unreadable type table") from error
    if type(names) is list and len(names) > limits.max_type_names:
        check_limit("type table size", len(names), limits.max_type_names)
    if type(names) is not list or not all(type(name) is str for name in names):
        raise DecodeError("malformed frame: the type table must be a list of strings")
    check_limit("type table size", len(names), limits.max_type_names)
    if len(set(names)) != len(names) or any(len(name) > _MAX_TYPE_NAME for name in names):
        raise DecodeError("malformed frame: duplicate or overlong type names")
    return names
