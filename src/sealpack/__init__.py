"""sealpack: end-to-end encrypted serialization for multi-party ML.

A FOBS-compatible codec (``sealpack.fobs``), Signal X3DH key agreement
(``sealpack.keys``, ``sealpack.x3dh``) and a signed, chunked AES-256-GCM
envelope (``sealpack.seal`` / ``sealpack.unseal``).
"""

from __future__ import annotations

from sealpack import errors, fobs, keys, x3dh
from sealpack._version import __version__
from sealpack.api import (
    EnvelopeInfo,
    SecureSerializer,
    UnsealedInfo,
    acknowledge,
    inspect,
    seal,
    seal_buffer,
    seal_to,
    unseal,
    unseal_from,
)
from sealpack.errors import SealpackError
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore
from sealpack.serialization import Array, Codec, DecodeLimits, like
from sealpack.session import Session

__all__ = [
    "Array",
    "Codec",
    "DecodeLimits",
    "EnvelopeInfo",
    "Identity",
    "KeyBundle",
    "KeyStore",
    "SealpackError",
    "SecureSerializer",
    "Session",
    "TrustStore",
    "UnsealedInfo",
    "__version__",
    "acknowledge",
    "errors",
    "fobs",
    "inspect",
    "keys",
    "like",
    "seal",
    "seal_buffer",
    "seal_to",
    "unseal",
    "unseal_from",
    "x3dh",
]
