"""App metadata in the signed header: plain msgpack values only, shallow and small."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgpack

from sealpack import errors

if TYPE_CHECKING:
    from sealpack.envelope.header import EnvelopeLimits

__all__ = ["check_metadata"]


def check_metadata(metadata: Mapping[str, Any], limits: EnvelopeLimits) -> None:
    """Check that metadata holds only plain msgpack values, nests shallowly and is small.

    Raises:
        SerializationTypeError: a key is not a str or a value has an unsupported type.
        LimitExceededError: too deep or too large once encoded.
    """
    _check_value(metadata, 0, limits.max_metadata_depth)
    if len(msgpack.packb(dict(metadata), use_bin_type=True)) > limits.max_metadata_size:
        raise errors.LimitExceededError(
            f"metadata exceeds {limits.max_metadata_size} bytes once encoded"
        )


def _check_value(value: Any, depth: int, max_depth: int) -> None:
    if depth > max_depth:
        raise errors.LimitExceededError(f"metadata nests deeper than {max_depth} levels")
    if value is None or isinstance(value, (bool, str, bytes)):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise errors.LimitExceededError("metadata integer out of the 64-bit range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise errors.SerializationTypeError("metadata floats must be finite")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_value(item, depth + 1, max_depth)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise errors.SerializationTypeError("metadata keys must be str")
            _check_value(item, depth + 1, max_depth)
        return
    raise errors.SerializationTypeError(
        f"can not put a {type(value).__name__!r} object in metadata: use str, int, float, "
        "bool, None, bytes, lists and str-keyed dicts"
    )
