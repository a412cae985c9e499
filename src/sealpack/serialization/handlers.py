"""Builders of the codec's ext values from their (already resolved) payloads.

One function per ext type code; each receives the decoder (for buffers, inline
bytes, registered types and limits), the payload and its depth. Specified in
docs/spec/codec.md sections 3-5.
"""

from __future__ import annotations

import argparse
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sealpack.errors import DecodeError
from sealpack.serialization import builtins as bi
from sealpack.serialization.hashguard import check_hash_spread
from sealpack.serialization.numpy_types import (
    MAX_DIMS,
    array_from_bytes,
    dtype_from_wire,
    scalar_from_wire,
)
from sealpack.serialization.wire import Ext, OobKind

if TYPE_CHECKING:
    from sealpack.serialization.decoder import Decoder

__all__ = ["BY_CODE", "pair"]

Handler = Callable[["Decoder", Any, int], Any]


def pair(value: Any) -> list[Any]:
    """``value`` if it is a two-element list. Raises: DecodeError otherwise."""
    if type(value) is not list or len(value) != 2:
        raise DecodeError("malformed frame: expected a two-element payload")
    return value


def _items(kind: type) -> Handler:
    hashed = kind is not tuple

    def handle(decoder: Decoder, value: Any, depth: int) -> Any:
        if type(value) is not list:
            raise DecodeError(f"malformed frame: {kind.__name__} payload must be an array")
        if hashed:
            check_hash_spread(value)
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
    kind, index = pair(value)
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
    dtype = dtype_from_wire(descr, sized=True)
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        raise DecodeError("malformed frame: array shape must be non-negative integers")
    if len(shape) > MAX_DIMS:
        raise DecodeError("malformed frame: array has too many dimensions")
    if type(fortran) is not bool:
        raise DecodeError("malformed frame: array order flag must be a boolean")
    decoder.count_array(math.prod(shape), dtype.itemsize)
    if type(data) is bytes:
        buffer: Any = decoder.inline_bytes(data)
    else:
        buffer = decoder.buffer(data)
    return array_from_bytes(dtype, shape, fortran, buffer)


def _npscalar(decoder: Decoder, value: Any, depth: int) -> Any:
    descr, data = pair(value)
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
BY_CODE: dict[int, Handler] = {int(code): handler for code, handler in _HANDLERS.items()}
"""The builder of each ext type code (plain int keys: IntEnum hashing is slow)."""
