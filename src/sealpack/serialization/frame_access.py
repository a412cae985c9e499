"""What a decoding pass offers the ext handlers and schema checks: buffers, types, counts.

:class:`~sealpack.serialization.decoder.Decoder` (the parse and the walk) extends
:class:`FrameAccess`; handlers.py and the schema nodes call these methods on it. Each
out-of-band buffer may be referenced once, and a type is rebuilt only by a decomposer
the receiver registered (nothing is imported).
"""

from __future__ import annotations

from typing import Any

from sealpack.errors import DecodeError, UnknownTypeError
from sealpack.serialization.frame import Frame
from sealpack.serialization.handlers import pair
from sealpack.serialization.limits import DecodeLimits, check_limit
from sealpack.serialization.registry import Registry
from sealpack.serialization.unpacking import read_type_table

__all__ = ["FrameAccess"]


class FrameAccess:
    """The frame's buffers and type table, the registry and the element counts of one pass."""

    _items = 0  # class-level starting values: set when changed
    _array_elements = 0

    def __init__(self, registry: Registry, limits: DecodeLimits, frame: Frame, writable: bool):
        self._registry = registry
        self._limits = limits
        self._frame = frame
        self._writable = writable
        self._used = [False] * len(frame.buffers)
        types = frame.types
        empty = len(types) == 1 and types[0] == 0x90  # no registered types: the common case
        self._types = [] if empty else read_type_table(types, limits)

    def count_array(self, elements: int, itemsize: int) -> None:
        """Count an array's elements against the limits (unbacked ones as items too).

        Raises:
            LimitExceededError: too many array elements (or items) in the frame.
        """
        self._array_elements += elements
        check_limit(
            "number of array elements", self._array_elements, self._limits.max_array_elements
        )
        if itemsize == 0:  # no byte backs these elements: they cost like container items
            check_limit("zero-itemsize array elements", elements, self._limits.max_container_length)
            self._items += elements
            check_limit("number of items", self._items, self._limits.max_items)

    def buffer(self, index: Any) -> memoryview:
        """The out-of-band buffer ``index``; each may be referenced once."""
        if type(index) is not int or not 0 <= index < len(self._used):
            raise DecodeError("malformed frame: buffer index out of range")
        if self._used[index]:
            raise DecodeError("malformed frame: buffer referenced twice")
        self._used[index] = True
        return self._frame.buffers[index]

    def type_name(self, index: Any) -> str | None:
        """The type-table name at ``index``, or None when it is out of range."""
        if type(index) is int and 0 <= index < len(self._types):
            return self._types[index]
        return None

    def data_form(self, name: str) -> str | None:
        """How data of the type registered as ``name`` looks: ``"fields"``, ``"value"``,
        ``""`` (a decomposer's own form) or None (not registered here)."""
        if self._registry.decoder_for(name) is None:
            return None
        return self._registry.form_of(name) or ""

    def custom(self, value: Any) -> Any:
        """Rebuild a registered type from [type index, data]."""
        index, data = pair(value)
        if type(index) is not int or not 0 <= index < len(self._types):
            raise DecodeError("malformed frame: type table index out of range")
        name = self._types[index]
        recompose = self._registry.decoder_for(name)
        if recompose is None:
            raise UnknownTypeError(
                f"frame contains type {name[:200]!r}, which is not registered here; "
                "register a decomposer for it on the receiving side (fobs.register, "
                "fobs.register_data_classes or fobs.register_enum_types) before loading"
            )
        return recompose(data)

    def inline_bytes(self, data: bytes) -> bytes | bytearray:
        """Inline array data: a private writable copy when the input is writable."""
        return bytearray(data) if self._writable else data
