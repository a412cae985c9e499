"""ML-KEM-768 (FIPS 203) wrappers over pyca/cryptography, for PQXDH.

A private key is its 64-byte seed ``d || z`` (FIPS 203 ``ML-KEM.KeyGen_internal``), so keys
generated from ``rng`` are reproducible. Encapsulation randomness is drawn inside OpenSSL
and cannot be injected (vectors record the ciphertext instead). Every decapsulation
failure (a ciphertext of the wrong length or type) is a :class:`~sealpack.errors.TamperedError`;
a well-formed but wrong ciphertext yields an unrelated secret (implicit rejection), which
the key agreement then fails on.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey

from sealpack import errors

__all__ = [
    "MLKEM768_CIPHERTEXT_SIZE",
    "MLKEM768_PUBLIC_SIZE",
    "MLKEM768_SEED_SIZE",
    "MLKEM768_SHARED_SIZE",
    "is_valid_mlkem768_public",
    "mlkem768_decapsulate",
    "mlkem768_encapsulate",
    "mlkem768_private_from_seed",
    "mlkem768_public_from_seed",
]

MLKEM768_SEED_SIZE = 64
MLKEM768_PUBLIC_SIZE = 1184
MLKEM768_CIPHERTEXT_SIZE = 1088
MLKEM768_SHARED_SIZE = 32


def mlkem768_private_from_seed(seed: bytes) -> MLKEM768PrivateKey:
    """Return the pyca private key of a 64-byte seed.

    Raises:
        InvalidKeyError: the seed is not 64 bytes.
    """
    if not isinstance(seed, bytes) or len(seed) != MLKEM768_SEED_SIZE:
        raise errors.InvalidKeyError(f"an ML-KEM-768 seed is {MLKEM768_SEED_SIZE} bytes")
    return MLKEM768PrivateKey.from_seed_bytes(seed)


def mlkem768_public_from_seed(seed: bytes) -> bytes:
    """Return the 1184-byte encapsulation key of a 64-byte seed.

    Raises:
        InvalidKeyError: the seed is not 64 bytes.
    """
    return mlkem768_private_from_seed(seed).public_key().public_bytes_raw()


def _public_key(public: bytes) -> MLKEM768PublicKey:
    if not isinstance(public, bytes) or len(public) != MLKEM768_PUBLIC_SIZE:
        raise errors.InvalidKeyError(f"an ML-KEM-768 public key is {MLKEM768_PUBLIC_SIZE} bytes")
    return _parsed_public_key(public)


@functools.lru_cache(maxsize=1024)
def _parsed_public_key(public: bytes) -> MLKEM768PublicKey:
    """Parse (and check) a public key once per key, not once per seal (issue 18: ~40 us).

    Public data only; a failure raises and is not cached.
    """
    try:
        return MLKEM768PublicKey.from_public_bytes(public)
    except ValueError:
        raise errors.InvalidKeyError("not a valid ML-KEM-768 public key") from None


def is_valid_mlkem768_public(public: bytes) -> bool:
    """Return True for a 1184-byte key that passes FIPS 203's encapsulation key check."""
    try:
        _public_key(public)
    except errors.InvalidKeyError:
        return False
    return True


def mlkem768_encapsulate(public: bytes) -> tuple[bytes, bytes]:
    """Encapsulate to ``public``.

    Returns:
        ``(shared_secret (32 bytes), ciphertext (1088 bytes))``.

    Raises:
        InvalidKeyError: ``public`` is not a valid ML-KEM-768 public key.
    """
    shared, ciphertext = _public_key(public).encapsulate()
    return shared, ciphertext


def mlkem768_decapsulate(private: MLKEM768PrivateKey, ciphertext: bytes) -> bytes:
    """Decapsulate ``ciphertext`` with a private key from :func:`mlkem768_private_from_seed`.

    Raises:
        TamperedError: the ciphertext is not 1088 bytes (or pyca refuses it).
    """
    if not isinstance(ciphertext, bytes) or len(ciphertext) != MLKEM768_CIPHERTEXT_SIZE:
        raise errors.TamperedError()
    try:
        return private.decapsulate(ciphertext)
    except (ValueError, TypeError):
        raise errors.TamperedError() from None
