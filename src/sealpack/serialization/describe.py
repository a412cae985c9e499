"""Short descriptions of parsed (unbuilt) values for SchemaError messages.

Nothing here builds a value: arrays are described from their header
(``float64[128, 64]``), registered types by their type-table name.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from sealpack.errors import SealpackError
from sealpack.serialization.numpy_types import dtype_from_wire
from sealpack.serialization.wire import Ext, OobKind

if TYPE_CHECKING:
    from sealpack.serialization.decoder import Decoder

__all__ = ["describe", "dtype_label"]

_PLAIN = {
    type(None): "None",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    bytes: "bytes",
    list: "list",
    dict: "dict",
    tuple: "tuple",
    set: "set",
    frozenset: "frozenset",
    complex: "complex",
    dt.datetime: "datetime",
    dt.date: "date",
    dt.time: "time",
    dt.timedelta: "timedelta",
    Decimal: "Decimal",
    uuid.UUID: "UUID",
}
_EXT = {
    Ext.TUPLE: "tuple",
    Ext.SET: "set",
    Ext.FROZENSET: "frozenset",
    Ext.ORDERED_DICT: "OrderedDict",
    Ext.BYTEARRAY: "bytearray",
    Ext.MEMORYVIEW: "memoryview",
    Ext.BIGINT: "int",
    Ext.COMPLEX: "complex",
    Ext.DATETIME: "datetime",
    Ext.DATE: "date",
    Ext.TIME: "time",
    Ext.TIMEDELTA: "timedelta",
    Ext.DECIMAL: "Decimal",
    Ext.UUID: "UUID",
    Ext.NAMESPACE: "Namespace",
}
_OOB = {OobKind.BYTES: "bytes", OobKind.BYTEARRAY: "bytearray", OobKind.MEMORYVIEW: "memoryview"}
_OOB_NAMES = {int(kind): name for kind, name in {**_OOB, OobKind.STR: "str"}.items()}
_EXT_NAMES = {int(code): name for code, name in _EXT.items()}


def dtype_label(dtype: np.dtype[Any]) -> str:
    """A dtype as messages show it.

    Args:
        dtype: any numpy dtype.

    Returns:
        ``float32`` for plain native dtypes, the dtype's ``str`` (``>f4``) otherwise.
    """
    if dtype.names is None and dtype.subdtype is None and dtype.isnative:
        return str(dtype.name)
    return dtype.str if dtype.names is None else str(dtype)


def describe(decoder: Decoder, value: Any) -> str:
    """What a parsed value is, for a message, without building it.

    Args:
        decoder: the decoder that parsed it (for ext payloads and type names).
        value: a parsed value.

    Returns:
        ``str``, ``float64[3, 4]``, ``registered type 'm.C'``, ... or ``a malformed value``.
    """
    kind = type(value)
    if kind in _PLAIN:
        return _PLAIN[kind]
    code = getattr(value, "code", None)
    if code in _EXT_NAMES:
        return _EXT_NAMES[code]
    try:
        payload = decoder.payload(value)
    except SealpackError:
        return "a malformed value"
    if type(payload) is not list or not payload:
        return "a malformed value"
    return _describe_payload(decoder, code, payload)


def _describe_payload(decoder: Decoder, code: Any, payload: list[Any]) -> str:
    try:
        if code == Ext.OOB:
            return _OOB_NAMES.get(payload[0], "a malformed value")
        if code == Ext.CUSTOM:
            name = decoder.type_name(payload[0])
            return f"registered type {name[:200]!r}" if name else "a malformed value"
        dtype = dtype_from_wire(payload[0])
        if code == Ext.NPSCALAR:
            return f"numpy {dtype_label(dtype)} scalar"
        shape = payload[1] if len(payload) > 1 and type(payload[1]) is list else []
        return f"{dtype_label(dtype)}[{', '.join(map(str, shape[:64]))}]"
    except (SealpackError, TypeError, ValueError):  # e.g. an unhashable or odd field
        return "a malformed value"
