"""The decoder: rebuilds objects from a parsed frame, trusting nothing in it.

msgpack parses each section with ext values deferred; a walk then checks
depth, item counts and value types and decodes each ext at its known depth.
Before msgpack builds anything, a skip pass (which builds nothing) proves every
container's claimed elements are present, and the unpack limits are sized to the
input: msgpack pre-sizes each array it starts, so unproven claims in a few KB of
nested array headers would otherwise cost tens of MiB.
Types named by the frame are looked up only in the receiver's registry;
nothing is imported. Arrays over out-of-band buffers are views into the
input (writable exactly when the input is writable).
"""

from __future__ import annotations

import argparse
import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import msgpack

from sealpack.errors import DecodeError, LimitExceededError, SealpackError, UnknownTypeError
from sealpack.serialization import builtins as bi
from sealpack.serialization.frame import Frame
from sealpack.serialization.limits import DecodeLimits, check_limit
from sealpack.serialization.numpy_types import array_from_bytes, dtype_from_wire, scalar_from_wire
from sealpack.serialization.registry import Registry
from sealpack.serialization.wire import RAW_EXTS, UNPACK_OPTIONS, Ext, OobKind

__all__ = ["Decoder"]

_MAX_TYPE_NAME = 1024
_SMALL_SECTION = 512
"""Sections up to this size skip the proving pass: msgpack's pre-sizing of unproven
claims is bounded by (size / 1 level per byte) * size slots = 2 MiB at worst."""
Handler = Callable[["Decoder", Any, int], Any]


class _Pending:
    """An ext value seen by msgpack, decoded later once its depth is known."""

    __slots__ = ("code", "data")

    def __init__(self, code: int, data: bytes) -> None:
        self.code = code
        self.data = data


_SCALARS = frozenset({int, float, bool, type(None), str, bytes})
_NESTED = frozenset({list, dict, _Pending})
_ALLOWED = _SCALARS | _NESTED
_PENDING_ONLY = {_Pending}
_EMPTY_ARRAY = b"\x90"
_EXT_CODES = frozenset(int(code) for code in Ext)
_RAW_CODES = frozenset(int(code) for code in RAW_EXTS)  # plain ints: IntEnum hashing is slow


