"""Thin wrappers over pyca/cryptography: the only place sealpack touches primitives.

This is an **internal layer**, not part of sealpack's public API: applications use
:mod:`sealpack.api` (seal / unseal) and :mod:`sealpack.keys`. The nonce-taking AEAD
wrappers (``_aes256gcm_*``, ``_chacha20poly1305_*``) are private on purpose: no public
signature takes a nonce; callers inside sealpack derive a unique key per use (the key
wrap) or draw the nonce from ``rng`` themselves (``keys.secret.SymmetricKey``).

Every function takes and returns raw ``bytes``. Bad lengths or invalid points raise
:class:`InvalidKeyError` (a :class:`~sealpack.errors.SealpackError`); an all-zero X25519
output or a failed AEAD tag raises :class:`~sealpack.errors.TamperedError`.

The Ed25519 -> X25519 public key conversion (integer arithmetic on public data only)
and the parsed public-key objects (built once per long-lived key) live in
:mod:`sealpack.primitives_curve`; the ML-KEM-768 wrappers (PQXDH) live in
:mod:`sealpack.primitives_kem` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sealpack import errors
from sealpack.primitives_curve import (
    ed25519_public_key,
    edwards_to_montgomery,
    is_valid_x25519_public,
    x25519_public_key,
    x25519_static_public,
)
from sealpack.primitives_kem import (
    MLKEM768_CIPHERTEXT_SIZE,
    MLKEM768_PUBLIC_SIZE,
    MLKEM768_SEED_SIZE,
    MLKEM768_SHARED_SIZE,
    is_valid_mlkem768_public,
    mlkem768_decapsulate,
    mlkem768_encapsulate,
    mlkem768_private_from_seed,
    mlkem768_public_from_seed,
)

__all__ = [
    "MLKEM768_CIPHERTEXT_SIZE",
    "MLKEM768_PUBLIC_SIZE",
    "MLKEM768_SEED_SIZE",
    "MLKEM768_SHARED_SIZE",
    "InvalidKeyError",
    "Rng",
    "ed25519_public_from_seed",
    "ed25519_public_to_x25519",
    "ed25519_seed_to_x25519_private",
    "ed25519_sign",
    "ed25519_verify",
    "hkdf_sha256",
    "is_valid_mlkem768_public",
    "is_valid_x25519_public",
    "mlkem768_decapsulate",
    "mlkem768_encapsulate",
    "mlkem768_private_from_seed",
    "mlkem768_public_from_seed",
    "random_bytes",
    "scrypt",
    "sha256",
    "sha512",
    "x25519",
    "x25519_public_from_private",
    "x25519_public_key",
    "x25519_static_public",
    "x25519_with",
    "x25519_with_key",
]

Rng = Callable[[int], bytes]
"""A source of randomness: ``rng(n)`` returns ``n`` random bytes."""

KEY_SIZE = 32
SIGNATURE_SIZE = 64
GCM_NONCE_SIZE = 12
CHACHA_NONCE_SIZE = 12
HKDF_SHA256_MAX_LENGTH = 255 * 32
_ZERO_KEY = bytes(KEY_SIZE)
_SHA256 = hashes.SHA256()  # stateless; built once, not per derivation


InvalidKeyError = errors.InvalidKeyError


def _require_bytes(value: object, size: int | None, what: str) -> bytes:
    if type(value) is bytes:  # the common case: no isinstance, no copy
        raw = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise InvalidKeyError(f"{what} must be bytes")
    if size is not None and len(raw) != size:
        raise InvalidKeyError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def random_bytes(n: int, *, rng: Rng | None = None) -> bytes:
    """Return ``n`` random bytes from ``rng`` (default ``os.urandom``).

    Raises:
        InvalidKeyError: the rng returned the wrong number of bytes.
    """
    if rng is None:
        return os.urandom(n)  # always exactly n bytes
    return _require_bytes(rng(n), n, "rng output")


def sha256(data: bytes) -> bytes:
    """Return the SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()  # OpenSSL's, as pyca's Hash; ~3x less overhead


