"""Safety numbers: a short, human-comparable fingerprint of an identity key.

Construction (sealpack's own, in the spirit of Signal's safety numbers)::

    h_0 = SHA-512("sealpack/fingerprint/v1" 0x00 || IK)
    h_i = SHA-512(h_{i-1} || IK)            for i = 1 .. 5200
    the 64-byte h_5200 is cut into 12 chunks of 5 bytes (the first 60 bytes);
    each chunk, read as a big-endian integer, mod 100000, is written as 5 digits.

The result is 12 groups of 5 digits separated by spaces (60 digits, ~199 bits).
The iteration raises the cost of searching for a key with a chosen fingerprint.
"""

from __future__ import annotations

import hmac
from functools import lru_cache

from cryptography.hazmat.primitives import hashes

from sealpack import errors, primitives
from sealpack.keys.arguments import require_bytes

__all__ = [
    "FINGERPRINT_DOMAIN",
    "FINGERPRINT_ITERATIONS",
    "fingerprint",
    "fingerprint_matches",
    "key_id",
]

FINGERPRINT_DOMAIN = b"sealpack/fingerprint/v1\x00"
FINGERPRINT_ITERATIONS = 5200
KEY_ID_DOMAIN = b"sealpack/key-id/v1"
_GROUPS = 12
_CHUNK = 5


def fingerprint(identity_key: bytes) -> str:
    """Return the safety number of an Ed25519 identity public key.

    Args:
        identity_key: the 32-byte Ed25519 public key.

    Returns:
        12 groups of 5 decimal digits separated by single spaces.

    Raises:
        SealArgumentError: ``identity_key`` is not bytes.
    """
    return _fingerprint(require_bytes(identity_key, "identity_key"))


def fingerprint_matches(identity_key: bytes, expected: str) -> bool:
    """Whether ``expected`` (a safety number compared out of band) is this key's.

    Spaces and line breaks are ignored, so ``"12345 67890 ..."`` and the digits typed
    as one run both match; the comparison takes the same time wherever they differ.

    Args:
        identity_key: the 32-byte Ed25519 public key.
        expected: the safety number the user was given.

    Returns:
        True when the digits are those of ``fingerprint(identity_key)``.

    Raises:
        SealArgumentError: ``identity_key`` is not bytes, or ``expected`` not a str.
    """
    if not isinstance(expected, str):
        raise errors.SealArgumentError("expected fingerprint must be a str")
    digits = "".join(expected.split()).encode("ascii", "replace")
    return hmac.compare_digest(digits, fingerprint(identity_key).replace(" ", "").encode())


@lru_cache(maxsize=4096)
def _fingerprint(identity_key: bytes) -> str:
    state = primitives.sha512(FINGERPRINT_DOMAIN + identity_key)
    for _ in range(FINGERPRINT_ITERATIONS):
        digest = hashes.Hash(hashes.SHA512())
        digest.update(state)
        digest.update(identity_key)
        state = digest.finalize()
    groups = (
        int.from_bytes(state[i * _CHUNK : (i + 1) * _CHUNK], "big") % 100000 for i in range(_GROUPS)
    )
    return " ".join(f"{group:05d}" for group in groups)


def key_id(identity_key: bytes) -> bytes:
    """Return the 16-byte key id: SHA-256("sealpack/key-id/v1" || IK)[:16].

    Raises:
        SealArgumentError: ``identity_key`` is not bytes.
    """
    if type(identity_key) is bytes:  # the common case: no copy (issue 18)
        return _key_id(identity_key)
    return _key_id(require_bytes(identity_key, "identity_key"))


@lru_cache(maxsize=4096)
def _key_id(identity_key: bytes) -> bytes:
    """The key id of public bytes, computed once per key (issue 18: ~5 per message)."""
    return primitives.sha256(KEY_ID_DOMAIN + identity_key)[:16]
