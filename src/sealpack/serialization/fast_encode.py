"""The encoder's fast path for small messages of plain values (docs/spec/codec.md section 7).

A small RPC message is dicts and lists of str, int, float, bool, None and bytes, with a
few tuples and datetimes. :func:`pack_plain` writes such an object into exactly the body
:class:`~sealpack.serialization.encoder.Encoder` gives it, but cheaper: it writes into
one msgpack Packer as it walks (containers of plain values in one call, headers and ext
values of the others directly, no intermediate objects), checks types with C-level scans,
keeps no cycle bookkeeping (nesting stops at ``FAST_DEPTH`` levels, which any cycle
reaches) and runs no user code (so no recursion-limit change is needed).

Anything else raises :class:`NotPlain` and the caller runs the general encoder, which
also gives every error. Like the general encoder's optimistic pass, this one checks
neither int range nor str/bytes length and packs strict UTF-8: the caller redoes the
encoding when msgpack raises or the body reaches the out-of-band threshold.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from itertools import chain, repeat
from operator import countOf
from typing import Any

import msgpack

from sealpack.serialization import builtins as bi
from sealpack.serialization.wire import STRICT_PACK_OPTIONS, Ext, item_packer, packer

__all__ = ["FAST_DEPTH", "NotPlain", "pack_plain"]

FAST_DEPTH = 32
"""Deepest nesting the fast path handles; deeper objects (and cycles) take the general path."""
_KEEP_BUFFER = 1 << 16
"""A thread's Packer is kept for the next call only if its body stayed below this size."""
_LEAVES = frozenset({str, int, float, bool, type(None), bytes})
_TUPLES = {tuple}
_TUPLE = int(Ext.TUPLE)
_DATETIME_CODE = int(Ext.DATETIME)
_UTC = dt.timezone.utc
Handler = Callable[["_Writer", Any, int], None]


class NotPlain(Exception):
    """The object holds something the fast path does not encode: use the general encoder."""


def pack_plain(obj: Any, max_depth: int) -> bytes:
    """Pack ``obj`` into the body the general encoder's optimistic pass gives it.

    Args:
        obj: the object to encode.
        max_depth: the codec's nesting limit (the fast path stops earlier, at FAST_DEPTH).

    Returns:
        The msgpack body.

    Raises:
        NotPlain: a type, or a nesting depth, that the fast path leaves to the general
            encoder. Any other error (msgpack's OverflowError for an int beyond 64 bits,
            UnicodeEncodeError for a lone surrogate, ...) means the same.
    """
    writer: _Writer | None = getattr(_WRITERS, "writer", None)
    _WRITERS.writer = None  # taken: a nested call (none is expected) would make its own
    if writer is None:
        writer = _Writer()
    writer.limit = min(max_depth, FAST_DEPTH)
    try:
        body = writer.run(obj)
    except NotPlain:  # raised between pack calls: the buffer holds what was written so far
        if len(writer.packer.getbuffer()) < _KEEP_BUFFER:
            _WRITERS.writer = writer
        raise
    if len(body) < _KEEP_BUFFER:  # msgpack keeps its buffer's size: do not hold a big one
        _WRITERS.writer = writer
    return body


