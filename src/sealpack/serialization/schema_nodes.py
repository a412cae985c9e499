"""Container, union, literal and registered-type nodes of typed decoding.

Each node checks a parsed value as ``schema.Spec`` describes; ``expect.py`` builds
them from annotations. A registered type is judged by its type-table name before
anything of it is built, and its data by the class's own field annotations
(dataclasses) or not at all (other decomposers: their ``recompose`` validates).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from sealpack.serialization.decoder import Decoder
from sealpack.serialization.describe import dtype_label
from sealpack.serialization.numpy_types import dtype_from_wire
from sealpack.serialization.pending import Pending
from sealpack.serialization.schema import (
    Kinds,
    Mismatch,
    Spec,
    custom_data,
    ext_payload,
    key_segment,
)
from sealpack.serialization.wire import Ext

__all__ = [
    "Fields",
    "Items",
    "Literals",
    "Mapping",
    "Members",
    "NumpyScalar",
    "Registered",
    "Sequence",
    "Union",
]

_LIST = -1
_DICT = -2
_BUILT = {int(Ext.TUPLE): tuple, int(Ext.SET): set, int(Ext.FROZENSET): frozenset}
_HASHABLE = (int, str, bool, float, bytes, type(None))


def _container(decoder: Decoder, value: Any, code: int, spec: Spec) -> Any:
    """The list/dict itself (code _LIST/_DICT) or the payload of an ext of ``code``."""
    if code == _LIST:
        if type(value) is not list:
            raise spec.fail(decoder, value)
        return value
    if code == _DICT:
        if type(value) is not dict:
            raise spec.fail(decoder, value)
        return value
    if type(value) is _BUILT.get(code):  # a small flat tuple or set, built while parsing
        return value
    payload = ext_payload(decoder, value, code, spec)
    if type(payload) is not (dict if code in (Ext.ORDERED_DICT, Ext.NAMESPACE) else list):
        raise spec.fail(decoder, value)
    return payload


def _plain_kinds(spec: Spec) -> frozenset[type] | None:
    """The plain types a leaf (or a union of leaves) accepts (fast paths: values of other
    types, such as an out-of-band str, take the slow path, which asks the spec itself)."""
    kind = type(spec)
    return spec.plain if kind is Kinds or kind is Union else None  # type: ignore[attr-defined]


def _plain_columns(specs: list[Spec]) -> list[frozenset[type]] | None:
    """Each spec's plain types, when every spec is a plain-only leaf (C-speed checks)."""
    columns = [_plain_kinds(spec) for spec in specs]
    return None if None in columns else columns  # type: ignore[return-value]


_UNSET: Any = object()


def _check_all(decoder: Decoder, items: list[Any], spec: Spec) -> None:
    plain = _plain_kinds(spec)
    if plain is not None and plain.issuperset(map(type, items)):
        return
    if type(spec) is Items and spec.all_plain(items):
        return
    check = spec.check
    for index, item in enumerate(items):
        try:
            check(decoder, item)
        except Mismatch as mismatch:
            raise mismatch.at(f"[{index}]") from None


class Sequence(Spec):
    """``list[T]``, ``set[T]``, ``frozenset[T]``, ``tuple[T, ...]``."""

    def __init__(self, label: str, code: int, item: Spec) -> None:
        self.label, self.code, self.item = label, code, item

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept the container when every element matches."""
        _check_all(decoder, _container(decoder, value, self.code, self), self.item)


class Items(Spec):
    """``tuple[A, B]`` (or a ``like()`` list/tuple): a fixed number of typed items."""

    def __init__(self, label: str, code: int, items: list[Spec]) -> None:
        self.label, self.code, self.items = label, code, items
        self._columns: list[frozenset[type]] | None = _UNSET

    def _plain_columns(self) -> list[frozenset[type]] | None:
        columns = self._columns
        if columns is _UNSET:  # computed on first use: a NamedTuple's items come late
            columns = self._columns = _plain_columns(self.items)
        return columns

    def all_plain(self, values: list[Any]) -> bool:
        """True when every value is an already built tuple (or a list, for a list
        spec) of plain items of the right length and types: C-level column scans."""
        columns = self._plain_columns()
        built = list if self.code == _LIST else _BUILT.get(self.code)
        if columns is None or built is None or {*map(type, values)} != {built}:
            return False
        if {*map(len, values)} != {len(columns)}:
            return False
        return all(
            column.issuperset(map(type, map(operator.itemgetter(index), values)))
            for index, column in enumerate(columns)
        )

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept exactly ``len(items)`` elements, each matching its own spec."""
        got = _container(decoder, value, self.code, self)
        if len(got) != len(self.items):
            raise Mismatch(f"expected {len(self.items)} items, got {len(got)}")
        columns = self._plain_columns()
        if columns is not None and all(map(operator.contains, columns, map(type, got))):
            return
        for index, (spec, item) in enumerate(zip(self.items, got, strict=True)):
            try:
                spec.check(decoder, item)
            except Mismatch as mismatch:
                raise mismatch.at(f"[{index}]") from None


