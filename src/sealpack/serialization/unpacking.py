"""msgpack parsing under limits sized to the input, and the type-table section.

msgpack pre-sizes each array it starts, so unproven claims in a few KB of nested
array headers would cost tens of MiB: ``check_complete`` (a skip pass that builds
nothing) proves every claimed element is present first, and the unpack limits are
never larger than the input can back (one byte per element). Small sections may
skip that pass: their array lengths are capped so that the pre-sizing of unproven
claims stays within ``PRESIZE_BUDGET`` (small_parse.py).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import msgpack

from sealpack.errors import DecodeError
from sealpack.serialization.limits import DecodeLimits, check_limit
from sealpack.serialization.wire import UNPACK_OPTIONS

__all__ = [
    "PRESIZE_BUDGET",
    "UNPROVEN_SECTION",
    "check_complete",
    "read_type_table",
    "sized_limits",
    "unpack_options",
]

_MAX_TYPE_NAME = 1024
_EMPTY_ARRAY = b"\x90"
_FEED_LIMIT = 1 << 20
"""Sections up to this size are fed to the skip pass as one copy (cheap); larger ones
are streamed from the view without a copy."""
_REUSE_LIMIT = 64 * 1024
"""Sections up to this size are skipped by a per-thread Unpacker kept for reuse (its
buffer never grows beyond this)."""


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


class _Skipper:
    """A reusable Unpacker for the skip pass over small sections (creating one costs
    about as much as skipping a few KB). Skipping builds nothing and calls no hook, so
    msgpack's length limits do not apply to it and one instance serves every size."""

    __slots__ = ("fed", "unpacker")

    def __init__(self) -> None:
        self.unpacker = msgpack.Unpacker(max_buffer_size=_REUSE_LIMIT)
        self.fed = 0


_SKIPPERS = threading.local()


def _skip_small(data: Any, size: int) -> None:
    """Skip one value of a section of at most _REUSE_LIMIT bytes with this thread's
    Unpacker. It is taken while in use (a nested call makes its own) and kept only
    when the value ended exactly at the end of ``data`` (nothing left in its buffer)."""
    skipper = getattr(_SKIPPERS, "skipper", None) or _Skipper()
    _SKIPPERS.skipper = None
    unpacker = skipper.unpacker
    unpacker.feed(data)
    unpacker.skip()  # raises on an unbacked claim: the skipper is dropped with its buffer
    skipper.fed += size
    if unpacker.tell() == skipper.fed:
        _SKIPPERS.skipper = skipper


def check_complete(data: Any) -> int:
    """Skip over one msgpack value without building it; return the input size.

    Raises msgpack's OutOfData / StackError / ValueError when a claim is not backed by
    bytes, or the nesting exceeds msgpack's stack: refused before any allocation.
    """
    size = len(data)
    if 0 < size <= _REUSE_LIMIT:
        _skip_small(data, size)
        return size
    size = max(size, 1)
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


PRESIZE_BUDGET = 1 << 18
"""Array slots (8 bytes each: 2 MiB) that msgpack may reserve for unproven claims."""
UNPROVEN_SECTION = 2048
"""Bodies up to this size may be parsed without the skip pass (small_parse.py)."""


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
    if len(section) == 1 and section[0] == _EMPTY_ARRAY[0]:  # no registered types: common
        return []
    try:
        size = check_complete(section)
        names = msgpack.unpackb(
            section, **UNPACK_OPTIONS, **sized_limits(size, limits.max_type_names)
        )
    except Exception:
        raise DecodeError("malformed frame: unreadable type table") from None
    if type(names) is list and len(names) > limits.max_type_names:
        check_limit("type table size", len(names), limits.max_type_names)
    if type(names) is not list or not all(type(name) is str for name in names):
        raise DecodeError("malformed frame: the type table must be a list of strings")
    check_limit("type table size", len(names), limits.max_type_names)
    if len(set(names)) != len(names) or any(len(name) > _MAX_TYPE_NAME for name in names):
        raise DecodeError("malformed frame: duplicate or overlong type names")
    return names
