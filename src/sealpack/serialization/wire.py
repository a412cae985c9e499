"""Wire constants of the codec frame: msgpack options and ext type codes.

See docs/spec/codec.md for the byte layout these constants belong to.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

__all__ = ["PACK_OPTIONS", "RAW_EXTS", "UNPACK_OPTIONS", "Ext", "OobKind"]


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
