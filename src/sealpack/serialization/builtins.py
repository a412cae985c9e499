"""Standard-library value types on the wire (datetime family, Decimal, UUID, ...).

Each type has a pair of functions: ``encode_X(obj)`` returns the ext payload
(raw bytes or plain msgpack data) and ``decode_X(payload)`` rebuilds the value,
raising ValueError/TypeError on anything malformed (the decoder maps those to
DecodeError).
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from decimal import Decimal
from typing import Any

from sealpack.errors import SerializationTypeError

__all__ = [
    "decode_bigint",
    "decode_complex",
    "decode_date",
    "decode_datetime",
    "decode_decimal",
    "decode_time",
    "decode_timedelta",
    "decode_uuid",
    "encode_bigint",
    "encode_complex",
    "encode_date",
    "encode_datetime",
    "encode_decimal",
    "encode_time",
    "encode_timedelta",
    "encode_uuid",
]

_COMPLEX = struct.Struct("<dd")
_MAX_BIGINT_BYTES = 1 << 20
_MAX_DECIMAL_CHARS = 1 << 16
_INT = frozenset({int})
_UTC = dt.timezone.utc


def _ints(value: Any, count: int) -> list[int]:
    if type(value) is not list or len(value) != count:
        raise ValueError("wrong number of fields")
    if not _INT.issuperset(map(type, value)):
        raise ValueError("fields must be integers")
    return value


def _encode_tz(tz: dt.tzinfo | None) -> int | None:
    if tz is None:
        return None
    if type(tz) is not dt.timezone:
        raise SerializationTypeError(
            f"can not serialize tzinfo of type {type(tz).__name__!r}; only datetime.timezone "
            "(fixed offsets) is supported: convert with .astimezone(datetime.timezone.utc)"
        )
    offset = tz.utcoffset(None)
    return (offset.days * 86400 + offset.seconds) * 1_000_000 + offset.microseconds


def _decode_tz(value: Any) -> dt.timezone | None:
    if value is None:
        return None
    if type(value) is not int:
        raise ValueError("timezone offset must be an integer")
    if value == 0:
        return _UTC  # what dt.timezone(dt.timedelta(0)) returns, without building it
    return dt.timezone(dt.timedelta(microseconds=value))


def encode_datetime(obj: dt.datetime) -> list[Any]:
    """[year, month, day, hour, minute, second, microsecond, fold, utcoffset_us | nil]."""
    fields = [obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second, obj.microsecond]
    return [*fields, obj.fold, _encode_tz(obj.tzinfo)]


def decode_datetime(value: Any) -> dt.datetime:
    """Inverse of encode_datetime."""
    if type(value) is not list or len(value) != 9:
        raise ValueError("datetime needs 9 fields")
    if not _INT.issuperset(map(type, value[:8])):
        raise ValueError("fields must be integers")
    y, mo, d, h, mi, s, us, fold, tz = value
    tzinfo = _UTC if type(tz) is int and tz == 0 else _decode_tz(tz)
    if fold == 0:  # almost always: positional arguments only (the faster call)
        return dt.datetime(y, mo, d, h, mi, s, us, tzinfo)
    return dt.datetime(y, mo, d, h, mi, s, us, tzinfo, fold=fold)


def encode_date(obj: dt.date) -> list[int]:
    """[year, month, day]."""
    return [obj.year, obj.month, obj.day]


def decode_date(value: Any) -> dt.date:
    """Inverse of encode_date."""
    return dt.date(*_ints(value, 3))


def encode_time(obj: dt.time) -> list[Any]:
    """[hour, minute, second, microsecond, fold, utcoffset_us | nil]."""
    return [obj.hour, obj.minute, obj.second, obj.microsecond, obj.fold, _encode_tz(obj.tzinfo)]


def decode_time(value: Any) -> dt.time:
    """Inverse of encode_time."""
    if type(value) is not list or len(value) != 6:
        raise ValueError("time needs 6 fields")
    h, mi, s, us, fold = _ints(value[:5], 5)
    return dt.time(h, mi, s, us, tzinfo=_decode_tz(value[5]), fold=fold)


def encode_timedelta(obj: dt.timedelta) -> list[int]:
    """[days, seconds, microseconds]."""
    return [obj.days, obj.seconds, obj.microseconds]


def decode_timedelta(value: Any) -> dt.timedelta:
    """Inverse of encode_timedelta (fields must be normalized)."""
    days, seconds, micros = _ints(value, 3)
    if not (0 <= seconds < 86400 and 0 <= micros < 1_000_000):
        raise ValueError("timedelta fields out of range")
    return dt.timedelta(days=days, seconds=seconds, microseconds=micros)


def encode_decimal(obj: Decimal) -> bytes:
    """The decimal's canonical string, ASCII."""
    return str(obj).encode("ascii")


def decode_decimal(data: bytes) -> Decimal:
    """Inverse of encode_decimal (length-limited)."""
    if len(data) > _MAX_DECIMAL_CHARS:
        raise ValueError("decimal string too long")
    return Decimal(data.decode("ascii"))


def encode_uuid(obj: uuid.UUID) -> bytes:
    """The 16 bytes of the UUID."""
    return obj.bytes


def decode_uuid(data: bytes) -> uuid.UUID:
    """Inverse of encode_uuid."""
    if len(data) != 16:
        raise ValueError("UUID must be 16 bytes")
    return uuid.UUID(bytes=bytes(data))


def encode_complex(obj: complex) -> bytes:
    """Real and imaginary parts as two little-endian float64."""
    return _COMPLEX.pack(obj.real, obj.imag)


def decode_complex(data: bytes) -> complex:
    """Inverse of encode_complex."""
    if len(data) != _COMPLEX.size:
        raise ValueError("complex must be 16 bytes")
    real, imag = _COMPLEX.unpack(data)
    return complex(real, imag)


def encode_bigint(obj: int) -> bytes:
    """An int outside msgpack's range as minimal signed big-endian bytes."""
    length = (obj.bit_length() + 8) // 8
    return obj.to_bytes(length, "big", signed=True)


def decode_bigint(data: bytes) -> int:
    """Inverse of encode_bigint (length-limited)."""
    if not 0 < len(data) <= _MAX_BIGINT_BYTES:
        raise ValueError("big integer has a bad length")
    return int.from_bytes(data, "big", signed=True)
