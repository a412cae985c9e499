"""KeyBundle: the public, self-verifying part of an identity, and its JSON form."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sealpack import errors, primitives
from sealpack.keys import bundle_json
from sealpack.keys.arguments import require_int, require_now
from sealpack.keys.fingerprint import fingerprint, key_id
from sealpack.keys.names import validate_name
from sealpack.keys.prekeys import (
    MAX_PREKEY_ID,
    OneTimePrekeyPublic,
    SignedPrekeyPublic,
    signed_prekey_message,
)

__all__ = ["MAX_ONE_TIME_PREKEYS", "KeyBundle", "identity_x25519"]

MAX_ONE_TIME_PREKEYS = 10_000


@lru_cache(maxsize=4096)
def identity_x25519(identity_key: bytes) -> bytes:
    """Return the X25519 form of an Ed25519 identity key (cached).

    Raises:
        BundleError: the key is not a valid, canonical point of large order.
    """
    try:
        return primitives.ed25519_public_to_x25519(identity_key)
    except primitives.InvalidKeyError as error:
        raise errors.BundleError(f"invalid identity key: {error}") from None


@lru_cache(maxsize=4096)
def _signature_ok(identity_key: bytes, message: bytes, signature: bytes) -> bool:
    return primitives.ed25519_verify(identity_key, signature, message)


def _check_id(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_PREKEY_ID:
        raise errors.BundleError(f"{what} id must be an integer in 0..2**32-1")
    return value


def _check_x25519(value: object, what: str) -> None:
    if type(value) is not bytes or len(value) != 32:
        raise errors.BundleError(f"{what} must be 32 bytes")
    if not primitives.is_valid_x25519_public(value):
        raise errors.BundleError(f"{what} is not a valid X25519 public key")


def _verify_signed_prekey(identity_key: bytes, spk: SignedPrekeyPublic) -> None:
    if not isinstance(spk, SignedPrekeyPublic):
        raise errors.BundleError("signed_prekey must be a SignedPrekeyPublic")
    _check_id(spk.id, "signed prekey")
    _check_x25519(spk.public, "signed prekey")
    for value in (spk.created, spk.expires):
        if type(value) is not int or not 0 <= value < 2**63:
            raise errors.BundleError("signed prekey times must be integers in 0..2**63-1")
    if spk.expires <= spk.created:
        raise errors.BundleError("signed prekey expires before it is created")
    if type(spk.signature) is not bytes or len(spk.signature) != 64:
        raise errors.BundleError("signed prekey signature must be 64 bytes")
    message = signed_prekey_message(spk.id, spk.public, spk.created, spk.expires)
    if not _signature_ok(identity_key, message, spk.signature):
        raise errors.BundleError("bad signed prekey signature")


def _verify_one_time_prekeys(prekeys: tuple[OneTimePrekeyPublic, ...]) -> None:
    if type(prekeys) is not tuple or len(prekeys) > MAX_ONE_TIME_PREKEYS:
        raise errors.BundleError(f"one_time_prekeys must be a tuple of <= {MAX_ONE_TIME_PREKEYS}")
    seen: set[int] = set()
    for prekey in prekeys:
        if not isinstance(prekey, OneTimePrekeyPublic):
            raise errors.BundleError("one-time prekeys must be OneTimePrekeyPublic")
        if _check_id(prekey.id, "one-time prekey") in seen:
            raise errors.BundleError("duplicate one-time prekey id")
        seen.add(prekey.id)
        _check_x25519(prekey.public, "one-time prekey")


@dataclass(frozen=True)
class KeyBundle:
    """The public part of an identity, verified on construction.

    Construction checks types, lengths, points and the signed prekey's signature and
    raises :class:`~sealpack.errors.BundleError` on any failure. Expiry is checked by
    :meth:`from_json` and by senders (``now`` dependent).
    """

    name: str
    identity_key: bytes
    signed_prekey: SignedPrekeyPublic
    one_time_prekeys: tuple[OneTimePrekeyPublic, ...] = ()
    _opk_index: dict[int, OneTimePrekeyPublic] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        validate_name(self.name, errors.BundleError)
        if type(self.identity_key) is not bytes or len(self.identity_key) != 32:
            raise errors.BundleError("identity key must be 32 bytes")
        identity_x25519(self.identity_key)
        _verify_signed_prekey(self.identity_key, self.signed_prekey)
        _verify_one_time_prekeys(self.one_time_prekeys)
        index = {prekey.id: prekey for prekey in self.one_time_prekeys}
        object.__setattr__(self, "_opk_index", index)

    def __repr__(self) -> str:
        return (
            f"KeyBundle(name={self.name!r}, fingerprint={self.fingerprint()!r}, "
            f"signed_prekey_id={self.signed_prekey.id}, "
            f"one_time_prekeys={len(self.one_time_prekeys)})"
        )

    @property
    def key_id(self) -> bytes:
        """16-byte id of the identity key: SHA-256("sealpack/key-id/v1" || IK)[:16]."""
        return key_id(self.identity_key)

    @property
    def identity_key_x25519(self) -> bytes:
        """The X25519 form of the identity key (Encode(IK) in X3DH's AD)."""
        return identity_x25519(self.identity_key)

    def fingerprint(self) -> str:
        """Return the safety number of the identity key (12 groups of 5 digits)."""
        return fingerprint(self.identity_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return True when ``signature`` is the identity key's Ed25519 signature."""
        return primitives.ed25519_verify(self.identity_key, signature, message)

    def one_time_prekey(self, prekey_id: int) -> OneTimePrekeyPublic | None:
        """Return the one-time prekey with this id, or None."""
        return self._opk_index.get(prekey_id)

    def is_expired(self, *, now: int | None = None) -> bool:
        """Return True when the signed prekey has expired at ``now``."""
        checked = require_now(now)
        current = int(time.time()) if checked is None else checked
        return self.signed_prekey.expires <= current

    def with_one_time_prekeys(self, ids: Iterable[int]) -> KeyBundle:
        """Return a copy holding only the one-time prekeys with these ids.

        Raises:
            BundleError: an id is not in this bundle.
            SealArgumentError: ``ids`` is not an iterable of ints.
        """
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise errors.SealArgumentError("ids must be an iterable of int prekey ids")
        wanted = [require_int(i, "a one-time prekey id") for i in ids]
        missing = [i for i in wanted if i not in self._opk_index]
        if missing:
            raise errors.BundleError(f"one-time prekey ids not in bundle: {missing[:5]}")
        chosen = tuple(self._opk_index[i] for i in dict.fromkeys(wanted))
        return replace(self, one_time_prekeys=chosen)

    def to_json(self) -> str:
        """Return the bundle as JSON (schema in docs/spec/keys.md)."""
        return bundle_json.dump_bundle(
            self.name, self.identity_key, self.signed_prekey, self.one_time_prekeys
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, now: int | None = None) -> KeyBundle:
        """Parse and verify a bundle published by :meth:`to_json`.

        Raises:
            UnsupportedVersionError: unknown ``version``.
            BundleError: malformed JSON, wrong types or lengths, invalid points, bad
                signature, or a signed prekey expired at ``now``.
            SealArgumentError: ``now`` is neither None nor an int.
        """
        require_now(now)
        fields = bundle_json.parse_bundle(text)
        bundle = cls(
            fields.name, fields.identity_key, fields.signed_prekey, fields.one_time_prekeys
        )
        if bundle.is_expired(now=now):
            raise errors.BundleError(f"signed prekey of {bundle.name!r} has expired")
        return bundle
