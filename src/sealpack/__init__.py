"""sealpack: end-to-end encrypted serialization for multi-party ML.

A FOBS-compatible codec (``sealpack.fobs``), Signal X3DH key agreement
(``sealpack.keys``, ``sealpack.x3dh``) and a signed, chunked AES-256-GCM
envelope (``sealpack.seal`` / ``sealpack.unseal``).
"""

from __future__ import annotations

from sealpack import errors
from sealpack.errors import SealpackError

__version__ = "0.1.0"

__all__ = ["SealpackError", "__version__", "errors"]
