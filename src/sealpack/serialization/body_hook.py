"""msgpack's ext hook while the body is parsed: the two most common leaves built at once.

Small messages carry tuples (pairs, above all) and datetimes. msgpack calls its ext
hook once per ext value, so every bytecode there counts: this closure builds a small
flat tuple or a datetime with one msgpack call and a few checks (state in closure
cells, not attributes), and hands everything else to the decoder's general hook
(eager.py, which builds the other small leaves or defers them to the walk). Closures
are pooled: a parse takes one (so a parse in another thread, or nested, gets another).

The rules are those of eager.py: a tuple is built here only when its payload has at
most ``EAGER_SIZE`` bytes (so fewer items than ``max_container_length`` allows) and
holds only plain values (no nested array, map, ext value or timestamp), and at most
``HASHED_BUDGET`` tuples per frame (hash flooding through map keys). Anything else,
or anything malformed, goes to the general hook, which defers it or reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import msgpack

from sealpack.serialization.builtins import decode_datetime
from sealpack.serialization.eager import EAGER_SIZE, HASHED_BUDGET, PLAIN
from sealpack.serialization.wire import Ext

__all__ = ["FREE", "POOL", "BodyHook", "may_hold_timestamp", "new_hook"]

Hook = Callable[[int, bytes], Any]
_TUPLE = int(Ext.TUPLE)
_DATETIME = int(Ext.DATETIME)
_DATETIME_SIZE = 64  # nine ints: every real datetime packs into far fewer bytes
_unpackb = msgpack.unpackb
_BEFORE_TIMESTAMP = frozenset({0xD6, 0xD7, 0x04, 0x08, 0x0C})
_FF_LOOKS = 16
FREE: list[BodyHook] = []
"""Hooks not in use; a parse takes one and gives it back when it succeeded."""
POOL = 16


class BodyHook(NamedTuple):
    """A pooled pair of hooks, ``reset(general, max_length)`` before a parse.

    ``hook`` is msgpack's ext hook and ``count`` its list and object hook (it counts the
    body's containers); after the parse ``built()`` gives ``(items, containers)``.
    """

    hook: Hook
    count: Callable[[Any], Any]
    reset: Callable[[Hook, int], None]
    built: Callable[[], tuple[int, int]]


def new_hook() -> BodyHook:
    """A new hook for the pool: take one with ``FREE.pop()`` (a new one when the pool is
    empty), ``reset`` it, parse, and ``FREE.append`` it back after a successful parse
    while the pool holds fewer than ``POOL``."""
    size = -1
    budget = HASHED_BUDGET
    items = containers = 0
    dates = False
    general: Hook = _unset

    def hook(code: int, data: bytes) -> Any:
        nonlocal size, budget, items
        if code == _TUPLE:
            if len(data) <= size:
                try:
                    value = _unpackb(data, use_list=False)  # limits sized to the payload
                except Exception:  # malformed, not strict UTF-8: the general hook decides
                    value = None
                if type(value) is tuple and (
                    ((n := len(value)) == 2 and type(value[0]) in PLAIN and type(value[1]) in PLAIN)
                    or PLAIN.issuperset(map(type, value))
                ):  # nested arrays came back as tuples: not plain
                    items += n
                    budget -= 1
                    if not budget:
                        size = -1
                    return value
        elif code == _DATETIME and dates and len(data) <= _DATETIME_SIZE:
            try:  # decode_datetime checks nine fields: eight ints and a tz int or None
                value = decode_datetime(_unpackb(data))
            except Exception:
                return general(code, data)
            items += 9
            return value
        return general(code, data)

    def count(container: Any) -> Any:
        nonlocal containers
        containers += 1
        return container

    def reset(new_general: Hook, max_length: int) -> None:
        nonlocal size, budget, items, containers, dates, general
        size, budget, items, containers = min(EAGER_SIZE, max_length), HASHED_BUDGET, 0, 0
        dates, general = max_length >= 9, new_general

    def built() -> tuple[int, int]:
        nonlocal general
        general = _unset  # a pooled hook keeps no decoder (nor the plaintext it views)
        return items, containers

    return BodyHook(hook, count, reset, built)


def _unset(code: int, data: bytes) -> Any:
    raise AssertionError("body hook used before reset")


def may_hold_timestamp(body: memoryview) -> bool:
    """True unless ``body`` surely holds no msgpack timestamp (ext -1), which msgpack
    builds itself (no ext hook): every encoding of one has 0xFF right after one of
    the bytes D6, D7 (fixext 4/8) or 04, 08, 0C (the length of an ext 8/16/32). Few
    0xFF bytes are looked at; past that, the walk (which refuses them) runs."""
    data = bytes(body)
    position = data.find(b"\xff", 1)
    for _ in range(_FF_LOOKS):
        if position == -1:
            return False
        if data[position - 1] in _BEFORE_TIMESTAMP:
            return True
        position = data.find(b"\xff", position + 1)
    return position != -1