class Mapping(Spec):
    """``dict[K, V]`` and ``OrderedDict[K, V]``."""

    def __init__(self, label: str, code: int, key: Spec, value: Spec) -> None:
        self.label, self.code, self.key, self.value = label, code, key, value

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept the map when every key and every value match."""
        mapping = _container(decoder, value, self.code, self)
        _check_all(decoder, list(mapping), self.key)
        plain = _plain_kinds(self.value)
        if plain is not None and plain.issuperset(map(type, mapping.values())):
            return
        check = self.value.check
        for key, item in mapping.items():
            try:
                check(decoder, item)
            except Mismatch as mismatch:
                raise mismatch.at(key_segment(key)) from None


class Fields(Spec):
    """Named fields: TypedDict, a dataclass's data, a ``like()`` dict (exact keys)."""

    def __init__(self, label: str, code: int, fields: dict[Any, Spec], required: set[Any]) -> None:
        self.label, self.code = label, code
        self.fields, self.required = fields, frozenset(required)
        self._columns: list[frozenset[type]] | None = _UNSET

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept a map with every required key, no other key, each value matching."""
        mapping = _container(decoder, value, self.code, self)
        fields = self.fields
        columns = self._columns
        if columns is _UNSET:  # computed on first use: a class's fields come late
            total = len(self.required) == len(fields)
            columns = self._columns = _plain_columns(list(fields.values())) if total else None
        if (
            columns is not None
            and mapping.keys() == fields.keys()
            and all(map(operator.contains, columns, map(type, map(mapping.get, fields))))
        ):
            return
        for key, item in mapping.items():
            spec = fields.get(key) if type(key) is not Pending else None
            if spec is None:
                raise Mismatch(f"unexpected key (not a field of {self.label})").at(key_segment(key))
            try:
                spec.check(decoder, item)
            except Mismatch as mismatch:
                raise mismatch.at(key_segment(key)) from None
        if len(mapping) < len(self.required) or not self.required.issubset(mapping):
            missing = min(self.required.difference(mapping), key=repr)
            expected = self.fields[missing].label
            raise Mismatch(f"expected {expected}, got nothing (missing key)").at(
                key_segment(missing)
            )


class Registered(Spec):
    """A registered class, matched by its type-table name; ``data`` checks its data
    when the receiver registered the class in ``form`` (e.g. a dataclass's field map),
    not when it registered a decomposer of its own for it."""

    def __init__(self, label: str, name: str, data: Spec, form: str | None = None) -> None:
        self.label, self.name, self.data, self.form = label, name, data, form

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept a registered-type value of this name whose data matches."""
        data = custom_data(decoder, value, self.name, self)
        if self.form is None or decoder.data_form(self.name) in (self.form, None):
            self.data.check(decoder, data)


class Members(Spec):
    """An Enum (or Flag) class: its name, and a value of one of its members."""

    def __init__(self, label: str, name: str, values: list[Any], mask: int | None) -> None:
        self.label, self.name, self.mask = label, name, mask
        plain = all(type(v) in (int, str, bool, float, bytes) or v is None for v in values)
        self.values = frozenset((type(v), v) for v in values) if plain else None

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept a member value (for a Flag: an int of declared bits only)."""
        data = custom_data(decoder, value, self.name, self)
        if decoder.data_form(self.name) not in ("value", None):
            return  # the receiver registered a decomposer of its own for this enum
        if self.mask is not None:
            if type(data) is not int or data < 0 or data & ~self.mask:
                raise Mismatch(f"expected a value of {self.label}, got {_short(data)}")
        elif self.values is not None and (
            type(data) not in _HASHABLE or (type(data), data) not in self.values
        ):
            raise Mismatch(f"expected a member value of {self.label}, got {_short(data)}")


class Literals(Spec):
    """``Literal[...]`` of plain values and enum members."""

    def __init__(self, label: str, plain: list[Any], members: list[tuple[str, Any]]) -> None:
        self.label = label
        self.plain = frozenset((type(v), v) for v in plain)
        self.members = frozenset((name, type(v), v) for name, v in members)

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept one of the literal values (same type and value)."""
        if type(value) is Pending and value.code == Ext.CUSTOM and self.members:
            payload = decoder.payload(value)
            if type(payload) is list and len(payload) == 2:
                data = payload[1]
                name = decoder.type_name(payload[0])
                if type(data) in _HASHABLE and (name, type(data), data) in self.members:
                    return
        elif type(value) in _HASHABLE and (type(value), value) in self.plain:
            return
        raise Mismatch(f"expected {self.label}, got {_short(value)}")


class Union(Spec):
    """``A | B | ...``: the first alternative that matches; else the closest mismatch."""

    def __init__(self, label: str, options: list[Spec]) -> None:
        self.label, self.options = label, options
        leaves = [option.plain for option in options if type(option) is Kinds]
        self.plain = frozenset().union(*leaves) if len(leaves) == len(options) else None
        """The plain types a value may have when every alternative is a leaf."""

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept a value any alternative accepts."""
        deep: list[Mismatch] = []
        for option in self.options:
            try:
                option.check(decoder, value)
                return
            except Mismatch as mismatch:
                if mismatch.segments:
                    deep.append(mismatch)
        if len(deep) == 1:  # only one alternative got past the outer kind: its detail
            raise deep[0]
        raise self.fail(decoder, value)


class NumpyScalar(Spec):
    """A numpy scalar type (``numpy.float32``); flexible types match by kind."""

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype
        self.label = f"numpy {dtype_label(dtype) if dtype.itemsize else dtype.kind} scalar"

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept a numpy scalar of the dtype."""
        payload = ext_payload(decoder, value, Ext.NPSCALAR, self)
        if type(payload) is not list or len(payload) != 2:
            raise self.fail(decoder, value)
        got = dtype_from_wire(payload[0])
        same = got == self.dtype if self.dtype.itemsize else got.kind == self.dtype.kind
        if not same:
            raise self.fail(decoder, value)


def _short(value: Any) -> str:
    """What a mismatch names of the received value: its type, never the value itself
    (decrypted data; the datasite writes a quarantine reason into the synced folder)."""
    if type(value) is Pending:
        return "another value"
    return f"a value of type {type(value).__name__}"