def sha512(data: bytes) -> bytes:
    """Return the SHA-512 digest of ``data``."""
    return hashlib.sha512(data).digest()


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869).

    Raises:
        InvalidKeyError: ``length`` is not in 1..8160.
    """
    if not 1 <= length <= HKDF_SHA256_MAX_LENGTH:
        raise InvalidKeyError(f"HKDF-SHA256 length must be 1..{HKDF_SHA256_MAX_LENGTH}")
    return HKDF(algorithm=_SHA256, length=length, salt=salt, info=info).derive(ikm)


def scrypt(passphrase: bytes, *, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    """Derive ``length`` bytes from a passphrase with scrypt.

    Raises:
        InvalidKeyError: the parameters are rejected by scrypt.
    """
    try:
        return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(passphrase)
    except (ValueError, TypeError, MemoryError) as error:
        raise InvalidKeyError("invalid scrypt parameters") from error


def ed25519_public_from_seed(seed: bytes) -> bytes:
    """Return the 32-byte Ed25519 public key of a 32-byte seed."""
    key = Ed25519PrivateKey.from_private_bytes(_require_bytes(seed, KEY_SIZE, "seed"))
    return key.public_key().public_bytes_raw()


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    """Sign ``message`` with the Ed25519 key of ``seed`` (RFC 8032, deterministic)."""
    key = Ed25519PrivateKey.from_private_bytes(_require_bytes(seed, KEY_SIZE, "seed"))
    return key.sign(message)


def ed25519_verify(public: bytes, signature: bytes, message: bytes) -> bool:
    """Return True when ``signature`` is a valid Ed25519 signature of ``message``.

    Wrong lengths or an undecodable public key give False, never an exception.
    """
    if len(public) != KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        ed25519_public_key(bytes(public)).verify(bytes(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def x25519_public_from_private(private: bytes) -> bytes:
    """Return the X25519 public key of a 32-byte private key (clamped by X25519)."""
    key = X25519PrivateKey.from_private_bytes(_require_bytes(private, KEY_SIZE, "private key"))
    return key.public_key().public_bytes_raw()


def x25519(private: bytes, public: bytes) -> bytes:
    """X25519 (RFC 7748) of a raw private and a raw public key.

    Raises:
        InvalidKeyError: a key has the wrong length.
        TamperedError: the shared secret is all zeros (small-order public key).
    """
    key = X25519PrivateKey.from_private_bytes(_require_bytes(private, KEY_SIZE, "private key"))
    return x25519_with(key, public)


def x25519_with(key: X25519PrivateKey, public: bytes) -> bytes:
    """X25519 with a private key object built once (a cached key handle); as :func:`x25519`.

    Raises:
        InvalidKeyError: ``public`` has the wrong length.
        TamperedError: the shared secret is all zeros (small-order public key).
    """
    return x25519_with_key(key, x25519_public_key(public))


def x25519_with_key(key: X25519PrivateKey, peer: X25519PublicKey) -> bytes:
    """X25519 of two key objects; TamperedError for an all-zero result (small order)."""
    try:
        shared = key.exchange(peer)
    except ValueError as error:  # OpenSSL refuses an all-zero result
        raise errors.TamperedError() from error
    if hmac.compare_digest(shared, _ZERO_KEY):
        raise errors.TamperedError()
    return shared


def ed25519_seed_to_x25519_private(seed: bytes) -> bytes:
    """Return the X25519 private key of an Ed25519 seed: clamp(SHA-512(seed)[:32])."""
    scalar = bytearray(sha512(_require_bytes(seed, KEY_SIZE, "seed"))[:KEY_SIZE])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    return bytes(scalar)


def ed25519_public_to_x25519(public: bytes) -> bytes:
    """Map an Ed25519 public key to its X25519 form: u = (1 + y) / (1 - y) mod p.

    Raises:
        InvalidKeyError: wrong length, non-canonical encoding, not on the curve, or a
            point of small order (including the identity).
    """
    return edwards_to_montgomery(_require_bytes(public, KEY_SIZE, "Ed25519 public key"))


def _aes256gcm_encrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """AES-256-GCM encrypt; returns ciphertext || 16-byte tag.

    Raises:
        InvalidKeyError: the key is not 32 bytes or the nonce not 12 bytes.
    """
    aead, nonce = _keyed(AESGCM, key, nonce)
    return aead.encrypt(nonce, data, aad)


def _aes256gcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """AES-256-GCM decrypt.

    Raises:
        InvalidKeyError: the key is not 32 bytes or the nonce not 12 bytes.
        TamperedError: the tag does not verify (or the input is too short).
    """
    return _aead_decrypt(*_keyed(AESGCM, key, nonce), data, aad)


def _chacha20poly1305_encrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439) encrypt; returns ciphertext || 16-byte tag.

    Raises:
        InvalidKeyError: the key is not 32 bytes or the nonce not 12 bytes.
    """
    aead, nonce = _keyed(ChaCha20Poly1305, key, nonce)
    return aead.encrypt(nonce, data, aad)


def _chacha20poly1305_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439) decrypt.

    Raises:
        InvalidKeyError: the key is not 32 bytes or the nonce not 12 bytes.
        TamperedError: the tag does not verify (or the input is too short).
    """
    return _aead_decrypt(*_keyed(ChaCha20Poly1305, key, nonce), data, aad)


_AEAD_NAMES: dict[type[AESGCM | ChaCha20Poly1305], tuple[str, str, int]] = {
    AESGCM: ("AES-256 key", "GCM nonce", GCM_NONCE_SIZE),
    ChaCha20Poly1305: ("ChaCha20 key", "ChaCha20 nonce", CHACHA_NONCE_SIZE),
}


def _keyed(
    cipher: type[AESGCM | ChaCha20Poly1305], key: bytes, nonce: bytes
) -> tuple[AESGCM | ChaCha20Poly1305, bytes]:
    """The cipher under a checked 32-byte key, and the checked nonce (key checked first)."""
    key_name, nonce_name, nonce_size = _AEAD_NAMES[cipher]
    aead = cipher(_require_bytes(key, KEY_SIZE, key_name))
    return aead, _require_bytes(nonce, nonce_size, nonce_name)


def _aead_decrypt(aead: AESGCM | ChaCha20Poly1305, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """Decrypt with checked key and nonce: every remaining failure is tampering."""
    try:
        return aead.decrypt(nonce, data, aad)
    except (InvalidTag, ValueError) as error:
        raise errors.TamperedError() from error
