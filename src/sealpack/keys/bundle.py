"""KeyBundle version 2: the public, self-verifying part of an identity, and its JSON form."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TypeVar

from sealpack import errors, primitives
from sealpack.keys import bundle_json
from sealpack.keys.app_signature import verify_app_signature
from sealpack.keys.arguments import require_int, require_now
from sealpack.keys.fingerprint import fingerprint, key_id
from sealpack.keys.names import validate_name
from sealpack.keys.prekeys import (
    MAX_PREKEY_ID,
    OneTimePrekeyPublic,
    PQOneTimePrekeyPublic,
    PQPrekeyPublic,
    SignedPrekeyPublic,
    one_time_prekey_message,
    pq_one_time_prekey_message,
    pq_prekey_message,
    signed_prekey_message,
)

__all__ = [
    "MAX_ONE_TIME_PREKEYS",
    "MAX_PQ_ONE_TIME_PREKEYS",
    "KeyBundle",
    "identity_x25519",
]

MAX_ONE_TIME_PREKEYS = 10_000
MAX_PQ_ONE_TIME_PREKEYS = 1_000
_P = TypeVar("_P", OneTimePrekeyPublic, PQOneTimePrekeyPublic)


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


@lru_cache(maxsize=16384)
def _signature_ok(identity_key: bytes, message: bytes, signature: bytes) -> bool:
    return primitives.ed25519_verify(identity_key, signature, message)


@lru_cache(maxsize=4096)
def _mlkem_ok(public: bytes) -> bool:
    return primitives.is_valid_mlkem768_public(public)


def _check_id(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_PREKEY_ID:
        raise errors.BundleError(f"{what} id must be an integer in 0..2**32-1")
    return value


def _check_key(value: object, what: str, *, kem: bool) -> None:
    size = primitives.MLKEM768_PUBLIC_SIZE if kem else 32
    if type(value) is not bytes or len(value) != size:
        raise errors.BundleError(f"{what} must be {size} bytes")
    valid = _mlkem_ok(value) if kem else primitives.is_valid_x25519_public(value)
    if not valid:
        kind = "ML-KEM-768" if kem else "X25519"
        raise errors.BundleError(f"{what} is not a valid {kind} public key")


def _check_signature(identity_key: bytes, message: bytes, signature: object, what: str) -> None:
    if type(signature) is not bytes or len(signature) != 64:
        raise errors.BundleError(f"{what} signature must be 64 bytes")
    if not _signature_ok(identity_key, message, signature):
        raise errors.BundleError(f"bad {what} signature")


def _verify_signed_prekey(
    name: str, identity_key: bytes, spk: SignedPrekeyPublic, has_pq: bool
) -> None:
    if not isinstance(spk, SignedPrekeyPublic):
        raise errors.BundleError("signed_prekey must be a SignedPrekeyPublic")
    _check_id(spk.id, "signed prekey")
    _check_key(spk.public, "signed prekey", kem=False)
    message = signed_prekey_message(name, spk.id, spk.public, spk.created, spk.expires, has_pq)
    if not has_pq and type(spk.signature) is bytes:
        stripped = message[:-1] + b"\x01"
        if _signature_ok(identity_key, stripped, spk.signature):
            raise errors.BundleError(
                "the bundle's post-quantum prekey was removed (downgrade refused)"
            )
    _check_signature(identity_key, message, spk.signature, "signed prekey")


def _verify_pq_prekey(name: str, identity_key: bytes, pqpk: PQPrekeyPublic) -> None:
    if not isinstance(pqpk, PQPrekeyPublic):
        raise errors.BundleError("pq_prekey must be a PQPrekeyPublic or None")
    _check_id(pqpk.id, "PQ prekey")
    _check_key(pqpk.public, "PQ prekey", kem=True)
    message = pq_prekey_message(name, pqpk.id, pqpk.public, pqpk.created, pqpk.expires)
    _check_signature(identity_key, message, pqpk.signature, "PQ prekey")


def _verify_one_time(
    name: str,
    identity_key: bytes,
    prekeys: object,
    *,
    kem: bool,
    taken: set[int],
) -> None:
    """Check a tuple of (PQ) one-time prekeys: types, unique ids, keys and signatures."""
    what = "PQ one-time prekey" if kem else "one-time prekey"
    kind = PQOneTimePrekeyPublic if kem else OneTimePrekeyPublic
    limit = MAX_PQ_ONE_TIME_PREKEYS if kem else MAX_ONE_TIME_PREKEYS
    if type(prekeys) is not tuple or len(prekeys) > limit:
        raise errors.BundleError(f"{what}s must be a tuple of <= {limit}")
    encode = pq_one_time_prekey_message if kem else one_time_prekey_message
    for prekey in prekeys:
        if not isinstance(prekey, kind):
            raise errors.BundleError(f"{what}s must be {kind.__name__}")
        if _check_id(prekey.id, what) in taken:
            raise errors.BundleError(f"duplicate {what} id")
        taken.add(prekey.id)
        _check_key(prekey.public, what, kem=kem)
        message = encode(name, prekey.id, prekey.public)
        _check_signature(identity_key, message, prekey.signature, what)


@dataclass(frozen=True)
class KeyBundle:
    """The public part of an identity (bundle version 2), verified on construction.

    Construction checks types, lengths, points and every signature (each covers the
    name, the identity key's ownership and the prekey) and raises
    :class:`~sealpack.errors.BundleError` on any failure. Expiry is checked by
    :meth:`from_json` and by senders (``now`` dependent).
    """

    name: str
    identity_key: bytes
    signed_prekey: SignedPrekeyPublic
    one_time_prekeys: tuple[OneTimePrekeyPublic, ...] = ()
    pq_prekey: PQPrekeyPublic | None = None
    pq_one_time_prekeys: tuple[PQOneTimePrekeyPublic, ...] = ()
    _opk_index: dict[int, OneTimePrekeyPublic] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _pq_index: dict[int, PQOneTimePrekeyPublic] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        validate_name(self.name, errors.BundleError)
        if type(self.identity_key) is not bytes or len(self.identity_key) != 32:
            raise errors.BundleError("identity key must be 32 bytes")
        identity_x25519(self.identity_key)
        has_pq = self.pq_prekey is not None
        _verify_signed_prekey(self.name, self.identity_key, self.signed_prekey, has_pq)
        pq_ids: set[int] = set()
        if self.pq_prekey is not None:
            _verify_pq_prekey(self.name, self.identity_key, self.pq_prekey)
            pq_ids.add(self.pq_prekey.id)
        elif self.pq_one_time_prekeys:
            raise errors.BundleError("PQ one-time prekeys need a PQ last-resort prekey")
        name, key = self.name, self.identity_key
        _verify_one_time(name, key, self.one_time_prekeys, kem=False, taken=set())
        _verify_one_time(name, key, self.pq_one_time_prekeys, kem=True, taken=pq_ids)
        object.__setattr__(self, "_opk_index", {p.id: p for p in self.one_time_prekeys})
        object.__setattr__(self, "_pq_index", {p.id: p for p in self.pq_one_time_prekeys})

    def __repr__(self) -> str:
        pq = "none" if self.pq_prekey is None else self.pq_prekey.id
        return (
            f"KeyBundle(name={self.name!r}, fingerprint={self.fingerprint()!r}, "
            f"signed_prekey_id={self.signed_prekey.id}, pq_prekey_id={pq}, "
            f"one_time_prekeys={len(self.one_time_prekeys)}, "
            f"pq_one_time_prekeys={len(self.pq_one_time_prekeys)})"
        )

    @property
    def key_id(self) -> bytes:
        """16-byte id of the identity key: SHA-256("sealpack/key-id/v1" || IK)[:16]."""
        return key_id(self.identity_key)

    @property
    def identity_key_x25519(self) -> bytes:
        """The X25519 form of the identity key (Encode(IK) in X3DH's AD)."""
        return identity_x25519(self.identity_key)

    @property
    def post_quantum(self) -> bool:
        """True when the bundle carries a PQ last-resort prekey (PQXDH is then mandatory)."""
        return self.pq_prekey is not None

    def fingerprint(self) -> str:
        """Return the safety number of the identity key (12 groups of 5 digits)."""
        return fingerprint(self.identity_key)

    def verify(self, message: bytes, signature: bytes, *, purpose: str) -> bool:
        """Return True when ``signature`` is this identity's ``sign(message, purpose=...)``.

        Raises:
            SealArgumentError: an argument has the wrong type or ``purpose`` is invalid.
        """
        return verify_app_signature(self.identity_key, message, signature, purpose=purpose)

    def one_time_prekey(self, prekey_id: int) -> OneTimePrekeyPublic | None:
        """Return the one-time prekey with this id, or None."""
        return self._opk_index.get(prekey_id)

    def pq_one_time_prekey(self, prekey_id: int) -> PQOneTimePrekeyPublic | None:
        """Return the PQ one-time prekey with this id, or None."""
        return self._pq_index.get(prekey_id)

    def is_expired(self, *, now: int | None = None) -> bool:
        """Return True when the signed prekey (or the PQ prekey) has expired at ``now``."""
        checked = require_now(now)
        current = int(time.time()) if checked is None else checked
        expires = self.signed_prekey.expires
        if self.pq_prekey is not None:
            expires = min(expires, self.pq_prekey.expires)
        return expires <= current

    def with_one_time_prekeys(self, ids: Iterable[int], *, pq_ids: Iterable[int] = ()) -> KeyBundle:
        """Return a copy holding only the (PQ) one-time prekeys with these ids.

        Raises:
            BundleError: an id is not in this bundle.
            SealArgumentError: ``ids`` or ``pq_ids`` is not an iterable of ints.
        """
        chosen = _pick(ids, self._opk_index, "one-time prekey")
        pq_chosen = _pick(pq_ids, self._pq_index, "PQ one-time prekey")
        return replace(self, one_time_prekeys=chosen, pq_one_time_prekeys=pq_chosen)

    def to_json(self) -> str:
        """Return the bundle as JSON (schema in docs/spec/keys.md section 3)."""
        return bundle_json.dump_bundle(
            bundle_json.BundleFields(
                self.name,
                self.identity_key,
                self.signed_prekey,
                self.one_time_prekeys,
                self.pq_prekey,
                self.pq_one_time_prekeys,
            )
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, now: int | None = None) -> KeyBundle:
        """Parse and verify a bundle published by :meth:`to_json`.

        Raises:
            UnsupportedVersionError: a version other than 2 (version 1 has its own message).
            BundleError: malformed JSON, wrong types or lengths, invalid keys, a bad
                signature, or a signed prekey expired at ``now``.
            SealArgumentError: ``now`` is neither None nor an int.
        """
        require_now(now)
        fields = bundle_json.parse_bundle(text)
        bundle = cls(
            fields.name,
            fields.identity_key,
            fields.signed_prekey,
            fields.one_time_prekeys,
            fields.pq_prekey,
            fields.pq_one_time_prekeys,
        )
        if bundle.is_expired(now=now):
            raise errors.BundleError(f"signed prekey of {bundle.name!r} has expired")
        return bundle


def _pick(ids: Iterable[int], index: dict[int, _P], what: str) -> tuple[_P, ...]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise errors.SealArgumentError(f"{what} ids must be an iterable of int prekey ids")
    wanted = [require_int(i, f"a {what} id") for i in ids]
    missing = [i for i in wanted if i not in index]
    if missing:
        raise errors.BundleError(f"{what} ids not in bundle: {missing[:5]}")
    return tuple(index[i] for i in dict.fromkeys(wanted))
