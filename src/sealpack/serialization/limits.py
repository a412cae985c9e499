"""Decode limits of the codec and the encoder's size threshold."""

from __future__ import annotations

from dataclasses import dataclass

from sealpack.errors import LimitExceededError

__all__ = ["DEFAULT_OOB_THRESHOLD", "DecodeLimits", "check_limit"]

#: Byte size from which a buffer (array data, bytes, str) is sent out-of-band.
DEFAULT_OOB_THRESHOLD = 64 * 1024


@dataclass(frozen=True)
class DecodeLimits:
    """Upper bounds the decoder enforces on untrusted frames.

    Attributes:
        max_depth: deepest nesting of containers and typed values.
        max_container_length: most elements in one array, map, set or tuple.
        max_total_size: largest accepted frame in bytes.
        max_buffers: most out-of-band buffers in one frame.
        max_items: most elements (array items plus map pairs) in a whole frame.
        max_type_names: most entries in the frame's type table.
        max_array_elements: most numpy array elements in a whole frame (elements of
            zero-itemsize arrays, which no byte backs, count as items too).
    """

    max_depth: int = 256
    max_container_length: int = 10_000_000
    max_total_size: int = 1 << 40
    max_buffers: int = 100_000
    max_items: int = 50_000_000
    max_type_names: int = 10_000
    max_array_elements: int = 1 << 40

    def __post_init__(self) -> None:
        for name in (
            "max_depth",
            "max_container_length",
            "max_total_size",
            "max_buffers",
            "max_items",
            "max_type_names",
            "max_array_elements",
        ):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"DecodeLimits.{name} must be a positive int, got {value!r}")


def check_limit(what: str, value: int, limit: int) -> None:
    """Raise LimitExceededError when ``value`` exceeds ``limit``.

    Raises:
        LimitExceededError: naming the limit and both numbers.
    """
    if value > limit:
        raise LimitExceededError(f"{what} {value} exceeds the limit of {limit}")
