"""Decomposers and the per-codec registry of receiver-trusted types.

A type is encoded only if a decomposer or serializer for its exact class is
registered, and decoded only if the receiver registered a decomposer or
deserializer under the name the frame gives. Names are looked up in this
registry and nowhere else: nothing is ever imported by name. The Decomposer base
and the built-in dataclass / Enum decomposers live in decomposers.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
import warnings
from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np

from sealpack.errors import SerializationTypeError
from sealpack.serialization.decomposers import (
    DataClassDecomposer,
    Decomposer,
    EnumDecomposer,
    implicit_encoder,
    type_name,
)

__all__ = [
    "DataClassDecomposer",
    "Decomposer",
    "EnumDecomposer",
    "Registry",
    "implicit_encoder",
    "type_name",
]

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]


def _takes_manager(method: Callable[..., Any]) -> bool:
    """True when a bound decompose/recompose accepts a second positional argument."""
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    return sum(p.kind in positional for p in params) >= 2


def _adapt(method: Callable[..., Any]) -> Callable[[Any], Any]:
    if _takes_manager(method):
        return lambda value: method(value, None)
    return method


def _instantiate(cls: type[Decomposer]) -> Decomposer:
    try:
        return cls()
    except TypeError as error:
        raise SerializationTypeError(
            f"{cls.__name__} can not be instantiated without arguments ({error}); "
            "register an instance instead"
        ) from error


class Registry:
    """Exact-type encoders and name-keyed decoders; first registration wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoders: dict[type, tuple[str, Encoder]] = {}
        self._decoders: dict[str, Decoder] = {}
        self._decoder_types: dict[str, type] = {}
        self._forms: dict[str, str] = {}

    def encoder_for(self, cls: type) -> tuple[str, Encoder] | None:
        """The (name, encode function) registered for exactly ``cls``, if any."""
        return self._encoders.get(cls)

    def form_of(self, name: str) -> str | None:
        """How the type registered under ``name`` travels: ``"fields"`` (a dataclass's
        field map), ``"value"`` (an enum member's value), or None (a decomposer's own
        data, or nothing registered)."""
        return self._forms.get(name)

    def decoder_for(self, name: str) -> Decoder | None:
        """The decode function registered under ``name``, if any."""
        return self._decoders.get(name)

    def register(self, decomposer: type[Decomposer] | Decomposer) -> None:
        """Register a Decomposer subclass (instantiated without arguments) or instance.

        Raises:
            SerializationTypeError: ``decomposer`` is not a Decomposer.
        """
        if isinstance(decomposer, type) and issubclass(decomposer, Decomposer):
            decomposer = _instantiate(decomposer)
        if not isinstance(decomposer, Decomposer):
            raise SerializationTypeError(
                f"register() needs a fobs.Decomposer subclass or instance, "
                f"got {type(decomposer).__name__!r}"
            )
        cls = decomposer.supported_type()
        if not isinstance(cls, type):
            raise SerializationTypeError("Decomposer.supported_type() must return a class")
        self.add_serializer(cls, _adapt(decomposer.decompose))
        if type_name(cls) not in self._decoders:
            form = "fields" if isinstance(decomposer, DataClassDecomposer) else None
            form = "value" if isinstance(decomposer, EnumDecomposer) else form
            if form is not None:
                self._forms[type_name(cls)] = form
        self.add_deserializer(cls, _adapt(decomposer.recompose))

    def register_data_classes(self, *classes: type) -> None:
        """Register dataclasses (encoded as their fields, rebuilt without __init__).

        Raises:
            SerializationTypeError: an argument is not a dataclass type.
        """
        for cls in classes:
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise SerializationTypeError(f"{cls!r} is not a dataclass")
        for cls in classes:
            self.register(DataClassDecomposer(cls))

    def register_enum_types(self, *classes: type[Enum]) -> None:
        """Register Enum subclasses (encoded as their member values).

        Raises:
            SerializationTypeError: an argument is not an Enum subclass.
        """
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, Enum)):
                raise SerializationTypeError(f"{cls!r} is not an Enum subclass")
        for cls in classes:
            self.register(EnumDecomposer(cls))

    def add_serializer(self, cls: type, function: Encoder) -> None:
        """Use ``function(obj) -> data`` to encode objects of exactly ``cls``."""
        with self._lock:
            if cls in self._encoders or is_builtin(cls):
                _warn_duplicate(cls, "serializer")
                return
            self._encoders[cls] = (type_name(cls), function)

    def add_deserializer(self, cls: type, function: Decoder) -> None:
        """Use ``function(data) -> obj`` to decode frames naming ``cls``."""
        name = type_name(cls)
        with self._lock:
            if name in self._decoders or is_builtin(cls):
                _warn_duplicate(cls, "deserializer")
                return
            self._decoders[name] = function
            self._decoder_types[name] = cls

    def count(self) -> int:
        """Number of distinct types with a registered encoder or decoder."""
        with self._lock:
            return len(set(self._encoders) | set(self._decoder_types.values()))

    def clear(self) -> None:
        """Forget every registration."""
        with self._lock:
            self._encoders.clear()
            self._decoders.clear()
            self._decoder_types.clear()
            self._forms.clear()


def _warn_duplicate(cls: type, what: str) -> None:
    warnings.warn(
        f"a {what} for {type_name(cls)} is already registered or built in; "
        "the first one stays and this one is ignored",
        stacklevel=4,
    )


_BUILTIN_TYPES: set[type] = set()
_BUILTIN_BASES: tuple[type, ...] = (np.generic,)


def is_builtin(cls: type) -> bool:
    """True for the types the codec handles natively (not overridable)."""
    return cls in _BUILTIN_TYPES or issubclass(cls, _BUILTIN_BASES)


def mark_builtin(*classes: type) -> None:
    """Record classes the codec encodes natively (called by the encoder module)."""
    _BUILTIN_TYPES.update(classes)
