"""Application signatures by an identity key, always under a domain label (issue 10.4).

An application signs ``"sealpack/v2/app/" || purpose || 0x00 || message``; no sealpack
structure starts with ``"sealpack/v2/app/"``, so no application signature can ever pass
as a bundle prekey, an envelope or anything else sealpack signs with the same key.
"""

from __future__ import annotations

import re

from sealpack import errors, primitives
from sealpack.keys.arguments import require_bytes

__all__ = ["APP_SIGNATURE_DOMAIN", "PURPOSE_PATTERN", "app_signed_message", "verify_app_signature"]

APP_SIGNATURE_DOMAIN = b"sealpack/v2/app/"
PURPOSE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")


def app_signed_message(message: bytes, *, purpose: str) -> bytes:
    """Return the exact bytes an application signature covers.

    Args:
        message: the application's bytes.
        purpose: 1-64 characters of ``[A-Za-z0-9._:/-]`` naming what is signed.

    Returns:
        ``"sealpack/v2/app/" || purpose || 0x00 || message``.

    Raises:
        SealArgumentError: ``message`` is not bytes or ``purpose`` is not a valid label.
    """
    data = require_bytes(message, "message")
    if not isinstance(purpose, str) or PURPOSE_PATTERN.fullmatch(purpose) is None:
        raise errors.SealArgumentError(
            "purpose must be 1-64 characters of A-Z a-z 0-9 . _ : / - (starting alphanumeric)"
        )
    return APP_SIGNATURE_DOMAIN + purpose.encode("ascii") + b"\x00" + data


def verify_app_signature(
    identity_key: bytes, message: bytes, signature: bytes, *, purpose: str
) -> bool:
    """Return True when ``signature`` is ``Identity.sign(message, purpose=purpose)`` by the key.

    Args:
        identity_key: the signer's 32-byte Ed25519 identity key (``bundle.identity_key``).
        message: the signed bytes.
        signature: the 64-byte signature.
        purpose: the label the signer used.

    Raises:
        SealArgumentError: an argument has the wrong type or ``purpose`` is invalid.
    """
    signed = app_signed_message(message, purpose=purpose)
    key = require_bytes(identity_key, "identity_key")
    return primitives.ed25519_verify(key, require_bytes(signature, "signature"), signed)
