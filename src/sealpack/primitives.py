"""Thin wrappers over pyca/cryptography: the only place sealpack touches primitives.

Every function takes and returns raw ``bytes``. Bad lengths or invalid points raise
:class:`InvalidKeyError` (a :class:`~sealpack.errors.SealpackError`); an all-zero X25519
output or a failed AEAD tag raises :class:`~sealpack.errors.TamperedError`.

The Ed25519 -> X25519 public key conversion is the birational map u = (1 + y) / (1 - y)
mod p. pyca/cryptography offers no such function, so it is computed here with Python
integers on *public* data only (no secret ever passes through it).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sealpack import errors

__all__ = [
    "InvalidKeyError",
    "Rng",
    "aes256gcm_decrypt",
    "aes256gcm_encrypt",
    "chacha20poly1305_decrypt",
    "chacha20poly1305_encrypt",
    "ed25519_public_from_seed",
    "ed25519_public_to_x25519",
    "ed25519_seed_to_x25519_private",
    "ed25519_sign",
    "ed25519_verify",
    "hkdf_sha256",
    "is_valid_x25519_public",
    "random_bytes",
    "scrypt",
    "sha256",
    "sha512",
    "x25519",
    "x25519_public_from_private",
]

Rng = Callable[[int], bytes]
"""A source of randomness: ``rng(n)`` returns ``n`` random bytes."""

KEY_SIZE = 32
SIGNATURE_SIZE = 64
GCM_NONCE_SIZE = 12
CHACHA_NONCE_SIZE = 12
HKDF_SHA256_MAX_LENGTH = 255 * 32

_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


InvalidKeyError = errors.InvalidKeyError


def _require_bytes(value: object, size: int | None, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidKeyError(f"{what} must be bytes")
    raw = bytes(value)
    if size is not None and len(raw) != size:
        raise InvalidKeyError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def random_bytes(n: int, *, rng: Rng | None = None) -> bytes:
    """Return ``n`` random bytes from ``rng`` (default ``os.urandom``).

    Raises:
        InvalidKeyError: the rng returned the wrong number of bytes.
    """
    data = (rng or os.urandom)(n)
    return _require_bytes(data, n, "rng output")


def sha256(data: bytes) -> bytes:
    """Return the SHA-256 digest of ``data``."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def sha512(data: bytes) -> bytes:
    """Return the SHA-512 digest of ``data``."""
    digest = hashes.Hash(hashes.SHA512())
    digest.update(data)
    return digest.finalize()


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869).

    Raises:
        InvalidKeyError: ``length`` is not in 1..8160.
    """
    if not 1 <= length <= HKDF_SHA256_MAX_LENGTH:
        raise InvalidKeyError(f"HKDF-SHA256 length must be 1..{HKDF_SHA256_MAX_LENGTH}")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info)
    return hkdf.derive(ikm)


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
        Ed25519PublicKey.from_public_bytes(bytes(public)).verify(bytes(signature), message)
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
    peer = X25519PublicKey.from_public_bytes(_require_bytes(public, KEY_SIZE, "public key"))
    try:
        shared = key.exchange(peer)
    except ValueError as error:  # OpenSSL refuses an all-zero result
        raise errors.TamperedError() from error
    if shared == bytes(KEY_SIZE):
        raise errors.TamperedError()
    return shared


def ed25519_seed_to_x25519_private(seed: bytes) -> bytes:
    """Return the X25519 private key of an Ed25519 seed: clamp(SHA-512(seed)[:32])."""
    scalar = bytearray(sha512(_require_bytes(seed, KEY_SIZE, "seed"))[:KEY_SIZE])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    return bytes(scalar)


def _edwards_add(
    p1: tuple[int, int, int, int], p2: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    """Add two points in extended coordinates (X, Y, Z, T) on edwards25519."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _decode_edwards(public: bytes) -> tuple[int, int]:
    """Decode a canonical Ed25519 point (RFC 8032 5.1.3) or raise InvalidKeyError."""
    encoded = int.from_bytes(public, "little")
    sign = encoded >> 255
    y = encoded & ((1 << 255) - 1)
    if y >= _P:
        raise InvalidKeyError("non-canonical Ed25519 public key")
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if (v * x * x - u) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (v * x * x - u) % _P != 0:
        raise InvalidKeyError("Ed25519 public key is not a curve point")
    if x == 0 and sign == 1:
        raise InvalidKeyError("non-canonical Ed25519 public key")
    if x & 1 != sign:
        x = _P - x
    return x, y


