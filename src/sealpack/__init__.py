"""sealpack: end-to-end encrypted serialization for multi-party ML.

A FOBS-compatible codec (``sealpack.fobs``), Signal X3DH key agreement
(``sealpack.keys``, ``sealpack.x3dh``) and a signed, chunked AES-256-GCM
envelope (``sealpack.seal`` / ``sealpack.unseal``).
"""

from __future__ import annotations

from sealpack import errors, fobs, keys, x3dh
from sealpack.api import (
    EnvelopeInfo,
    SecureSerializer,
    UnsealedInfo,
    inspect,
    seal,
    seal_buffer,
    seal_to,
    unseal,
    unseal_from,
)
from sealpack.errors import SealpackError
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore
from sealpack.serialization import Codec, DecodeLimits

__version__ = "0.1.0"

__all__ = [
    "Codec",
    "DecodeLimits",
    "EnvelopeInfo",
    "Identity",
    "KeyBundle",
    "KeyStore",
    "SealpackError",
    "SecureSerializer",
    "TrustStore",
    "UnsealedInfo",
    "__version__",
    "errors",
    "fobs",
    "inspect",
    "keys",
    "seal",
    "seal_buffer",
    "seal_to",
    "unseal",
    "unseal_from",
    "x3dh",
]
