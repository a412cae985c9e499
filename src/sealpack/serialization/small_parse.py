"""The parse of a small body (513 to 2048 bytes) without the skip pass.

A body of up to 512 bytes is parsed as it is, a larger one is first proven by a skip
pass (unpacking.py). Up to 2048 bytes this module parses it at once instead, with every
array's length capped so that msgpack's pre-sizing of unproven claims stays within
``PRESIZE_BUDGET`` (docs/spec/codec.md section 7). It reuses pooled Unpackers whose
hooks are those of body_hook.py: ``msgpack.unpackb`` with its dozen keyword arguments
costs more to call than this whole module adds. Any failure raises; the caller then
parses the body again the careful way, which decides and reports.
"""

from __future__ import annotations

from typing import Any

import msgpack

from sealpack.errors import DecodeError
from sealpack.serialization import body_hook
from sealpack.serialization.unpacking import PRESIZE_BUDGET, UNPROVEN_SECTION, sized_limits
from sealpack.serialization.wire import UNPACK_OPTIONS

__all__ = ["parse_small"]

_SIZES = (1024, UNPROVEN_SECTION)
"""Each pooled Unpacker serves bodies up to one of these sizes (its limits fit it)."""
_POOL = 8
_POOLS: dict[tuple[int, int], list[_Parser]] = {}


class _Parser:
    """An Unpacker for bodies of up to ``size`` bytes, with a pooled body hook."""

    __slots__ = ("fed", "hooks", "unpacker")

    def __init__(self, size: int, max_length: int) -> None:
        self.hooks = body_hook.new_hook()
        open_arrays = min(size // 3, 1024)  # more than 15 items: a header of >= 3 bytes
        limits = {
            **sized_limits(size, max_length),
            "max_array_len": min(size, max_length, PRESIZE_BUDGET // open_arrays),
        }
        count = self.hooks.count
        self.unpacker = msgpack.Unpacker(
            ext_hook=self.hooks.hook,
            list_hook=count,
            object_hook=count,
            max_buffer_size=size,
            **UNPACK_OPTIONS,
            **limits,
        )
        self.fed = 0


def parse_small(body: Any, general: body_hook.Hook, max_length: int) -> tuple[Any, int, int]:
    """Parse a body of 513 to 2048 bytes with array lengths capped (no skip pass).

    Args:
        body: the body section.
        general: the decoder's ext hook for what the body hook does not build.
        max_length: the decoder's container length limit.

    Returns:
        ``(root, items the body hook built, containers)``.

    Raises:
        Anything (an array over the cap, malformed input, trailing bytes): the caller
        parses the body again with the skip pass and full limits.
    """
    size = len(body)
    limit = _SIZES[0] if size <= _SIZES[0] else _SIZES[1]
    key = (limit, min(max_length, limit))
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS.setdefault(key, [])
    parser = pool.pop() if pool else _Parser(*key)  # list.pop/append are atomic
    parser.hooks.reset(general, max_length)
    unpacker = parser.unpacker
    unpacker.feed(body)
    root = unpacker.unpack()  # on failure the parser is dropped with its buffer
    parser.fed += size
    if unpacker.tell() != parser.fed:
        raise DecodeError("malformed frame: extra data after the body")
    items, containers = parser.hooks.built()
    if len(pool) < _POOL:
        pool.append(parser)
    return root, items, containers
