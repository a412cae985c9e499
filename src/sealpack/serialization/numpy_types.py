"""numpy dtypes, arrays and scalars on the wire.

A dtype travels as data, never as code: a plain dtype as its ``dtype.str``
(checked against a strict pattern before numpy parses it), a structured dtype
as a map of names/formats/offsets/itemsize, a sub-array field as
``[base, shape]``. Object dtypes (and anything holding references) are refused.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import numpy as np

from sealpack.errors import DecodeError, SerializationTypeError

__all__ = [
    "MAX_DIMS",
    "array_from_bytes",
    "array_layout",
    "dtype_from_wire",
    "dtype_to_wire",
    "scalar_from_wire",
]

_PLAIN = re.compile(r"[<>|][biufcSUV][0-9]{1,10}|[<>|][mM]8(\[[0-9]{0,9}[A-Za-z]{1,7}\])?")
_PLAIN_KINDS = frozenset("biufcmMSUV")
_STRUCT_KEYS = frozenset({"names", "formats", "offsets", "itemsize", "aligned", "titles"})
_MAX_DTYPE_DEPTH = 16
_MAX_ITEMSIZE = 1 << 31
MAX_DIMS = 64
_UNSIZED_KINDS = frozenset("SUV")


def dtype_to_wire(dtype: np.dtype[Any]) -> Any:
    """Describe ``dtype`` as plain data (str, map or [base, shape]).

    Raises:
        SerializationTypeError: object, string (numpy 2 StringDType) or other
            reference-holding dtypes.
    """
    if dtype.hasobject:
        raise SerializationTypeError(
            "can not serialize numpy arrays of dtype=object; convert to a plain dtype"
        )
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return [dtype_to_wire(base), list(shape)]
    if dtype.fields is not None and dtype.names is not None:
        fields = [dtype.fields[name] for name in dtype.names]
        wire: dict[str, Any] = {
            "names": list(dtype.names),
            "formats": [dtype_to_wire(field[0]) for field in fields],
            "offsets": [int(field[1]) for field in fields],
            "itemsize": dtype.itemsize,
        }
        if dtype.isalignedstruct:
            wire["aligned"] = True
        if any(len(field) > 2 for field in fields):
            wire["titles"] = [field[2] if len(field) > 2 else None for field in fields]
        return wire
    if dtype.kind not in _PLAIN_KINDS:
        raise SerializationTypeError(f"can not serialize numpy dtype {dtype!r}")
    return dtype.str


def dtype_from_wire(wire: Any, depth: int = 0, *, sized: bool = False) -> np.dtype[Any]:
    """Parse a wire dtype with strict validation (never eval, never pickle).

    Args:
        wire: the dtype description from the frame.
        depth: nesting level of this description (structured / sub-array fields).
        sized: refuse the unsized string dtypes ``|S0``, ``<U0``, ``|V0`` (an array's
            dtype: numpy would silently make them one-byte-per-element types).

    Raises:
        DecodeError: anything but a well-formed plain, structured or sub-array dtype.
    """
    if depth > _MAX_DTYPE_DEPTH:
        raise DecodeError("malformed frame: dtype nested too deeply")
    try:
        dtype = _parse(wire, depth)
    except DecodeError:
        raise
    except (TypeError, ValueError, OverflowError) as error:
        raise DecodeError(f"malformed frame: invalid dtype ({error})") from error
    if dtype.hasobject or dtype.itemsize > _MAX_ITEMSIZE:
        raise DecodeError("malformed frame: dtype holds objects or is too large")
    if sized and dtype.itemsize == 0 and dtype.kind in _UNSIZED_KINDS and dtype.names is None:
        raise DecodeError(f"malformed frame: array dtype {dtype.str!r} has no item size")
    return dtype


@functools.lru_cache(maxsize=256)
def _plain(wire: str) -> np.dtype[Any]:
    """A plain dtype from its checked ``dtype.str`` (cached: dtypes are immutable)."""
    if not _PLAIN.fullmatch(wire):
        raise DecodeError(f"malformed frame: dtype {wire[:40]!r} is not allowed")
    return np.dtype(wire)


def _parse(wire: Any, depth: int) -> np.dtype[Any]:
    if type(wire) is str:
        return _plain(wire)
    if type(wire) is list and len(wire) == 2:
        shape = _int_list(wire[1], "sub-array shape")
        if len(shape) > MAX_DIMS or math.prod(shape) > _MAX_ITEMSIZE:
            raise DecodeError("malformed frame: sub-array shape too large")
        return np.dtype((dtype_from_wire(wire[0], depth + 1), tuple(shape)))
    if type(wire) is dict:
        return _parse_struct(wire, depth)
    raise DecodeError("malformed frame: dtype description has the wrong type")


def _parse_struct(wire: dict[Any, Any], depth: int) -> np.dtype[Any]:
    if not set(wire) <= _STRUCT_KEYS or not {"names", "formats", "offsets", "itemsize"} <= set(
        wire
    ):
        raise DecodeError("malformed frame: structured dtype has unexpected keys")
    names, formats, offsets = wire["names"], wire["formats"], wire["offsets"]
    if type(names) is not list or not all(type(name) is str for name in names):
        raise DecodeError("malformed frame: structured dtype names must be strings")
    if type(formats) is not list or len(set(names)) != len(names):
        raise DecodeError("malformed frame: structured dtype names/formats invalid")
    offsets = _int_list(offsets, "structured dtype offsets")
    itemsize = wire["itemsize"]
    if type(itemsize) is not int or not 0 <= itemsize <= _MAX_ITEMSIZE:
        raise DecodeError("malformed frame: structured dtype itemsize invalid")
    if not len(names) == len(formats) == len(offsets):
        raise DecodeError("malformed frame: structured dtype field counts differ")
    spec: dict[str, Any] = {
        "names": names,
        "formats": [dtype_from_wire(item, depth + 1) for item in formats],
        "offsets": offsets,
        "itemsize": itemsize,
    }
    titles = wire.get("titles")
    if titles is not None:
        if type(titles) is not list or len(titles) != len(names):
            raise DecodeError("malformed frame: structured dtype titles invalid")
        if not all(title is None or type(title) is str for title in titles):
            raise DecodeError("malformed frame: structured dtype titles invalid")
        spec["titles"] = titles
    aligned = wire.get("aligned", False)
    if type(aligned) is not bool:
        raise DecodeError("malformed frame: structured dtype aligned flag invalid")
    dtype: np.dtype[Any] = np.dtype(spec, align=aligned)  # type: ignore[call-overload]
    return dtype


def _int_list(value: Any, what: str) -> list[int]:
    if type(value) is not list or not all(type(item) is int and item >= 0 for item in value):
        raise DecodeError(f"malformed frame: {what} must be non-negative integers")
    return value


def array_layout(array: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], bool]:
    """Return (flat uint8 view of the data, fortran flag); copies only non-contiguous input."""
    fortran = False
    if array.flags.c_contiguous:
        flat = array
    elif array.flags.f_contiguous:
        flat, fortran = array.T, True
    elif array.dtype.fields is not None:  # a structured copy leaves padding unwritten:
        flat = np.zeros(array.shape, dtype=array.dtype)  # zeros, not stale heap bytes
        np.copyto(flat, array)
    else:
        flat = np.ascontiguousarray(array)
    if array.nbytes == 0:
        return np.empty(0, dtype=np.uint8), fortran
    return flat.reshape(-1).view(np.uint8), fortran


def array_from_bytes(
    dtype: np.dtype[Any], shape: list[int], fortran: bool, data: Any
) -> np.ndarray[Any, Any]:
    """Build an array viewing ``data`` (a buffer) with checked shape and size.

    Raises:
        DecodeError: the shape does not match the byte length.
    """
    if len(shape) > MAX_DIMS:
        raise DecodeError("malformed frame: array has too many dimensions")
    count = math.prod(shape)  # the decoder counted it against its limits already
    if count * dtype.itemsize != len(data):
        raise DecodeError("malformed frame: array shape and dtype do not match its byte length")
    if dtype.itemsize == 0 or count == 0:
        if count > 1 << 32:
            raise DecodeError("malformed frame: empty array with a huge shape")
        return np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    flat = np.frombuffer(data, dtype=dtype)
    result: np.ndarray[Any, Any] = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    return result


def scalar_from_wire(dtype: np.dtype[Any], data: bytes) -> Any:
    """Rebuild a numpy scalar of ``dtype`` from its raw bytes.

    Raises:
        DecodeError: the byte length does not match the dtype.
    """
    if len(data) != dtype.itemsize:
        raise DecodeError("malformed frame: numpy scalar size does not match its dtype")
    if dtype.itemsize == 0:  # e.g. numpy.bytes_(b"") has dtype S0
        return np.zeros((), dtype=dtype)[()]
    return np.frombuffer(data, dtype=dtype)[0]
