"""The Decomposer base class (FOBS API) and the decomposers for dataclasses and Enums.

A decomposer turns objects of one exact class into codec-serializable data and back;
the registry (registry.py) holds the ones a codec trusts. Data given to ``recompose``
is untrusted: these check it before building anything.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum, Flag
from typing import Any

__all__ = [
    "DataClassDecomposer",
    "Decomposer",
    "EnumDecomposer",
    "flag_mask",
    "implicit_encoder",
    "type_name",
]


def type_name(cls: type) -> str:
    """The registry name of a class: ``module.qualname``."""
    return f"{cls.__module__}.{cls.__qualname__}"


class Decomposer(ABC):
    """Turns objects of one type into codec-serializable data and back (FOBS API).

    ``manager`` is accepted for NVFLARE FOBS compatibility and is always None:
    large data travels as out-of-band buffers instead of datums.
    """

    @abstractmethod
    def supported_type(self) -> type[Any]:
        """Return the exact class this decomposer handles (subclasses are not covered).

        Returns:
            The class; its ``module.qualname`` is the name used on the wire.
        """

    @abstractmethod
    def decompose(self, target: Any, manager: Any = None) -> Any:
        """Describe ``target`` with values the codec can serialize.

        Args:
            target: an object of exactly :meth:`supported_type`.
            manager: always None (FOBS compatibility); may be omitted by subclasses.

        Returns:
            Codec-serializable data (may contain other registered objects).
        """

    @abstractmethod
    def recompose(self, data: Any, manager: Any = None) -> Any:
        """Rebuild an object from the data :meth:`decompose` returned.

        Args:
            data: the decoded data, untrusted: validate it.
            manager: always None (FOBS compatibility); may be omitted by subclasses.

        Returns:
            The rebuilt object. Any exception raised here becomes a DecodeError.
        """


class DataClassDecomposer(Decomposer):
    """Decomposes a dataclass into a dict of its fields (rebuilt without __init__)."""

    def __init__(self, cls: type) -> None:
        self._cls = cls
        self._names = tuple(f.name for f in dataclasses.fields(cls))

    def supported_type(self) -> type[Any]:
        """Returns: the dataclass."""
        return self._cls

    def decompose(self, target: Any, manager: Any = None) -> Any:
        """Returns: ``{field name: value}`` for every field of ``target``."""
        return {name: getattr(target, name) for name in self._names}

    def recompose(self, data: Any, manager: Any = None) -> Any:
        """Rebuild the instance with ``cls.__new__`` and ``object.__setattr__``.

        Raises:
            ValueError: ``data`` is not a dict whose keys are exactly the field names.
        """
        if type(data) is not dict or set(data) != set(self._names):
            raise ValueError(f"fields of {type_name(self._cls)} do not match the frame")
        cls: Any = self._cls
        instance = cls.__new__(cls)
        for name in self._names:
            object.__setattr__(instance, name, data[name])
        return instance


def flag_mask(cls: type[Enum]) -> int:
    """Every bit a member of the Flag ``cls`` declares (values outside it are refused)."""
    return functools.reduce(
        operator.or_, (int(member.value) for member in cls.__members__.values()), 0
    )


class EnumDecomposer(Decomposer):
    """Decomposes an enum member into its value."""

    def __init__(self, cls: type[Enum]) -> None:
        self._cls = cls
        self._flag_mask = flag_mask(cls) if issubclass(cls, Flag) else None

    def supported_type(self) -> type[Any]:
        """Returns: the Enum subclass."""
        return self._cls

    def decompose(self, target: Any, manager: Any = None) -> Any:
        """Returns: the member's value."""
        return target.value

    def recompose(self, data: Any, manager: Any = None) -> Any:
        """Returns: ``cls(data)``.

        Raises:
            ValueError: a value with no member; for a Flag, a value that is not an int
                of declared bits only (CPython would cache a new pseudo-member for
                every such value, for good).
        """
        mask = self._flag_mask
        if mask is not None and (type(data) is not int or data < 0 or data & ~mask):
            raise ValueError(f"flag value has bits outside the members of {type_name(self._cls)}")
        return self._cls(data)


def implicit_encoder(cls: type) -> tuple[str, Callable[[Any], Any]] | None:
    """The encode-only handling of an unregistered dataclass or Enum (FOBS drop-in).

    Encoding uses the same name and data as :meth:`Registry.register_data_classes`
    / :meth:`Registry.register_enum_types` would, but nothing is registered: the
    receiver must still register the class to decode it.

    Args:
        cls: the exact class of the object being encoded.

    Returns:
        ``(registry name, encode function)``, or None for any other class.
    """
    if dataclasses.is_dataclass(cls):
        return type_name(cls), DataClassDecomposer(cls).decompose
    if issubclass(cls, Enum):
        return type_name(cls), EnumDecomposer(cls).decompose
    return None
