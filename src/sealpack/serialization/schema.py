"""Schema nodes of typed decoding: pure checks over a parsed, not yet built, frame.

A node checks one value of the msgpack tree the decoder parsed (plain values,
lists, dicts, and :class:`~sealpack.serialization.decoder.Pending` ext values whose
payloads are parsed on demand and cached for the build). A check builds nothing:
no registered type is constructed and no buffer is touched, so a refused frame
costs its parse only. Mismatches raise :class:`Mismatch`, which collects the path
while unwinding; ``expect.py`` turns it into a SchemaError.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sealpack.errors import DecodeError
from sealpack.serialization.decoder import Decoder
from sealpack.serialization.describe import describe, dtype_label
from sealpack.serialization.numpy_types import dtype_from_wire
from sealpack.serialization.pending import Pending
from sealpack.serialization.wire import Ext

__all__ = ["Mismatch", "Spec"]

_CUSTOM = int(Ext.CUSTOM)
_NDARRAY = int(Ext.NDARRAY)


class Mismatch(Exception):
    """A value does not match; ``segments`` is filled innermost first while unwinding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments: list[str] = []

    def at(self, segment: str) -> Mismatch:
        """Record that the mismatch lies under ``segment`` (e.g. ``.key``, ``[3]``)."""
        self.segments.append(segment)
        return self

    def path(self) -> str:
        """The JSON-path-like location, e.g. ``$.layers[3].weight``."""
        return "$" + "".join(reversed(self.segments))


def key_segment(key: Any) -> str:
    """The path segment of a map key.

    Args:
        key: a parsed map key.

    Returns:
        ``.name`` for a str that is an identifier, else ``[repr]`` (at most 60 characters).
    """
    if type(key) is str and key.isidentifier():
        return "." + key
    text = repr(key) if type(key) in (str, int, float, bool, bytes) or key is None else "<key>"
    return f"[{text[:60]}]"


class Spec:
    """A compiled expectation (from an annotation, :class:`Array` or ``like()``)."""

    label = "any value"

    def check(self, decoder: Decoder, value: Any) -> None:
        """Raise Mismatch when ``value`` (parsed, unbuilt) does not match."""

    def fail(self, decoder: Decoder, value: Any) -> Mismatch:
        """A Mismatch saying what was expected and what arrived."""
        return Mismatch(f"expected {self.label}, got {describe(decoder, value)}")

    def __repr__(self) -> str:
        return f"<sealpack expectation: {self.label}>"


ANY = Spec()


class Kinds(Spec):
    """A leaf: plain msgpack types, ext codes and out-of-band kinds it accepts."""

    def __init__(
        self, label: str, plain: frozenset[type], codes: frozenset[int], oob: frozenset[int]
    ) -> None:
        self.label = label
        self.plain = plain
        self.codes = codes
        self.oob = oob

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept a value of one of the kinds."""
        kind = type(value)
        if kind in self.plain:
            return
        if kind is Pending:
            code = value.code
            if code in self.codes:
                return
            if code == Ext.OOB and self.oob:
                payload = decoder.payload(value)
                if type(payload) is list and len(payload) == 2 and payload[0] in self.oob:
                    return
        raise self.fail(decoder, value)


def ext_payload(decoder: Decoder, value: Any, code: int, spec: Spec) -> Any:
    """The parsed payload of an ext value of type ``code``.

    Args:
        decoder: the decoder (parses and caches the payload).
        value: a parsed value; code: the expected ext type code; spec: for the message.

    Returns:
        The payload (msgpack values, ext values still unbuilt).

    Raises:
        Mismatch: ``value`` is not an ext value of that code.
    """
    if type(value) is not Pending or value.code != code:
        raise spec.fail(decoder, value)
    return decoder.payload(value)


def custom_data(decoder: Decoder, value: Any, name: str, spec: Spec) -> Any:
    """The data of a registered-type value.

    Args:
        decoder: the decoder; value: a parsed value; name: the expected registry name;
        spec: for the message.

    Returns:
        The data part of ``[type index, data]``, unbuilt.

    Raises:
        Mismatch: ``value`` is not a registered type of that name.
        DecodeError: a malformed registered-type payload.
    """
    payload = ext_payload(decoder, value, _CUSTOM, spec)
    if type(payload) is not list or len(payload) != 2:
        raise DecodeError("malformed frame: expected a two-element payload")
    if decoder.type_name(payload[0]) != name:
        raise spec.fail(decoder, value)
    return payload[1]


class Array(Spec):
    """Expect a numpy array, optionally of one dtype and shape (``None``: any length).

    Args:
        dtype: anything ``numpy.dtype()`` accepts, or None for any dtype.
        shape: a tuple of ints and None (one entry per dimension), or None for any.

    Example: ``sealpack.Array(dtype="float32", shape=(None, 64))``, alone or inside
    ``typing.Annotated[numpy.ndarray, sealpack.Array(...)]``.
    """

    def __init__(self, dtype: Any = None, shape: tuple[int | None, ...] | None = None) -> None:
        self.dtype = None if dtype is None else np.dtype(dtype)
        self._descr = None if self.dtype is None or self.dtype.names else self.dtype.str
        if shape is not None:
            shape = tuple(shape)
            if not all(n is None or (type(n) is int and n >= 0) for n in shape):
                raise TypeError(f"Array shape entries must be ints >= 0 or None, got {shape!r}")
        self.shape = shape
        self._exact = None if shape is None or None in shape else list(shape)
        self.label = _array_label(self.dtype, shape)

    def check(self, decoder: Decoder, value: Any) -> None:
        """Accept an array of the dtype and shape, judged from its header alone."""
        payload = ext_payload(decoder, value, _NDARRAY, self)
        if type(payload) is not list or len(payload) != 4 or type(payload[1]) is not list:
            raise DecodeError("malformed frame: array payload must have 4 fields")
        descr = payload[0]
        if self.dtype is not None and descr != self._descr and dtype_from_wire(descr) != self.dtype:
            raise self.fail(decoder, value)
        shape = self.shape
        if shape is not None and payload[1] != self._exact:
            got = payload[1]
            if len(got) != len(shape) or any(
                want is not None and want != n for want, n in zip(shape, got, strict=True)
            ):
                raise self.fail(decoder, value)


def _array_label(dtype: np.dtype[Any] | None, shape: tuple[int | None, ...] | None) -> str:
    name = "ndarray" if dtype is None else dtype_label(dtype)
    if shape is None:
        return name if dtype is not None else "ndarray"
    dims = ", ".join("*" if n is None else str(n) for n in shape)
    return f"{name}[{dims}]"
