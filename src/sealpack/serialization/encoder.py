"""The encoder: walks an object graph and produces msgpack-ready data.

Plain lists, dicts, str, int (64-bit), float, bool, None and small bytes stay
native msgpack; every other type becomes an ext value; large buffers are
collected for the out-of-band sections. Dispatch is on the exact type, so a
subclass is never mistaken for its base (e.g. numpy.float64 vs float). Leaf types
(numpy values, datetimes, Decimal, ...) are encoded by encode_leaves.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import uuid
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from itertools import chain
from typing import Any

import msgpack
import numpy as np

from sealpack.errors import CycleError, LimitExceededError, SerializationTypeError
from sealpack.serialization import builtins as bi
from sealpack.serialization.encode_leaves import (
    ndarray,
    numpy_scalar,
    raw_ext,
    simple,
    unknown_type_message,
)
from sealpack.serialization.registry import Registry, implicit_encoder, mark_builtin
from sealpack.serialization.wire import Ext, OobKind, packer

__all__ = ["Encoder"]

_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1
_PLAIN_SCALARS = frozenset({float, bool, type(None)})
_SIZED = frozenset({str, bytes})
_PLAIN_KINDS = _PLAIN_SCALARS | _SIZED | {int}
_TUPLE_ONLY = {tuple}
_TUPLE_CODE = int(Ext.TUPLE)
_SMALL = 8
_UNLIMITED = 1 << 62
Handler = Callable[["Encoder", Any], Any]
_new_tuple = tuple.__new__


class Encoder:
    """One encoding pass: call :meth:`encode`, then read ``type_names`` and ``buffers``.

    ``optimistic=True`` skips the per-value checks of str/bytes length and int range
    and packs str as strict UTF-8 (the small-object path): the caller must redo the
    pass without it when msgpack raises OverflowError (an int beyond 64 bits) or
    UnicodeEncodeError (a lone surrogate), or when the packed sections reach the
    threshold (only then can a str or bytes have reached it).
    """

    def __init__(
        self, registry: Registry, threshold: int, max_depth: int, *, optimistic: bool = False
    ) -> None:
        self._registry = registry
        self._threshold = threshold
        self._optimistic = optimistic
        self._inline_limit = _UNLIMITED if optimistic else threshold
        self._max_depth = max_depth
        self._active: set[int] = set()
        self._implicit: dict[type, tuple[str, Callable[[Any], Any]] | None] = {}
        self._type_index: dict[str, int] = {}
        self.type_names: list[str] = []
        self.buffers: list[memoryview] = []
        self._pack = self.pack = packer(strict=optimistic)

    def ext(self, code: Ext | int, payload: Any) -> msgpack.ExtType:
        """An ext value whose payload is ``payload`` (msgpack-native data) packed."""
        ext: msgpack.ExtType = _new_tuple(msgpack.ExtType, (int(code), self._pack(payload)))
        return ext

    def encode(self, obj: Any) -> Any:
        """Return ``obj`` as msgpack-native data (ExtType for non-native values).

        Raises:
            SerializationTypeError: a value of an unregistered type.
            CycleError: the graph contains a reference cycle.
            LimitExceededError: nesting deeper than max_depth.
        """
        kind = type(obj)
        if kind is str:
            if len(obj) < self._inline_limit:
                return obj
            return self._oob(memoryview(obj.encode("utf-8", "surrogatepass")), OobKind.STR)
        if kind is int:
            if _INT_MIN <= obj <= _INT_MAX:
                return obj
            return raw_ext(Ext.BIGINT, bi.encode_bigint(obj))
        if kind is float or kind is bool or obj is None:
            return obj
        if kind is bytes:
            if len(obj) < self._inline_limit:
                return obj
            return self._oob(memoryview(obj), OobKind.BYTES)
        if kind is list:
            return self._nested(obj, self._list)
        if kind is dict:
            return self._nested(obj, self._dict)
        handler = _HANDLERS.get(kind)
        if handler is not None:
            return handler(self, obj)
        return self._other(obj)

    def _nested(self, obj: Any, build: Callable[[Any], Any]) -> Any:
        key = id(obj)
        if key in self._active:
            raise CycleError(
                f"can not serialize a reference cycle (a {type(obj).__name__!r} contains itself)"
            )
        if len(self._active) >= self._max_depth:
            raise LimitExceededError(f"object nesting exceeds max_depth={self._max_depth}")
        self._active.add(key)
        result = build(obj)
        self._active.discard(key)
        return result

    def _list(self, obj: Any) -> Any:
        kinds = set(map(type, obj))
        if self._is_plain(obj, kinds):
            return obj if type(obj) is list else list(obj)
        if kinds == _TUPLE_ONLY and len(self._active) < self._max_depth:
            flat = list(chain.from_iterable(obj))
            if self._is_plain(flat, set(map(type, flat))):  # e.g. a list of pairs
                pack, ext_type = self._pack, msgpack.ExtType
                return [_new_tuple(ext_type, (_TUPLE_CODE, pack(list(item)))) for item in obj]
        encode = self.encode
        return [encode(item) for item in obj]

    def _dict(self, obj: Any) -> dict[Any, Any]:
        if type(obj) is argparse.Namespace:
            obj = vars(obj)
        encode = self.encode
        if self._is_plain(obj, set(map(type, obj))):
            values = obj.values()
            if self._is_plain(values, set(map(type, values))):
                return obj if type(obj) is dict else dict(obj)
            return {key: encode(value) for key, value in obj.items()}
        return {encode(key): encode(value) for key, value in obj.items()}

    def _is_plain(self, values: Any, kinds: set[type]) -> bool:
        """True when msgpack can pack every value as-is (checked at C speed).

        Plain: float, bool, None, 64-bit int, and str / bytes below the threshold.
        ``kinds`` is the set of the values' exact types.
        """
        if kinds <= _PLAIN_SCALARS:
            return True
        if not kinds <= _PLAIN_KINDS:
            return False
        if self._optimistic:
            return True
        mixed = len(kinds) > 1
        if int in kinds:
            ints = [v for v in values if type(v) is int] if mixed else values
            if min(ints) < _INT_MIN or max(ints) > _INT_MAX:
                return False
        for sized in _SIZED & kinds:
            items = [v for v in values if type(v) is sized] if mixed else values
            if max(map(len, items)) >= self._threshold:
                return False
        return True

    def _is_small_plain(self, values: Any) -> bool:
        """:meth:`_is_plain` for a few values (a tuple, a set): one loop, no sets."""
        threshold = self._inline_limit
        for value in values:
            kind = type(value)
            if kind is int:
                if not (_INT_MIN <= value <= _INT_MAX or self._optimistic):
                    return False
            elif kind is str or kind is bytes:
                if len(value) >= threshold:
                    return False
            elif kind not in _PLAIN_SCALARS:
                return False
        return True

    def plain_items(self, obj: Any) -> bool:
        """True when ``obj`` (a tuple, set, frozenset) holds only plain values and one
        more level of nesting is allowed: its payload is packed as a list at once."""
        if len(self._active) >= self._max_depth:
            return False
        if len(obj) <= _SMALL:
            return self._is_small_plain(obj)
        return self._is_plain(obj, set(map(type, obj)))

    def oob_or_inline(self, view: memoryview) -> Any:
        """A buffer index for a large flat byte view, else its bytes inline."""
        if view.nbytes < self._threshold:
            return view.tobytes()
        self.buffers.append(view)
        return len(self.buffers) - 1

    def _oob(self, view: memoryview, kind: OobKind) -> msgpack.ExtType:
        self.buffers.append(view)
        return self.ext(Ext.OOB, [int(kind), len(self.buffers) - 1])

    def _other(self, obj: Any) -> Any:
        kind = type(obj)
        entry = self._registry.encoder_for(kind)
        if entry is None:  # an unregistered dataclass / Enum: encode-only, never registered
            if kind not in self._implicit:
                self._implicit[kind] = implicit_encoder(kind)
            entry = self._implicit[kind]
        if entry is not None:
            name, decompose = entry
            return self._nested(obj, lambda target: self._custom(name, decompose(target)))
        if isinstance(obj, np.generic):
            return numpy_scalar(self, obj)
        raise SerializationTypeError(unknown_type_message(kind))

    def _custom(self, name: str, data: Any) -> msgpack.ExtType:
        index = self._type_index.get(name)
        if index is None:
            index = self._type_index[name] = len(self.type_names)
            self.type_names.append(name)
        return self.ext(Ext.CUSTOM, [index, self.encode(data)])


def _container(ext_code: Ext, as_map: bool) -> Handler:
    code = int(ext_code)
    if as_map:

        def handle_map(encoder: Encoder, obj: Any) -> msgpack.ExtType:
            return encoder.ext(code, encoder._nested(obj, encoder._dict))

        return handle_map

    def handle(encoder: Encoder, obj: Any) -> msgpack.ExtType:
        if encoder.plain_items(obj):  # no nesting inside: no cycle possible
            return encoder.ext(code, list(obj))
        return encoder.ext(code, encoder._nested(obj, encoder._list))

    return handle


def _bytes_like(encoder: Encoder, obj: Any) -> msgpack.ExtType:
    view = memoryview(obj)
    view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
    is_array = type(obj) is bytearray
    if view.nbytes >= encoder._threshold:
        return encoder._oob(view, OobKind.BYTEARRAY if is_array else OobKind.MEMORYVIEW)
    return raw_ext(Ext.BYTEARRAY if is_array else Ext.MEMORYVIEW, view.tobytes())


_HANDLERS: dict[type, Handler] = {
    tuple: _container(Ext.TUPLE, as_map=False),
    set: _container(Ext.SET, as_map=False),
    frozenset: _container(Ext.FROZENSET, as_map=False),
    OrderedDict: _container(Ext.ORDERED_DICT, as_map=True),
    argparse.Namespace: _container(Ext.NAMESPACE, as_map=True),
    bytearray: _bytes_like,
    memoryview: _bytes_like,
    np.ndarray: ndarray,
    np.memmap: ndarray,  # decodes as a plain ndarray
    complex: simple(Ext.COMPLEX, bi.encode_complex),
    dt.datetime: simple(Ext.DATETIME, bi.encode_datetime),
    dt.date: simple(Ext.DATE, bi.encode_date),
    dt.time: simple(Ext.TIME, bi.encode_time),
    dt.timedelta: simple(Ext.TIMEDELTA, bi.encode_timedelta),
    Decimal: simple(Ext.DECIMAL, bi.encode_decimal),
    uuid.UUID: simple(Ext.UUID, bi.encode_uuid),
}
mark_builtin(str, int, float, bool, type(None), bytes, list, dict, *_HANDLERS)