class _Writer:
    """Writes values into one Packer; ``depth`` counts the containers around a value."""

    __slots__ = ("array", "ext", "limit", "map", "pack", "pack_items", "packer", "payload")

    def __init__(self) -> None:
        self.packer = msgpack.Packer(autoreset=False, **STRICT_PACK_OPTIONS)
        self.pack = self.packer.pack
        self.array = self.packer.pack_array_header
        self.map = self.packer.pack_map_header
        self.ext = self.packer.pack_ext_type
        self.payload = packer(strict=True)  # for ext payloads, which are packed apart
        self.pack_items = item_packer()
        self.limit = FAST_DEPTH

    def run(self, obj: Any) -> bytes:
        self.packer.reset()  # a failed call may have left bytes behind
        self.value(obj, 0)
        body: bytes = self.packer.bytes()
        return body

    def value(self, obj: Any, depth: int) -> None:
        kind = type(obj)
        if kind in _LEAVES:
            self.pack(obj)
        else:
            _HANDLERS.get(kind, _refuse)(self, obj, depth)

    def items(self, obj: list[Any], depth: int) -> None:
        """A list: in one call when all its items are plain."""
        if depth >= self.limit:
            raise NotPlain("deep")
        kinds = _kinds(obj)
        if kinds <= _LEAVES:
            self.pack(obj)
            return
        depth += 1
        self.array(len(obj))
        if (  # e.g. a list of pairs: each tuple's payload packed and written at C level
            kinds == _TUPLES
            and depth < self.limit
            and _LEAVES.issuperset(map(type, chain.from_iterable(obj)))
        ):
            deque(map(self.ext, repeat(_TUPLE), map(self.pack_items, obj)), maxlen=0)
            return
        pack, get = self.pack, _HANDLERS.get
        for item in obj:
            if type(item) in _LEAVES:
                pack(item)
            else:
                get(type(item), _refuse)(self, item, depth)

    def mapping(self, obj: dict[Any, Any], depth: int) -> None:
        if depth >= self.limit:
            raise NotPlain("deep")
        first = next(iter(obj), None)
        plain_keys = (type(first) is str and _all_str(obj)) or _LEAVES.issuperset(map(type, obj))
        if plain_keys and _LEAVES.issuperset(map(type, obj.values())):
            self.pack(obj)
            return
        depth += 1
        self.map(len(obj))
        pack, get, value = self.pack, _HANDLERS.get, self.value
        for key, item in obj.items():
            if plain_keys:
                pack(key)
            else:
                value(key, depth)
            if type(item) in _LEAVES:
                pack(item)
            else:
                get(type(item), _refuse)(self, item, depth)

    def collection(self, code: int, obj: Any, depth: int) -> None:
        """A tuple, set or frozenset: an ext value whose payload is the items' array."""
        if depth >= self.limit:
            raise NotPlain("deep")
        if _LEAVES.issuperset(map(type, obj)):
            self.ext(code, self.pack_items(obj if code == _TUPLE else list(obj)))
            return
        nested = _Writer()  # the payload is packed apart: a Packer of its own
        nested.limit = self.limit
        nested.items(list(obj), depth)
        self.ext(code, nested.packer.bytes())


def _kinds(obj: list[Any]) -> set[type]:
    """The exact types of a non-empty list's items, at C speed."""
    if not obj:
        return set()
    kind = type(obj[0])
    if kind is str and _all_str(obj):
        return {str}
    if kind is type(obj[-1]) and countOf(map(type, obj), kind) == len(obj):
        return {kind}  # one type (the common case), counted without building a set
    return set(map(type, obj))


def _all_str(values: Any) -> bool:
    """True when every value is a str (C speed). A str subclass passes too: the strict
    packer then raises TypeError, and the general encoder takes over. The joined str is
    thrown away at once (as large as the strings, which the body will hold anyway)."""
    try:
        "".join(values)
    except TypeError:
        return False
    return True


def _refuse(writer: _Writer, obj: Any, depth: int) -> None:
    raise NotPlain(type(obj).__name__)


def _collection(ext_code: Ext) -> Handler:
    code = int(ext_code)
    return lambda writer, obj, depth: writer.collection(code, obj, depth)


def _value(ext_code: Ext, to_payload: Callable[[Any], Any]) -> Handler:
    """A leaf value type of builtins.py: raw bytes, or a list of plain values packed."""
    code = int(ext_code)

    def write(writer: _Writer, obj: Any, depth: int) -> None:
        payload = to_payload(obj)
        writer.ext(code, payload if type(payload) is bytes else writer.payload(payload))

    return write


def _datetime(writer: _Writer, obj: dt.datetime, depth: int) -> None:
    """The most common datetime (aware, in UTC) without the general tz conversion."""
    if obj.tzinfo is not _UTC:
        _ANY_DATETIME(writer, obj, depth)
        return
    fields = [obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second]
    writer.ext(_DATETIME_CODE, writer.payload([*fields, obj.microsecond, obj.fold, 0]))


_ANY_DATETIME = _value(Ext.DATETIME, bi.encode_datetime)
_HANDLERS: dict[type, Handler] = {
    dict: _Writer.mapping,
    list: _Writer.items,
    tuple: _collection(Ext.TUPLE),
    set: _collection(Ext.SET),
    frozenset: _collection(Ext.FROZENSET),
    dt.datetime: _datetime,
    dt.date: _value(Ext.DATE, bi.encode_date),
    dt.time: _value(Ext.TIME, bi.encode_time),
    dt.timedelta: _value(Ext.TIMEDELTA, bi.encode_timedelta),
    complex: _value(Ext.COMPLEX, bi.encode_complex),
    Decimal: _value(Ext.DECIMAL, bi.encode_decimal),
    uuid.UUID: _value(Ext.UUID, bi.encode_uuid),
}
_WRITERS = threading.local()
