"""Temporary interpreter stack headroom for the recursive encode/decode walks.

``sys.setrecursionlimit`` is process-wide, so the codec raises it only while a
call is running and restores it afterwards. Concurrent calls (any thread) share
one lock-protected counter: the first call to need more headroom remembers the
original limit, every call raises it (never lowers it) to what it needs, and
the last one to finish restores the original, unless the limit was changed by
someone else in the meantime, in which case that value is left alone.
"""

from __future__ import annotations

import sys
import threading
from contextlib import suppress

__all__ = ["needed_recursion_limit", "stack_headroom"]

_LOCK = threading.Lock()
_state = {"active": 0, "original": 0, "raised_to": 0}


def needed_recursion_limit(max_depth: int) -> int:
    """The recursion limit that an encode or decode with ``max_depth`` needs.

    Args:
        max_depth: the codec's nesting limit.

    Returns:
        ``8 * max_depth + 1000`` (a few frames per nesting level plus a margin).
    """
    return 8 * max_depth + 1000


class stack_headroom:
    """Keep ``sys.getrecursionlimit() >= needed`` while the ``with`` block runs.

    A class rather than a generator context manager: it runs twice per codec call.

    Args:
        needed: the minimum recursion limit for the block.
    """

    __slots__ = ("_needed",)

    def __init__(self, needed: int) -> None:
        self._needed = needed

    def __enter__(self) -> None:
        _enter(self._needed)

    def __exit__(self, *exc_info: object) -> None:
        _leave()


def _enter(needed: int) -> None:
    with _LOCK:
        current = sys.getrecursionlimit()
        if _state["active"] == 0:
            _state["original"] = _state["raised_to"] = current
        _state["active"] += 1
        if current < needed:
            sys.setrecursionlimit(needed)
            _state["raised_to"] = needed


def _leave() -> None:
    with _LOCK:
        _state["active"] -= 1
        if _state["active"] or sys.getrecursionlimit() != _state["raised_to"]:
            return  # still in use, or someone else set the limit meanwhile: keep it
        with suppress(RecursionError):  # only when called from a very deep stack
            sys.setrecursionlimit(_state["original"])