class Decoder:
    """One decoding pass over a parsed frame."""

    def __init__(self, registry: Registry, limits: DecodeLimits, frame: Frame, writable: bool):
        self._registry = registry
        self._limits = limits
        self._frame = frame
        self._writable = writable
        self._items = 0
        self._used = [False] * len(frame.buffers)
        self._types = _read_type_table(frame.types, limits)
        self._small: msgpack.Unpacker | None = None
        self._small_fed = 0

    def run(self) -> Any:
        """Decode the root value.

        Raises:
            DecodeError / UnknownTypeError / LimitExceededError: on any bad input.
        """
        root = self._resolve(self._unpack(self._frame.body), 0)
        if not all(self._used):
            raise DecodeError("malformed frame: an out-of-band buffer is never referenced")
        return root

    def _unpack(self, data: Any) -> Any:
        try:
            size = len(data)
            if size > _SMALL_SECTION:
                size = _check_complete(data)
            return msgpack.unpackb(data, **_unpack_options(size, self._limits.max_container_length))
        except SealpackError:
            raise
        except msgpack.StackError as error:
            raise LimitExceededError("msgpack nesting exceeds the decoder stack") from error
        except Exception as error:
            raise DecodeError(
                f"malformed frame: invalid msgpack ({type(error).__name__})"
            ) from error

    def _unpack_small(self, data: bytes) -> Any:
        """Unpack a small ext payload with one reused Unpacker (limits sized to
        _SMALL_SECTION); the payload must be exactly one value."""
        unpacker = self._small
        if unpacker is None:
            unpacker = self._small = msgpack.Unpacker(
                max_buffer_size=_SMALL_SECTION,
                **_unpack_options(_SMALL_SECTION, self._limits.max_container_length),
            )
        unpacker.feed(data)
        value = unpacker.unpack()  # OutOfData / ValueError: the caller's DecodeError
        self._small_fed += len(data)
        if unpacker.tell() != self._small_fed:
            raise DecodeError("malformed frame: extra data after an ext payload")
        return value

    def _resolve(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is list:
            return self._resolve_list(value, self._enter(len(value), depth))
        if kind is dict:
            return self._resolve_dict(value, self._enter(len(value), depth))
        if kind is _Pending:
            return self._decode_ext(value, depth)
        _check_kinds({kind})
        return value

    def _enter(self, length: int, depth: int) -> int:
        depth += 1
        if depth > self._limits.max_depth:
            raise LimitExceededError(f"nesting depth exceeds the limit of {self._limits.max_depth}")
        self._items += length
        check_limit("number of items", self._items, self._limits.max_items)
        return depth

    def _resolve_list(self, items: list[Any], depth: int) -> list[Any]:
        kinds = set(map(type, items))
        if kinds <= _SCALARS:
            return items
        _check_kinds(kinds)
        if kinds == _PENDING_ONLY:  # e.g. a list of tuples
            decode_ext = self._decode_ext
            return [decode_ext(item, depth) for item in items]
        resolve = self._resolve
        for index, item in enumerate(items):
            if type(item) in _NESTED:
                items[index] = resolve(item, depth)
        return items

    def _resolve_dict(self, mapping: dict[Any, Any], depth: int) -> dict[Any, Any]:
        key_kinds = set(map(type, mapping))
        value_kinds = set(map(type, mapping.values()))
        if key_kinds <= _SCALARS and value_kinds <= _SCALARS:
            return mapping
        _check_kinds(key_kinds | value_kinds)
        if key_kinds <= _SCALARS:
            for key, item in mapping.items():
                if type(item) in _NESTED:
                    mapping[key] = self._resolve(item, depth)
            return mapping
        return {
            self._resolve(key, depth): self._resolve(item, depth) for key, item in mapping.items()
        }

    def _decode_ext(self, pending: _Pending, depth: int) -> Any:
        code = pending.code
        try:
            if code in _RAW_CODES:
                value: Any = pending.data
            else:
                data = pending.data
                value = (
                    self._unpack_small(data)
                    if len(data) <= _SMALL_SECTION
                    else (self._unpack(data))
                )
                if type(value) is list and _SCALARS.issuperset(map(type, value)):
                    self._enter(len(value), depth)  # a flat payload (tuple, datetime, ...)
                else:
                    value = self._resolve(value, depth)
            return _BY_CODE[code](self, value, depth)
        except SealpackError:
            raise
        except RecursionError as error:
            raise LimitExceededError("nesting too deep for the interpreter stack") from error
        except Exception as error:
            raise DecodeError(
                f"malformed frame: invalid {Ext(code).name.lower()} value ({type(error).__name__})"
            ) from error

    def buffer(self, index: Any) -> memoryview:
        """The out-of-band buffer ``index``; each may be referenced once."""
        if type(index) is not int or not 0 <= index < len(self._used):
            raise DecodeError("malformed frame: buffer index out of range")
        if self._used[index]:
            raise DecodeError("malformed frame: buffer referenced twice")
        self._used[index] = True
        return self._frame.buffers[index]

    def custom(self, value: Any) -> Any:
        """Rebuild a registered type from [type index, data]."""
        index, data = _pair(value)
        if type(index) is not int or not 0 <= index < len(self._types):
            raise DecodeError("malformed frame: type table index out of range")
        name = self._types[index]
        recompose = self._registry.decoder_for(name)
        if recompose is None:
            raise UnknownTypeError(
                f"frame contains type {name[:200]!r}, which is not registered here; "
                "register a decomposer for it on the receiving side (fobs.register, "
                "fobs.register_data_classes or fobs.register_enum_types) before loading"
            )
        return recompose(data)

    def inline_bytes(self, data: bytes) -> bytes | bytearray:
        """Inline array data: a private writable copy when the input is writable."""
        return bytearray(data) if self._writable else data


def _defer_ext(code: int, data: bytes) -> _Pending:
    if code not in _EXT_CODES:
        raise DecodeError(f"malformed frame: unknown ext type code {code}")
    return _Pending(code, data)


def _check_kinds(kinds: set[type]) -> None:
    if not kinds <= _ALLOWED:
        raise DecodeError("malformed frame: value of an unexpected msgpack type")


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


def _check_complete(data: Any) -> int:
    """Skip over one msgpack value without building it; return the input size.

    Raises msgpack's OutOfData / StackError / ValueError when a claim is not backed by
    bytes, or the nesting exceeds msgpack's stack: refused before any allocation.
    """
    view = memoryview(data).cast("B")
    size = max(len(view), 1)
    unpacker = msgpack.Unpacker(_ViewReader(view), max_buffer_size=size, **_sized_limits(size))
    unpacker.skip()
    return size


def _sized_limits(size: int, max_length: int | None = None) -> dict[str, int]:
    """msgpack length limits no larger than the input can back (one byte per element)."""
    length = size if max_length is None else min(size, max_length)
    return {
        "max_str_len": size,
        "max_bin_len": size,
        "max_ext_len": size,
        "max_array_len": length,
        "max_map_len": min(length, size // 2),
    }


@functools.lru_cache(maxsize=1024)
def _unpack_options(size: int, max_length: int) -> dict[str, Any]:
    """All unpackb keyword arguments for a section of ``size`` bytes (cached: ext payloads
    of one shape repeat)."""
    return {**UNPACK_OPTIONS, "ext_hook": _defer_ext, **_sized_limits(size, max_length)}


def _read_type_table(section: memoryview, limits: DecodeLimits) -> list[str]:
    if section == _EMPTY_ARRAY:  # no registered types: the common case
        return []
    try:
        size = _check_complete(section)
        names = msgpack.unpackb(
            section, **UNPACK_OPTIONS, **_sized_limits(size, limits.max_type_names)
        )
    except Exception as error:
        raise DecodeError("malformed frame: unreadable type table") from error
    if type(names) is list and len(names) > limits.max_type_names:
        check_limit("type table size", len(names), limits.max_type_names)
    if type(names) is not list or not all(type(name) is str for name in names):
        raise DecodeError("malformed frame: the type table must be a list of strings")
    check_limit("type table size", len(names), limits.max_type_names)
    if len(set(names)) != len(names) or any(len(name) > _MAX_TYPE_NAME for name in names):
        raise DecodeError("malformed frame: duplicate or overlong type names")
    return names


def _pair(value: Any) -> list[Any]:
    if type(value) is not list or len(value) != 2:
        raise DecodeError("malformed frame: expected a two-element payload")
    return value


def _items(kind: type) -> Handler:
    def handle(decoder: Decoder, value: Any, depth: int) -> Any:
        if type(value) is not list:
            raise DecodeError(f"malformed frame: {kind.__name__} payload must be an array")
        return kind(value)

    return handle


def _mapping(decoder: Decoder, value: Any, depth: int) -> Any:
    if type(value) is not dict:
        raise DecodeError("malformed frame: mapping payload must be a map")
    return value


def _namespace(decoder: Decoder, value: Any, depth: int) -> argparse.Namespace:
    mapping = _mapping(decoder, value, depth)
    if not all(type(key) is str for key in mapping):
        raise DecodeError("malformed frame: Namespace keys must be strings")
    return argparse.Namespace(**mapping)


def _oob(decoder: Decoder, value: Any, depth: int) -> Any:
    kind, index = _pair(value)
    view = decoder.buffer(index)
    if kind == OobKind.BYTES:
        return view.tobytes()
    if kind == OobKind.BYTEARRAY:
        return bytearray(view)
    if kind == OobKind.MEMORYVIEW:
        return view
    if kind == OobKind.STR:
        return str(view, "utf-8", "surrogatepass")
    raise DecodeError("malformed frame: unknown out-of-band buffer kind")


def _ndarray(decoder: Decoder, value: Any, depth: int) -> Any:
    if type(value) is not list or len(value) != 4:
        raise DecodeError("malformed frame: array payload must have 4 fields")
    descr, shape, fortran, data = value
    dtype = dtype_from_wire(descr)
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        raise DecodeError("malformed frame: array shape must be non-negative integers")
    if type(fortran) is not bool:
        raise DecodeError("malformed frame: array order flag must be a boolean")
    if type(data) is bytes:
        buffer: Any = decoder.inline_bytes(data)
    else:
        buffer = decoder.buffer(data)
    return array_from_bytes(dtype, shape, fortran, buffer)


def _npscalar(decoder: Decoder, value: Any, depth: int) -> Any:
    descr, data = _pair(value)
    if type(data) is not bytes:
        raise DecodeError("malformed frame: numpy scalar data must be bytes")
    return scalar_from_wire(dtype_from_wire(descr), data)


def _memoryview(decoder: Decoder, value: bytes, depth: int) -> memoryview:
    return memoryview(decoder.inline_bytes(value))


def _plain(function: Callable[[Any], Any]) -> Handler:
    return lambda decoder, value, depth: function(value)


_HANDLERS: dict[Ext, Handler] = {
    Ext.TUPLE: _items(tuple),
    Ext.SET: _items(set),
    Ext.FROZENSET: _items(frozenset),
    Ext.ORDERED_DICT: lambda decoder, value, depth: OrderedDict(_mapping(decoder, value, depth)),
    Ext.NAMESPACE: _namespace,
    Ext.BYTEARRAY: _plain(bytearray),
    Ext.MEMORYVIEW: _memoryview,
    Ext.OOB: _oob,
    Ext.BIGINT: _plain(bi.decode_bigint),
    Ext.COMPLEX: _plain(bi.decode_complex),
    Ext.DATETIME: _plain(bi.decode_datetime),
    Ext.DATE: _plain(bi.decode_date),
    Ext.TIME: _plain(bi.decode_time),
    Ext.TIMEDELTA: _plain(bi.decode_timedelta),
    Ext.DECIMAL: _plain(bi.decode_decimal),
    Ext.UUID: _plain(bi.decode_uuid),
    Ext.NDARRAY: _ndarray,
    Ext.NPSCALAR: _npscalar,
    Ext.CUSTOM: lambda decoder, value, depth: decoder.custom(value),
}
_BY_CODE: dict[int, Handler] = {int(code): handler for code, handler in _HANDLERS.items()}
