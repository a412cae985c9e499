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
    """Register a Decomposer class or instance (duplicates warn; first stays).

    Raises:
        SerializationTypeError: (a TypeError) not a Decomposer.
    """
    default_codec().register(decomposer)


def register_data_classes(*classes: type) -> None:
    """Register dataclasses, on the sending and on the receiving side."""
    default_codec().register_data_classes(*classes)


def register_enum_types(*classes: type[Enum]) -> None:
    """Register Enum subclasses, on the sending and on the receiving side."""
    default_codec().register_enum_types(*classes)


def register_serializer(cls: type) -> Callable[[F], F]:
    """Decorator registering ``f(obj) -> data`` as the encoder of exactly ``cls``."""
    return default_codec().register_serializer(cls)


def register_deserializer(cls: type) -> Callable[[F], F]:
    """Decorator registering ``f(data) -> obj`` as the decoder of ``cls``."""
    return default_codec().register_deserializer(cls)


def num_decomposers() -> int:
    """Number of user-registered types."""
    return default_codec().num_decomposers()


def reset() -> None:
    """Forget every registration of the default codec."""
    default_codec().reset()


def dumps(obj: Any) -> bytes:
    """Serialize ``obj`` to bytes.

    Raises:
        SerializationTypeError: an unregistered type (a TypeError naming the fix).
        CycleError: a reference cycle.
    """
    return default_codec().dumps(obj)


def dumps_buffers(obj: Any) -> list[memoryview]:
    """Serialize ``obj`` as a list of buffers without copying large arrays."""
    return default_codec().dumps_buffers(obj)


def dump(obj: Any, stream: IO[bytes]) -> None:
    """Serialize ``obj`` to a binary stream."""
    default_codec().dump(obj, stream)


def loads(data: bytes | bytearray | memoryview) -> Any:
    """Deserialize one frame; arrays are views into ``data`` (writable if it is).

    Raises:
        DecodeError, UnknownTypeError, LimitExceededError: on bad input.
    """
    return default_codec().loads(data)


def load(stream: IO[bytes]) -> Any:
    """Deserialize one frame read from a binary stream (arrays are writable)."""
    return default_codec().load(stream)
