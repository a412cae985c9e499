"""Public-key helpers on public data only: Ed25519 -> X25519, validity, parsed keys.

The conversion is the birational map u = (1 + y) / (1 - y) mod p. pyca/cryptography
offers no such function, so it is computed here; no secret ever passes through it.
Callers (:mod:`sealpack.primitives`) check lengths and types first.

Parsed pyca public-key objects of long-lived keys (identity keys, signed prekeys) are
kept in bounded caches (issue 18: a parse costs ~1-4 us, several per message); input
of the wrong type or length raises and is never cached.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from sealpack import errors

__all__ = [
    "ed25519_public_key",
    "edwards_to_montgomery",
    "is_valid_x25519_public",
    "x25519_public_key",
    "x25519_static_public",
]

_KEY_SIZE = 32
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


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
        raise errors.InvalidKeyError("non-canonical Ed25519 public key")
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if (v * x * x - u) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (v * x * x - u) % _P != 0:
        raise errors.InvalidKeyError("Ed25519 public key is not a curve point")
    if x == 0 and sign == 1:
        raise errors.InvalidKeyError("non-canonical Ed25519 public key")
    if x & 1 != sign:
        x = _P - x
    return x, y


def edwards_to_montgomery(public: bytes) -> bytes:
    """Map a 32-byte Ed25519 public key to its X25519 form: u = (1 + y) / (1 - y) mod p.

    Raises:
        InvalidKeyError: non-canonical encoding, not on the curve, or a point of small
            order (including the identity).
    """
    x, y = _decode_edwards(public)
    point = (x, y, 1, x * y % _P)
    for _ in range(3):
        point = _edwards_add(point, point)
    if point[0] % _P == 0:  # 8 * P is the identity: P has small order
        raise errors.InvalidKeyError("Ed25519 public key has small order")
    u = (1 + y) * pow(1 - y, _P - 2, _P) % _P
    return u.to_bytes(_KEY_SIZE, "little")


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
    if len(public) != _KEY_SIZE:
        return False
    u = int.from_bytes(public, "little")
    return u < _P and u not in _SMALL_ORDER_U


def x25519_public_key(public: bytes) -> X25519PublicKey:
    """Parse a raw X25519 public key, e.g. to use it in several exchanges.

    Raises:
        InvalidKeyError: ``public`` is not 32 bytes.
    """
    if not isinstance(public, (bytes, bytearray, memoryview)):
        raise errors.InvalidKeyError("public key must be bytes")
    raw = bytes(public)
    if len(raw) != _KEY_SIZE:
        raise errors.InvalidKeyError(f"public key must be {_KEY_SIZE} bytes, got {len(raw)}")
    return X25519PublicKey.from_public_bytes(raw)


def x25519_static_public(public: bytes) -> X25519PublicKey:
    """:func:`x25519_public_key` for a long-lived key, parsed once (bounded cache).

    Small-order keys parse (every 32-byte string does) and are refused by the exchange,
    every time, cached or not.

    Raises:
        InvalidKeyError: ``public`` is not 32 bytes.
    """
    if type(public) is not bytes or len(public) != _KEY_SIZE:
        return x25519_public_key(public)
    return _x25519_static(public)


@functools.lru_cache(maxsize=4096)
def _x25519_static(public: bytes) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(public)


@functools.lru_cache(maxsize=4096)
def ed25519_public_key(public: bytes) -> Ed25519PublicKey:
    """A sender's verification key object, built once per key (bounded cache).

    Raises:
        ValueError: pyca refuses the key (then nothing is cached).
    """
    return Ed25519PublicKey.from_public_bytes(public)