def ed25519_public_to_x25519(public: bytes) -> bytes:
    """Map an Ed25519 public key to its X25519 form: u = (1 + y) / (1 - y) mod p.

    Raises:
        InvalidKeyError: wrong length, non-canonical encoding, not on the curve, or a
            point of small order (including the identity).
    """
    x, y = _decode_edwards(_require_bytes(public, KEY_SIZE, "Ed25519 public key"))
    point = (x, y, 1, x * y % _P)
    for _ in range(3):
        point = _edwards_add(point, point)
    if point[0] % _P == 0:  # 8 * P is the identity: P has small order
        raise InvalidKeyError("Ed25519 public key has small order")
    u = (1 + y) * pow(1 - y, _P - 2, _P) % _P
    return u.to_bytes(KEY_SIZE, "little")


# The u-coordinates of the points of order dividing 8 on curve25519 (and their
# non-canonical encodings u + p), as listed by Bernstein's "Curve25519" page.
_SMALL_ORDER_U = frozenset(
    {
        0,
        1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
        _P - 1,
        _P,
        _P + 1,
    }
)


def is_valid_x25519_public(public: bytes) -> bool:
    """Return True for a 32-byte canonical X25519 public key not of small order."""
    if len(public) != KEY_SIZE:
        return False
    u = int.from_bytes(public, "little")
    return u < _P and u not in _SMALL_ORDER_U


def aes256gcm_encrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """AES-256-GCM encrypt; returns ciphertext || 16-byte tag.

    Raises:
        InvalidKeyError: the key is not 32 bytes or the nonce not 12 bytes.
    """
    aead = AESGCM(_require_bytes(key, KEY_SIZE, "AES-256 key"))
    return aead.encrypt(_require_bytes(nonce, GCM_NONCE_SIZE, "GCM nonce"), data, aad)


def aes256gcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """AES-256-GCM decrypt.

    Raises:
        InvalidKeyError: the key is not 32 bytes or the nonce not 12 bytes.
        TamperedError: the tag does not verify (or the input is too short).
    """
    aead = AESGCM(_require_bytes(key, KEY_SIZE, "AES-256 key"))
    return _aead_decrypt(aead, _require_bytes(nonce, GCM_NONCE_SIZE, "GCM nonce"), data, aad)


def chacha20poly1305_encrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439) encrypt; returns ciphertext || 16-byte tag.

    Raises:
        InvalidKeyError: the key is not 32 bytes or the nonce not 12 bytes.
    """
    aead = ChaCha20Poly1305(_require_bytes(key, KEY_SIZE, "ChaCha20 key"))
    return aead.encrypt(_require_bytes(nonce, CHACHA_NONCE_SIZE, "ChaCha20 nonce"), data, aad)


def chacha20poly1305_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439) decrypt.

    Raises:
        InvalidKeyError: the key is not 32 bytes or the nonce not 12 bytes.
        TamperedError: the tag does not verify (or the input is too short).
    """
    aead = ChaCha20Poly1305(_require_bytes(key, KEY_SIZE, "ChaCha20 key"))
    nonce = _require_bytes(nonce, CHACHA_NONCE_SIZE, "ChaCha20 nonce")
    return _aead_decrypt(aead, nonce, data, aad)


def _aead_decrypt(aead: AESGCM | ChaCha20Poly1305, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """Decrypt with checked key and nonce: every remaining failure is tampering."""
    try:
        return aead.decrypt(nonce, data, aad)
    except (InvalidTag, ValueError) as error:
        raise errors.TamperedError() from error
