"""Encoders of leaf values: numpy arrays and scalars, and the value types of builtins.py.

Each takes the running :class:`~sealpack.serialization.encoder.Encoder` (for its
``ext`` and ``oob_or_inline``) and returns one msgpack ext value; the encoder's dispatch
table maps exact types to them. Also the message for a type nothing can encode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

from sealpack.serialization.numpy_types import array_layout, dtype_to_wire
from sealpack.serialization.wire import Ext

if TYPE_CHECKING:
    from sealpack.serialization.encoder import Encoder

__all__ = ["ndarray", "numpy_scalar", "raw_ext", "simple", "unknown_type_message"]

_new_tuple = tuple.__new__


def raw_ext(code: Ext | int, data: bytes) -> msgpack.ExtType:
    """An ExtType without msgpack's Python-level argument checks (ours are static)."""
    ext: msgpack.ExtType = _new_tuple(msgpack.ExtType, (int(code), data))
    return ext


def _is_pydantic_model(kind: type) -> bool:
    """True for a pydantic BaseModel subclass (checked by MRO, pydantic is not imported)."""
    return any(
        base.__name__ == "BaseModel" and base.__module__.split(".")[0] == "pydantic"
        for base in kind.__mro__[1:]
    )


def unknown_type_message(kind: type) -> str:
    """The SerializationTypeError message for ``kind``: names the type and the fix."""
    name = f"{kind.__module__}.{kind.__qualname__}"
    if _is_pydantic_model(kind):
        fix = f"register it with fobs.register(fobs.PydanticDecomposer({kind.__qualname__}))"
    else:
        fix = "register a fobs.Decomposer for it with fobs.register(...)"
    return (
        f"can not serialize {kind.__qualname__!r} object ({name}): {fix}, "
        "on the sending and on the receiving side"
    )


def numpy_scalar(encoder: Encoder, obj: np.generic) -> msgpack.ExtType:
    """A numpy scalar as ``NPSCALAR [dtype, raw bytes]``."""
    data = obj.tobytes()[: obj.dtype.itemsize]  # S0/U0 scalars report one NUL byte
    return encoder.ext(Ext.NPSCALAR, [dtype_to_wire(obj.dtype), data])


def ndarray(encoder: Encoder, obj: np.ndarray[Any, Any]) -> msgpack.ExtType:
    """An array as ``NDARRAY [dtype, shape, fortran, data or buffer index]``."""
    descr = dtype_to_wire(obj.dtype)
    flat, fortran = array_layout(obj)
    data = encoder.oob_or_inline(memoryview(flat))  # type: ignore[arg-type]
    return encoder.ext(Ext.NDARRAY, [descr, list(obj.shape), fortran, data])


def simple(
    ext_code: Ext, to_payload: Callable[[Any], Any]
) -> Callable[[Encoder, Any], msgpack.ExtType]:
    """A handler for a value type whose payload ``to_payload`` gives (raw bytes or data)."""
    code = int(ext_code)

    def handle(encoder: Encoder, obj: Any) -> msgpack.ExtType:
        payload = to_payload(obj)
        if isinstance(payload, bytes):
            return raw_ext(code, payload)
        return encoder.ext(code, payload)

    return handle
