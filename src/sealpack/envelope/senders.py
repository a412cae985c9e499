"""The trusted Sender of a blob, and resolving the sender key named in a header to it."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sealpack import errors
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore, fingerprint, key_id

__all__ = [
    "Sender",
    "SenderResolver",
    "Senders",
    "identity_of",
    "sender_resolver",
    "trust_of",
]

Senders = Sequence[KeyBundle] | KeyBundle | TrustStore


@dataclass(frozen=True)
class Sender:
    """A trusted sender: the name it is known by and its Ed25519 identity key."""

    name: str
    identity_key: bytes
    bundle: KeyBundle | None = field(default=None, repr=False, compare=False)

    @property
    def key_id(self) -> bytes:
        """The 16-byte key id of the identity key."""
        return key_id(self.identity_key)

    def fingerprint(self) -> str:
        """The sender's safety number."""
        return fingerprint(self.identity_key)


SenderResolver = Callable[[bytes], Sender]


def identity_of(holder: Identity | KeyStore) -> Identity:
    """The Identity itself, or the one a KeyStore holds.

    Raises:
        SealArgumentError: ``holder`` is neither.
    """
    if isinstance(holder, KeyStore):
        return holder.identity
    if not isinstance(holder, Identity):
        raise errors.SealArgumentError("expected an Identity or a KeyStore")
    return holder


def trust_of(holder: Identity | KeyStore) -> TrustStore | None:
    """The KeyStore's durable TrustStore, or None for a bare Identity."""
    return holder.trust_store if isinstance(holder, KeyStore) else None


def _by_key(bundles: Sequence[KeyBundle], identity_key: bytes) -> KeyBundle | None:
    for bundle in bundles:
        if hmac.compare_digest(bundle.identity_key, identity_key):
            return bundle
    return None


def sender_resolver(senders: Senders, trust: TrustStore | None = None) -> SenderResolver:
    """Build the function that maps a header's sender key to a trusted Sender.

    Args:
        senders: bundles of accepted senders, or a TrustStore (its pinned identities).
        trust: the recipient's TrustStore, if any: bundles are checked against its pins.

    Returns:
        A resolver raising UnknownSenderError / UntrustedSenderError.

    Raises:
        SealArgumentError: ``senders`` is not a TrustStore, a KeyBundle or a list of them.
    """
    _check_senders(senders)

    def resolve(identity_key: bytes) -> Sender:
        if isinstance(senders, TrustStore):
            for name in senders.names():
                pinned = senders.pinned_key(name)
                if pinned is not None and hmac.compare_digest(pinned, identity_key):
                    return Sender(name, identity_key)
            raise _unknown(identity_key)
        bundles = [senders] if isinstance(senders, KeyBundle) else list(senders)
        bundle = _by_key(bundles, identity_key)
        if bundle is None:
            raise _unknown(identity_key)
        if trust is not None:
            try:
                trust.check(bundle)
            except errors.IdentityChangedError as error:
                raise errors.UntrustedSenderError(str(error)) from error
        return Sender(bundle.name, bundle.identity_key, bundle)

    return resolve


def _check_senders(senders: object) -> None:
    if isinstance(senders, (TrustStore, KeyBundle)):
        return
    bundles = (
        list(senders)
        if isinstance(senders, Sequence) and not isinstance(senders, (str, bytes, bytearray))
        else None
    )
    if bundles is None or not all(isinstance(bundle, KeyBundle) for bundle in bundles):
        raise errors.SealArgumentError(
            "senders must be a TrustStore, a KeyBundle or a list of KeyBundle"
        )


def _unknown(identity_key: bytes) -> errors.UnknownSenderError:
    return errors.UnknownSenderError(
        "the sender of this blob (fingerprint "
        f"{Sender('?', identity_key).fingerprint()}) is not among the trusted senders"
    )
