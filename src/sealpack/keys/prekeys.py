"""Prekeys of bundle version 2: the signed encodings, public records and private records.

Every prekey a bundle carries is signed by the identity key over a domain-separated
encoding that starts with the owner's name (docs/spec/keys.md section 2)::

    signed prekey       "sealpack/v2/signed-prekey" 0x00 || u8 len || name || u32be id
                        || X25519 pub (32) || u64be created || u64be expires || u8 has_pq
    PQ last-resort      "sealpack/v2/pq-prekey" 0x00 || u8 len || name || u32be id
                        || ML-KEM-768 pub (1184) || u64be created || u64be expires
    one-time prekey     "sealpack/v2/one-time-prekey" 0x00 || u8 len || name || u32be id
                        || X25519 pub (32)
    PQ one-time prekey  "sealpack/v2/pq-one-time-prekey" 0x00 || u8 len || name
                        || u32be id || ML-KEM-768 pub (1184)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Generic, TypeVar

from sealpack import errors, primitives
from sealpack.keys.secret import MLKEMSecret, X25519Secret

__all__ = [
    "MAX_PREKEY_ID",
    "MAX_TIME",
    "ONE_TIME_PREKEY_DOMAIN",
    "PQ_ONE_TIME_PREKEY_DOMAIN",
    "PQ_PREKEY_DOMAIN",
    "SPK_SIGNATURE_DOMAIN",
    "OneTimePrekey",
    "OneTimePrekeyPublic",
    "PQOneTimePrekey",
    "PQOneTimePrekeyPublic",
    "PQPrekey",
    "PQPrekeyPublic",
    "SignedPrekey",
    "SignedPrekeyPublic",
    "one_time_prekey_message",
    "pq_one_time_prekey_message",
    "pq_prekey_message",
    "signed_prekey_message",
]

SPK_SIGNATURE_DOMAIN = b"sealpack/v2/signed-prekey\x00"
PQ_PREKEY_DOMAIN = b"sealpack/v2/pq-prekey\x00"
ONE_TIME_PREKEY_DOMAIN = b"sealpack/v2/one-time-prekey\x00"
PQ_ONE_TIME_PREKEY_DOMAIN = b"sealpack/v2/pq-one-time-prekey\x00"
MAX_PREKEY_ID = 2**32 - 1
MAX_TIME = 2**40
"""Times (created, expires) are integers in ``0 .. MAX_TIME - 1``."""


def _owner(name: str, prekey_id: int, what: str) -> bytes:
    """``u8 len(name) || name || u32be id``, checking both."""
    raw = name.encode("ascii", errors="replace") if isinstance(name, str) else b""
    if not 1 <= len(raw) <= 64:
        raise errors.BundleError("a prekey owner name must be 1-64 ASCII characters")
    if type(prekey_id) is not int or not 0 <= prekey_id <= MAX_PREKEY_ID:
        raise errors.BundleError(f"{what} id out of range")
    return bytes([len(raw)]) + raw + struct.pack(">I", prekey_id)


def _times(created: int, expires: int, what: str) -> bytes:
    if not (type(created) is int and type(expires) is int and 0 <= created < expires < MAX_TIME):
        raise errors.BundleError(f"{what} times must satisfy 0 <= created < expires < 2**40")
    return struct.pack(">QQ", created, expires)


def _key(public: bytes, size: int, what: str) -> bytes:
    if type(public) is not bytes or len(public) != size:
        raise errors.BundleError(f"{what} must be {size} bytes")
    return public


def signed_prekey_message(
    name: str, prekey_id: int, public: bytes, created: int, expires: int, has_pq_prekey: bool
) -> bytes:
    """Return the bytes the identity key signs for a signed prekey (80 + len(name) bytes).

    Raises:
        BundleError: a field is out of range.
    """
    what = "signed prekey"
    return (
        SPK_SIGNATURE_DOMAIN
        + _owner(name, prekey_id, what)
        + _key(public, 32, what)
        + _times(created, expires, what)
        + (b"\x01" if has_pq_prekey else b"\x00")
    )


def pq_prekey_message(
    name: str, prekey_id: int, public: bytes, created: int, expires: int
) -> bytes:
    """Return the signed encoding of a PQ last-resort prekey (1227 + len(name) bytes).

    Raises:
        BundleError: a field is out of range.
    """
    what = "PQ prekey"
    return (
        PQ_PREKEY_DOMAIN
        + _owner(name, prekey_id, what)
        + _key(public, primitives.MLKEM768_PUBLIC_SIZE, what)
        + _times(created, expires, what)
    )


def one_time_prekey_message(name: str, prekey_id: int, public: bytes) -> bytes:
    """Return the signed encoding of a one-time prekey (65 + len(name) bytes).

    Raises:
        BundleError: a field is out of range.
    """
    what = "one-time prekey"
    return ONE_TIME_PREKEY_DOMAIN + _owner(name, prekey_id, what) + _key(public, 32, what)


def pq_one_time_prekey_message(name: str, prekey_id: int, public: bytes) -> bytes:
    """Return the signed encoding of a PQ one-time prekey (1220 + len(name) bytes).

    Raises:
        BundleError: a field is out of range.
    """
    what = "PQ one-time prekey"
    return (
        PQ_ONE_TIME_PREKEY_DOMAIN
        + _owner(name, prekey_id, what)
        + _key(public, primitives.MLKEM768_PUBLIC_SIZE, what)
    )


@dataclass(frozen=True)
class _TimedPrekeyPublic:
    """A published prekey with a lifetime: id, public key, created, expires, signature."""

    id: int
    public: bytes
    created: int
    expires: int
    signature: bytes

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(id={self.id}, created={self.created}, expires={self.expires})"


@dataclass(frozen=True)
class _OneTimePrekeyPublic:
    """A published one-time prekey: id, public key, signature."""

    id: int
    public: bytes
    signature: bytes

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id})"


@dataclass(frozen=True, repr=False)
class SignedPrekeyPublic(_TimedPrekeyPublic):
    """The public half of a signed prekey as published in a bundle."""


@dataclass(frozen=True, repr=False)
class PQPrekeyPublic(_TimedPrekeyPublic):
    """The public half of a PQ last-resort prekey (ML-KEM-768) as published in a bundle."""


@dataclass(frozen=True, repr=False)
class OneTimePrekeyPublic(_OneTimePrekeyPublic):
    """The public half of a one-time prekey: an id, an X25519 key and its signature."""


@dataclass(frozen=True, repr=False)
class PQOneTimePrekeyPublic(_OneTimePrekeyPublic):
    """The public half of a PQ one-time prekey: an id, an ML-KEM-768 key and its signature."""


_Secret = TypeVar("_Secret", X25519Secret, MLKEMSecret)


class _PrivateTimedPrekey(Generic[_Secret]):
    """A private prekey with a lifetime and the time after which the owner refuses it."""

    __slots__ = ("created", "expires", "id", "retire_at", "secret")

    def __init__(
        self, prekey_id: int, secret: _Secret, *, created: int, expires: int, retire_at: int
    ) -> None:
        self.id = prekey_id
        self.secret: _Secret = secret
        self.created = created
        self.expires = expires
        self.retire_at = retire_at

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id}, expires={self.expires}, <private>)"


class _PrivateOneTimePrekey(Generic[_Secret]):
    """A private one-time prekey: an id and its secret."""

    __slots__ = ("id", "secret")

    def __init__(self, prekey_id: int, secret: _Secret) -> None:
        self.id = prekey_id
        self.secret: _Secret = secret

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id}, <private>)"


class SignedPrekey(_PrivateTimedPrekey[X25519Secret]):
    """A private signed prekey, with the time after which the owner refuses it."""

    __slots__ = ()


class PQPrekey(_PrivateTimedPrekey[MLKEMSecret]):
    """A private PQ last-resort prekey (ML-KEM-768), rotated with the signed prekey."""

    __slots__ = ()


class OneTimePrekey(_PrivateOneTimePrekey[X25519Secret]):
    """A private one-time prekey."""

    __slots__ = ()


class PQOneTimePrekey(_PrivateOneTimePrekey[MLKEMSecret]):
    """A private PQ one-time prekey (ML-KEM-768)."""

    __slots__ = ()
