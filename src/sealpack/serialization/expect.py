"""Typed decoding: ``expect=`` annotations compiled into schema nodes.

``compile_expect(annotation)`` turns an ordinary annotation (or an :class:`Array`,
or a ``like()`` result, serialization/like.py) into a schema ``Spec`` once
(cached); ``Codec.loads(data, expect=...)`` runs its check on the parsed frame
before anything is built. Supported annotations: docs/spec/codec.md section 9.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import types
import typing
import uuid
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from enum import Enum, Flag
from typing import Any

import numpy as np

from sealpack.errors import SchemaError
from sealpack.serialization.decoder import Decoder
from sealpack.serialization.decomposers import flag_mask, type_name
from sealpack.serialization.schema import ANY, Array, Kinds, Mismatch, Spec
from sealpack.serialization.schema_nodes import (
    Fields,
    Items,
    Literals,
    Mapping,
    Members,
    NumpyScalar,
    Registered,
    Sequence,
    Union,
)
from sealpack.serialization.wire import Ext, OobKind

__all__ = ["MAPPINGS", "Array", "Spec", "compile_expect", "schema_check"]

_LIST, _DICT = -1, -2
_NONE = type(None)


def _leaf(
    label: str, plain: tuple[type, ...] = (), codes: tuple[int, ...] = (), oob: Any = ()
) -> Kinds:
    return Kinds(label, frozenset(plain), frozenset(map(int, codes)), frozenset(map(int, oob)))


_LEAVES: dict[Any, Spec] = {
    _NONE: _leaf("None", (_NONE,)),
    bool: _leaf("bool", (bool,)),
    int: _leaf("int", (int,), (Ext.BIGINT,)),
    float: _leaf("float", (float,)),
    str: _leaf("str", (str,), (), (OobKind.STR,)),
    bytes: _leaf("bytes", (bytes,), (), (OobKind.BYTES,)),
    bytearray: _leaf("bytearray", (), (Ext.BYTEARRAY,), (OobKind.BYTEARRAY,)),
    memoryview: _leaf("memoryview", (), (Ext.MEMORYVIEW,), (OobKind.MEMORYVIEW,)),
    complex: _leaf("complex", (complex,), (Ext.COMPLEX,)),
    dt.datetime: _leaf("datetime", (dt.datetime,), (Ext.DATETIME,)),
    dt.date: _leaf("date", (dt.date,), (Ext.DATE,)),
    dt.time: _leaf("time", (dt.time,), (Ext.TIME,)),
    dt.timedelta: _leaf("timedelta", (dt.timedelta,), (Ext.TIMEDELTA,)),
    Decimal: _leaf("Decimal", (Decimal,), (Ext.DECIMAL,)),
    uuid.UUID: _leaf("UUID", (uuid.UUID,), (Ext.UUID,)),
    argparse.Namespace: _leaf("Namespace", (), (Ext.NAMESPACE,)),
    list: _leaf("list", (list,)),
    dict: _leaf("dict", (dict,)),
    tuple: _leaf("tuple", (tuple,), (Ext.TUPLE,)),
    set: _leaf("set", (set,), (Ext.SET,)),
    frozenset: _leaf("frozenset", (frozenset,), (Ext.FROZENSET,)),
    OrderedDict: _leaf("OrderedDict", (), (Ext.ORDERED_DICT,)),
    np.ndarray: Array(),
    np.generic: _leaf("numpy scalar", (), (Ext.NPSCALAR,)),
    Any: ANY,
    object: ANY,
}
_SEQUENCES = {list: _LIST, set: int(Ext.SET), frozenset: int(Ext.FROZENSET)}
MAPPINGS = {dict: _DICT, OrderedDict: int(Ext.ORDERED_DICT)}
"""Container codes of typed maps (-2: a plain msgpack map)."""
_WRAPPERS = tuple(
    getattr(typing, name)
    for name in ("Required", "NotRequired", "ClassVar")
    if hasattr(typing, name)
)
_CACHE: dict[Any, Spec] = {}
_CACHE_SIZE = 512


def compile_expect(annotation: Any) -> Spec:
    """The schema of ``annotation`` (compiled once per hashable annotation).

    Args:
        annotation: a supported type annotation, an :class:`Array`, or a :func:`like` spec.

    Returns:
        The compiled expectation.

    Raises:
        TypeError: an annotation sealpack cannot check (named in the message).
    """
    if isinstance(annotation, Spec):
        return annotation
    try:
        return _CACHE[annotation]
    except TypeError:
        return _Compiler().compile(annotation)
    except KeyError:
        pass
    spec = _Compiler().compile(annotation)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[annotation] = spec
    return spec


def schema_check(spec: Spec) -> Callable[[Decoder, Any], None]:
    """The decoder hook that checks the parsed root against ``spec``.

    Returns:
        A function raising SchemaError (a DecodeError) with the path of the first mismatch.
    """

    def check(decoder: Decoder, value: Any) -> None:
        try:
            spec.check(decoder, value)
        except Mismatch as mismatch:
            raise SchemaError(f"{mismatch.path()}: {mismatch.message}") from None

    return check


class _Compiler:
    """One compilation; classes being compiled are remembered so recursion terminates."""

    def __init__(self) -> None:
        self._classes: dict[type, Spec] = {}

    def compile(self, tp: Any) -> Spec:
        if isinstance(tp, Spec):
            return tp
        try:
            leaf = _LEAVES.get(tp)
        except TypeError:  # an unhashable annotation
            leaf = None
        if leaf is not None:
            return leaf
        if tp is None:
            return _LEAVES[_NONE]
        origin = typing.get_origin(tp)
        if origin is not None:
            return self._generic(tp, origin, typing.get_args(tp))
        if isinstance(tp, type):
            return self._class(tp)
        raise TypeError(f"expect: unsupported annotation {tp!r}")

    def _generic(self, tp: Any, origin: Any, args: tuple[Any, ...]) -> Spec:
        if origin is typing.Annotated:
            return self._annotated(args[0], args[1:])
        if origin in (typing.Union, types.UnionType):
            options = [self.compile(arg) for arg in args]
            return Union(" | ".join(option.label for option in options), options)
        if origin is typing.Literal:
            return _literal(args)
        if origin in _WRAPPERS:
            return self.compile(args[0])
        if origin in _SEQUENCES:
            item = self.compile(args[0]) if args else ANY
            return Sequence(f"{origin.__name__}[{item.label}]", _SEQUENCES[origin], item)
        if origin is tuple:
            return self._tuple(args)
        if origin in MAPPINGS:
            key, value = (self.compile(args[0]), self.compile(args[1])) if args else (ANY, ANY)
            label = f"{origin.__name__}[{key.label}, {value.label}]"
            return Mapping(label, MAPPINGS[origin], key, value)
        if origin is np.ndarray:
            return Array(dtype=_ndarray_dtype(args))
        raise TypeError(f"expect: unsupported annotation {tp!r}")

    def _annotated(self, base: Any, metadata: tuple[Any, ...]) -> Spec:
        for item in metadata:
            if isinstance(item, Array):
                dtype = _ndarray_dtype(typing.get_args(base)) if item.dtype is None else item.dtype
                return Array(dtype=dtype, shape=item.shape)
            if isinstance(item, Spec):
                return item
        return self.compile(base)

    def _tuple(self, args: tuple[Any, ...]) -> Spec:
        code = int(Ext.TUPLE)
        if len(args) == 2 and args[1] is Ellipsis:
            item = self.compile(args[0])
            return Sequence(f"tuple[{item.label}, ...]", code, item)
        items = [] if args == ((),) else [self.compile(arg) for arg in args]
        return Items(f"tuple[{', '.join(item.label for item in items)}]", code, items)

    def _class(self, cls: type) -> Spec:
        if cls in self._classes:
            return self._classes[cls]
        if issubclass(cls, np.generic):
            return NumpyScalar(np.dtype(cls))
        if typing.is_typeddict(cls) or (
            issubclass(cls, dict) and hasattr(cls, "__required_keys__")
        ):
            return self._fields(cls, Fields(cls.__name__, _DICT, {}, set()), cls)
        name = type_name(cls)
        if dataclasses.is_dataclass(cls):
            data = Fields(cls.__qualname__, _DICT, {}, set())
            spec: Spec = Registered(cls.__qualname__, name, data, form="fields")
            self._classes[cls] = spec
            self._fields(cls, data, cls)
            return spec
        if issubclass(cls, Enum):
            mask = flag_mask(cls) if issubclass(cls, Flag) else None
            values = [member.value for member in cls.__members__.values()]
            return Members(cls.__qualname__, name, values, mask)
        if issubclass(cls, tuple) and hasattr(cls, "_fields"):
            return self._named_tuple(cls, name)
        # A decomposer's data is its own (a pydantic model's: checked by model_validate).
        return Registered(cls.__qualname__, name, ANY)

    def _fields(self, cls: type, spec: Fields, owner: type) -> Spec:
        self._classes.setdefault(owner, spec)
        hints = typing.get_type_hints(cls, include_extras=True)
        if dataclasses.is_dataclass(cls):
            names = [field.name for field in dataclasses.fields(cls)]
            required = set(names)
        else:
            names = list(hints)
            required = set(getattr(cls, "__required_keys__", names))
            for key, hint in hints.items():  # the class misses string (PEP 563) markers
                marker = getattr(typing.get_origin(hint), "_name", None)
                if marker == "Required":
                    required.add(key)
                elif marker == "NotRequired":
                    required.discard(key)
        spec.fields.update({key: self.compile(hints.get(key, Any)) for key in names})
        spec.required = frozenset(required)
        return spec

    def _named_tuple(self, cls: type, name: str) -> Spec:
        hints = typing.get_type_hints(cls, include_extras=True)
        fields: tuple[str, ...] = getattr(cls, "_fields", ())
        plain = Items(cls.__qualname__, int(Ext.TUPLE), [])
        spec = Union(cls.__qualname__, [Registered(cls.__qualname__, name, ANY), plain])
        self._classes[cls] = spec
        plain.items.extend(self.compile(hints.get(field, Any)) for field in fields)
        return spec


def _literal(values: tuple[Any, ...]) -> Spec:
    plain = [v for v in values if type(v) in (str, int, bool, bytes) or v is None]
    members = [(type_name(type(v)), v.value) for v in values if isinstance(v, Enum)]
    if len(plain) + len(members) != len(values):
        raise TypeError(f"expect: unsupported Literal values {values!r}")
    return Literals(f"Literal[{', '.join(map(repr, values))}]", plain, members)


def _ndarray_dtype(args: tuple[Any, ...]) -> Any:
    """The dtype of ``numpy.ndarray[shape, numpy.dtype[T]]`` (None when unconstrained)."""
    if len(args) == 2:
        inner = typing.get_args(args[1])
        if inner and isinstance(inner[0], type) and issubclass(inner[0], np.generic):
            return np.dtype(inner[0])
    return None
