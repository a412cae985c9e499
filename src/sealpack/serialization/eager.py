"""Eager decoding of small flat ext values while msgpack parses (the small-object path).

Most ext values in small messages are leaves: a tuple of plain values, a datetime,
a UUID. Deferring each one (to decode it later at its known depth) costs several
microseconds; built right in msgpack's ``ext_hook`` they cost about one. Only
payloads of at most ``EAGER_SIZE`` bytes whose content is plain values are built
here; anything else, or anything that fails, is deferred to the full decoder
(which gives the detailed error).

Hash flooding: msgpack builds maps itself, so an eagerly built *hashable* value
with a hash that is not randomised (tuple, frozenset, complex, UUID, Decimal, big
int) could be a map key that collides with thousands of others before the decoder
sees it. Such values are built eagerly only ``HASHED_BUDGET`` times per frame here,
and tuples as many times again by the body's own hook (body_hook.py): at most twice
that many colliding keys, a bounded cost; the rest are deferred and go through the
decoder's hash check.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgpack

from sealpack.serialization import builtins as bi
from sealpack.serialization.hashguard import check_hash_spread
from sealpack.serialization.wire import Ext

__all__ = ["BUILT_TYPES", "EAGER_SIZE", "HASHED", "HASHED_BUDGET", "PLAIN", "build"]

EAGER_SIZE = 256
HASHED_BUDGET = 256
PLAIN = frozenset({int, float, bool, type(None), str, bytes})
"""Types of the items a leaf built here may hold (msgpack's plain values)."""


class _NotFlat(Exception):
    """A nested ext inside a payload: not a leaf, decode it the full way."""


def _not_flat(code: int, data: bytes) -> Any:
    raise _NotFlat


def _set(items: list[Any]) -> set[Any]:
    check_hash_spread(items)
    return set(items)


def _frozenset(items: list[Any]) -> frozenset[Any]:
    check_hash_spread(items)
    return frozenset(items)


_FROM_LIST: dict[int, Callable[[list[Any]], Any]] = {
    int(Ext.TUPLE): tuple,
    int(Ext.SET): _set,
    int(Ext.FROZENSET): _frozenset,
    int(Ext.DATETIME): bi.decode_datetime,
    int(Ext.DATE): bi.decode_date,
    int(Ext.TIME): bi.decode_time,
    int(Ext.TIMEDELTA): bi.decode_timedelta,
}
_FROM_BYTES: dict[int, Callable[[bytes], Any]] = {
    int(Ext.COMPLEX): bi.decode_complex,
    int(Ext.UUID): bi.decode_uuid,
    int(Ext.BIGINT): bi.decode_bigint,
    int(Ext.DECIMAL): bi.decode_decimal,
}
EAGER = frozenset(_FROM_LIST) | frozenset(_FROM_BYTES)
HASHED = frozenset(int(code) for code in (Ext.TUPLE, Ext.FROZENSET)) | frozenset(_FROM_BYTES)
"""Codes whose eager values are hashable with a hash that is not randomised."""
BUILT_TYPES = frozenset(
    {tuple, set, frozenset, complex, dt.datetime, dt.date, dt.time, dt.timedelta}
    | {uuid.UUID, Decimal}
)
"""Types an eager build can produce (the decoder treats them as finished leaves)."""


def build(code: int, data: bytes, max_length: int) -> tuple[Any, int] | None:
    """Build a small flat ext value now.

    Args:
        code: the ext type code (one of ``EAGER``); data: its payload (<= EAGER_SIZE).
        max_length: the decoder's container length limit.

    Returns:
        ``(value, number of items in its payload)``, or None to defer it.
    """
    try:
        convert = _FROM_LIST.get(code)
        if convert is None:
            return _FROM_BYTES[code](data), 0
        # msgpack's defaults size every limit to the payload (<= EAGER_SIZE bytes); a
        # string that is not strict UTF-8 fails here and takes the full path.
        payload = _unpackb(data, ext_hook=_not_flat)
        if type(payload) is not list or len(payload) > max_length:
            return None
        if not PLAIN.issuperset(map(type, payload)):
            return None
        return convert(payload), len(payload)
    except Exception:  # _NotFlat, or malformed: the full decoder reports it
        return None


_unpackb = msgpack.unpackb
