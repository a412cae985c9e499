"""Reading one codec frame from a stream in bounded steps (issue 10.6).

A frame's header claims its total length; nothing that large is allocated before
the bytes exist. Each read asks for at most as much as has already arrived (64 KiB
first, at most 64 MiB), so a lying header costs what the stream delivered.
"""

from __future__ import annotations

from typing import IO

from sealpack.errors import DecodeError
from sealpack.serialization.frame import HEADER_SIZE, MAGIC
from sealpack.serialization.limits import check_limit

__all__ = ["read_frame"]

_FIRST_STEP = 1 << 16
_MAX_STEP = 1 << 26


def read_frame(stream: IO[bytes], max_total_size: int) -> bytearray:
    """Read one frame: the header, then steps that grow only with what arrived.

    Args:
        stream: a binary stream positioned at a frame (left just after it).
        max_total_size: the largest frame accepted.

    Returns:
        The frame in a fresh bytearray.

    Raises:
        DecodeError: not a frame, a stream that ends inside it, or a text stream.
        LimitExceededError: the header claims more than ``max_total_size``.
    """
    frame = bytearray()
    _read_into(stream, frame, HEADER_SIZE)
    total = int.from_bytes(frame[32:40], "little")
    if frame[:4] != MAGIC or total < HEADER_SIZE:
        raise DecodeError("malformed frame: not a sealpack codec frame")
    check_limit("frame size", total, max_total_size)
    while len(frame) < total:
        step = min(total - len(frame), max(_FIRST_STEP, min(len(frame), _MAX_STEP)))
        _read_into(stream, frame, step)
    return frame


def _read_into(stream: IO[bytes], frame: bytearray, size: int) -> None:
    """Append exactly ``size`` bytes from ``stream`` to ``frame``."""
    end = len(frame) + size
    while len(frame) < end:
        chunk = stream.read(end - len(frame))
        if not isinstance(chunk, (bytes, bytearray)):
            raise DecodeError("load() needs a binary stream (its read() returned no bytes)")
        if not chunk:
            raise DecodeError("malformed frame: stream ended inside the frame")
        frame += chunk
