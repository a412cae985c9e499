"""The FOBS-compatible codec: Decomposer registry -> msgpack + out-of-band buffers.

See docs/spec/codec.md for the wire format.
"""

from __future__ import annotations

from sealpack.serialization.codec import Codec, default_codec
from sealpack.serialization.expect import Array, Spec
from sealpack.serialization.like import like
from sealpack.serialization.limits import DEFAULT_OOB_THRESHOLD, DecodeLimits
from sealpack.serialization.optional import PydanticDecomposer, TorchTensorDecomposer
from sealpack.serialization.registry import Decomposer

__all__ = [
    "DEFAULT_OOB_THRESHOLD",
    "Array",
    "Codec",
    "DecodeLimits",
    "Decomposer",
    "PydanticDecomposer",
    "Spec",
    "TorchTensorDecomposer",
    "default_codec",
    "like",
]
