"""NVFLARE FOBS-compatible module API over the default :class:`Codec`.

``from sealpack import fobs`` then ``fobs.register(MyDecomposer)``,
``fobs.dumps(obj)``, ``fobs.loads(data)``. Trust is on the receiving side: only
types registered here are rebuilt, and nothing named by a payload is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import IO, Any, TypeVar

from sealpack.serialization import (
    Codec,
    DecodeLimits,
    Decomposer,
    PydanticDecomposer,
    TorchTensorDecomposer,
    default_codec,
)

__all__ = [
    "Codec",
    "DecodeLimits",
    "Decomposer",
    "PydanticDecomposer",
    "TorchTensorDecomposer",
    "dump",
    "dumps",
    "dumps_buffers",
    "load",
    "loads",
    "num_decomposers",
    "register",
    "register_data_classes",
    "register_deserializer",
    "register_enum_types",
    "register_serializer",
    "reset",
]

F = TypeVar("F", bound=Callable[..., Any])


def register(decomposer: type[Decomposer] | Decomposer) -> None:
    """Register a Decomposer class or instance with the default codec.

    Args:
        decomposer: a Decomposer subclass (instantiated without arguments) or instance.

    Raises:
        SerializationTypeError: (a TypeError) not a Decomposer, or a class that
            needs constructor arguments. A second decomposer for an already handled
            type only warns (UserWarning); the first one stays.
    """
    default_codec().register(decomposer)


def register_data_classes(*classes: type) -> None:
    """Make dataclasses decodable (rebuilt from their fields, without ``__init__``).

    Sending a dataclass needs no registration; receiving one does.

    Args:
        classes: dataclass types.

    Raises:
        SerializationTypeError: an argument is not a dataclass type.
    """
    default_codec().register_data_classes(*classes)


def register_enum_types(*classes: type[Enum]) -> None:
    """Make Enum types decodable (rebuilt from the member value).

    Sending an enum member needs no registration; receiving one does.

    Args:
        classes: Enum subclasses.

    Raises:
        SerializationTypeError: an argument is not an Enum subclass.
    """
    default_codec().register_enum_types(*classes)


def register_serializer(cls: type) -> Callable[[F], F]:
    """Decorator registering ``f(obj) -> data`` as the encoder of exactly ``cls``.

    Args:
        cls: the class the decorated function encodes.

    Returns:
        A decorator that registers the function and returns it unchanged.
    """
    return default_codec().register_serializer(cls)


def register_deserializer(cls: type) -> Callable[[F], F]:
    """Decorator registering ``f(data) -> obj`` as the decoder of ``cls``.

    Args:
        cls: the class the decorated function rebuilds (its name is the wire key).

    Returns:
        A decorator that registers the function and returns it unchanged.
    """
    return default_codec().register_deserializer(cls)


def num_decomposers() -> int:
    """Returns: the number of user-registered types of the default codec."""
    return default_codec().num_decomposers()


def reset() -> None:
    """Forget every registration of the default codec (built-ins stay)."""
    default_codec().reset()


def dumps(obj: Any) -> bytes:
    """Serialize ``obj`` into one bytes object.

    Args:
        obj: built-in values, numpy arrays, dataclasses, enums and registered types.

    Returns:
        The frame (docs/spec/codec.md).

    Raises:
        SerializationTypeError: an unregistered type (a TypeError naming the fix).
        CycleError: a reference cycle.
        LimitExceededError: nesting deeper than the codec's max_depth.
    """
    return default_codec().dumps(obj)


def dumps_buffers(obj: Any) -> list[memoryview]:
    """Serialize ``obj`` as frame parts without copying large arrays or buffers.

    Args:
        obj: as for :func:`dumps`.

    Returns:
        Parts whose concatenation equals ``dumps(obj)``; large parts are views
        of ``obj``'s memory: do not modify it until they are consumed.

    Raises:
        Same as :func:`dumps`.
    """
    return default_codec().dumps_buffers(obj)


def dump(obj: Any, stream: IO[bytes]) -> None:
    """Serialize ``obj`` and write the frame to a binary stream.

    Args:
        obj: as for :func:`dumps`.
        stream: a writable binary stream; nothing is written if encoding fails.

    Raises:
        Same as :func:`dumps`; OSError from the stream.
    """
    default_codec().dump(obj, stream)


def loads(data: bytes | bytearray | memoryview, *, expect: Any = None) -> Any:
    """Deserialize one frame; large arrays are views into ``data`` (writable if it is).

    Args:
        data: exactly one frame (any contiguous bytes-like object).
        expect: None, or what the value must match: a type annotation
            (``dict[str, float]``, a TypedDict, a dataclass, ...),
            ``sealpack.Array(dtype=..., shape=...)`` or ``sealpack.like(reference)``;
            checked before anything is built (docs/spec/codec.md section 9).

    Returns:
        The decoded object.

    Raises:
        DecodeError: malformed frame. UnknownTypeError: a type not registered here.
        LimitExceededError: a decode limit was exceeded.
        SchemaError: (a DecodeError) the value does not match ``expect``.
        TypeError: ``expect`` is not an annotation sealpack can check.
    """
    return default_codec().loads(data, expect=expect)


def load(stream: IO[bytes], *, expect: Any = None) -> Any:
    """Read exactly one frame from a binary stream and deserialize it.

    The frame is read in bounded steps as data arrives (a header's claimed size is
    never allocated up front).

    Args:
        stream: a readable binary stream, left just after the frame.
        expect: as for :func:`loads`.

    Returns:
        The decoded object (its arrays are writable).

    Raises:
        Same as :func:`loads`; DecodeError when the stream ends inside the frame.
    """
    return default_codec().load(stream, expect=expect)
