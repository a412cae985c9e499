"""Wire constants of the codec frame: msgpack options and ext type codes.

See docs/spec/codec.md for the byte layout these constants belong to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import IntEnum
from typing import Any

import msgpack

__all__ = [
    "PACK_OPTIONS",
    "RAW_EXTS",
    "STRICT_PACK_OPTIONS",
    "UNPACK_OPTIONS",
    "Ext",
    "OobKind",
    "item_packer",
    "packer",
]


class Ext(IntEnum):
    """msgpack ext type codes used by the codec (payload formats in the spec)."""

    TUPLE = 1
    SET = 2
    FROZENSET = 3
    ORDERED_DICT = 4
    BYTEARRAY = 5
    MEMORYVIEW = 6
    OOB = 7
    BIGINT = 8
    COMPLEX = 9
    DATETIME = 10
    DATE = 11
    TIME = 12
    TIMEDELTA = 13
    DECIMAL = 14
    UUID = 15
    NAMESPACE = 16
    NDARRAY = 17
    NPSCALAR = 18
    CUSTOM = 19


class OobKind(IntEnum):
    """What an out-of-band buffer reference (Ext.OOB) turns into."""

    BYTES = 0
    BYTEARRAY = 1
    MEMORYVIEW = 2
    STR = 3


#: Ext types whose payload is raw bytes, not a nested msgpack value.
RAW_EXTS = frozenset(
    {Ext.BYTEARRAY, Ext.MEMORYVIEW, Ext.BIGINT, Ext.COMPLEX, Ext.DECIMAL, Ext.UUID}
)

PACK_OPTIONS: dict[str, Any] = {
    "use_bin_type": True,
    "strict_types": True,
    "unicode_errors": "surrogatepass",
    "datetime": False,
}

UNPACK_OPTIONS: dict[str, Any] = {
    "raw": False,
    "use_list": True,
    "strict_map_key": False,
    "unicode_errors": "surrogatepass",
    "timestamp": 0,
}

# No unicode_errors at all: msgpack then takes its fast path for str (the UTF-8 the
# str already caches, no copy); naming any handler, even "strict", encodes each str anew.
STRICT_PACK_OPTIONS = {key: value for key, value in PACK_OPTIONS.items() if key != "unicode_errors"}
_ITEM_OPTIONS = {**STRICT_PACK_OPTIONS, "strict_types": False}
_PACKERS = threading.local()


def packer(strict: bool) -> Callable[[Any], bytes]:
    """This thread's msgpack pack function (a Packer without callbacks is never
    re-entered, so one per thread serves every encoder).

    Args:
        strict: strict UTF-8, msgpack's fast path (no copy of each str); it raises
            UnicodeEncodeError on a lone surrogate, and the caller then redoes the pass
            with the spec's surrogatepass packer (same bytes for every other str).

    Returns:
        ``pack(value) -> bytes`` with the codec's options (PACK_OPTIONS).
    """
    name = "strict" if strict else "surrogatepass"
    pack: Callable[[Any], bytes] | None = getattr(_PACKERS, name, None)
    if pack is None:
        options = STRICT_PACK_OPTIONS if strict else PACK_OPTIONS
        pack = msgpack.Packer(autoreset=True, buf_size=4096, **options).pack
        setattr(_PACKERS, name, pack)
    return pack


def item_packer() -> Callable[[Any], bytes]:
    """This thread's pack function for a tuple of plain values as its msgpack array.

    Strict UTF-8 like ``packer(strict=True)`` but without exact type checks, so a
    tuple packs as an array with no copy into a list. Only for tuples whose items the
    caller has checked to be exactly str, int, float, bool, None or bytes: then the
    bytes equal those of ``packer(strict=True)(list(items))``.

    Returns:
        ``pack(items) -> bytes``.
    """
    pack: Callable[[Any], bytes] | None = getattr(_PACKERS, "items", None)
    if pack is None:
        pack = _PACKERS.items = msgpack.Packer(autoreset=True, **_ITEM_OPTIONS).pack
    return pack
