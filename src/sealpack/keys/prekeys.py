"""Signed and one-time prekeys: public records, private records, the signed encoding."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sealpack import errors
from sealpack.keys.secret import Ed25519Seed, X25519Secret

__all__ = [
    "MAX_PREKEY_ID",
    "SPK_SIGNATURE_DOMAIN",
    "OneTimePrekey",
    "OneTimePrekeyPublic",
    "SignedPrekey",
    "SignedPrekeyPublic",
    "signed_prekey_message",
]

SPK_SIGNATURE_DOMAIN = b"sealpack/signed-prekey/v1\x00"
MAX_PREKEY_ID = 2**32 - 1
_MAX_TIME = 2**63 - 1


def signed_prekey_message(prekey_id: int, public: bytes, created: int, expires: int) -> bytes:
    """Return the bytes the identity key signs for a signed prekey.

    Layout: ``"sealpack/signed-prekey/v1" 0x00 || u32be id || public (32) ||
    u64be created || u64be expires`` (70 bytes).

    Raises:
        BundleError: a field is out of range.
    """
    if not 0 <= prekey_id <= MAX_PREKEY_ID:
        raise errors.BundleError("signed prekey id out of range")
    if not (0 <= created <= _MAX_TIME and 0 <= expires <= _MAX_TIME):
        raise errors.BundleError("signed prekey time out of range")
    if len(public) != 32:
        raise errors.BundleError("signed prekey must be 32 bytes")
    return SPK_SIGNATURE_DOMAIN + struct.pack(">I32sQQ", prekey_id, public, created, expires)


@dataclass(frozen=True)
class SignedPrekeyPublic:
    """The public half of a signed prekey as published in a bundle."""

    id: int
    public: bytes
    created: int
    expires: int
    signature: bytes

    def __repr__(self) -> str:
        return f"SignedPrekeyPublic(id={self.id}, created={self.created}, expires={self.expires})"

    def message(self) -> bytes:
        """Return the signed encoding of this prekey (see :func:`signed_prekey_message`)."""
        return signed_prekey_message(self.id, self.public, self.created, self.expires)


@dataclass(frozen=True)
class OneTimePrekeyPublic:
    """The public half of a one-time prekey: an id and an X25519 public key."""

    id: int
    public: bytes

    def __repr__(self) -> str:
        return f"OneTimePrekeyPublic(id={self.id})"


class SignedPrekey:
    """A private signed prekey, with the time after which the owner refuses it."""

    __slots__ = ("created", "expires", "id", "retire_at", "secret", "signature")

    def __init__(
        self,
        prekey_id: int,
        secret: X25519Secret,
        *,
        created: int,
        expires: int,
        signature: bytes,
        retire_at: int,
    ) -> None:
        self.id = prekey_id
        self.secret = secret
        self.created = created
        self.expires = expires
        self.signature = signature
        self.retire_at = retire_at

    @classmethod
    def create(
        cls,
        prekey_id: int,
        secret: X25519Secret,
        identity: Ed25519Seed,
        *,
        created: int,
        lifetime: int,
        grace: int,
    ) -> SignedPrekey:
        """Create and sign a prekey valid for ``lifetime`` s, kept ``grace`` s longer."""
        expires = created + lifetime
        message = signed_prekey_message(prekey_id, secret.public, created, expires)
        return cls(
            prekey_id,
            secret,
            created=created,
            expires=expires,
            signature=identity.sign(message),
            retire_at=expires + grace,
        )

    def public_record(self) -> SignedPrekeyPublic:
        """Return the public record published in bundles."""
        return SignedPrekeyPublic(
            self.id, self.secret.public, self.created, self.expires, self.signature
        )

    def __repr__(self) -> str:
        return f"SignedPrekey(id={self.id}, expires={self.expires}, <private>)"


class OneTimePrekey:
    """A private one-time prekey."""

    __slots__ = ("id", "secret")

    def __init__(self, prekey_id: int, secret: X25519Secret) -> None:
        self.id = prekey_id
        self.secret = secret

    def public_record(self) -> OneTimePrekeyPublic:
        """Return the public record published in bundles."""
        return OneTimePrekeyPublic(self.id, self.secret.public)

    def __repr__(self) -> str:
        return f"OneTimePrekey(id={self.id}, <private>)"
