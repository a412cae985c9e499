"""The trusted Sender of a blob, and resolving the sender key named in a header to it.

Resolution runs before the payload is hashed, on a key nobody has authenticated yet:
it costs a look-up, never a fingerprint (a refusal names the 16-byte key id in hex).
One identity key known under two names (two pins, two given bundles, or a bundle
whose key is pinned to another name) is refused with AmbiguousSenderError instead of
choosing one of the names (issue 10.1: credit theft through names).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sealpack import errors
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore, fingerprint, key_id

__all__ = [
    "Sender",
    "SenderResolver",
    "Senders",
    "check_pinned",
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


def _ambiguous(identity_key: bytes, names: list[str]) -> errors.AmbiguousSenderError:
    return errors.AmbiguousSenderError(
        f"the sender key {key_id(identity_key).hex()} is known under more than one name "
        f"({', '.join(repr(n) for n in sorted(set(names)))}); refusing to choose"
    )


def _pinned_names(trust: TrustStore, identity_key: bytes) -> list[str]:
    """The one name ``trust`` pins ``identity_key`` under, or none.

    Raises:
        AmbiguousSenderError: the key is pinned under several names (an older store).
    """
    name = trust.name_for_key(identity_key)
    return [] if name is None else [name]


def _from_trust_store(store: TrustStore, identity_key: bytes) -> Sender:
    names = _pinned_names(store, identity_key)
    if not names:
        raise _unknown(identity_key)
    return Sender(names[0], identity_key)


def _from_bundles(
    bundles: list[KeyBundle], trust: TrustStore | None, identity_key: bytes
) -> Sender:
    # Public keys on both sides (the header's is readable by anyone): a plain comparison,
    # ~2.5x faster than compare_digest over a server's thousand bundles (issue 18).
    matching = [b for b in bundles if b.identity_key == identity_key]
    if not matching:
        raise _unknown(identity_key)
    names = [b.name for b in matching]
    if trust is not None:
        names += _pinned_names(trust, identity_key)
    if len(set(names)) > 1:
        raise _ambiguous(identity_key, names)
    bundle = matching[0]
    if trust is not None:
        try:
            trust.check(bundle)
        except errors.IdentityChangedError as error:
            raise errors.UntrustedSenderError(str(error)) from error
    return Sender(bundle.name, bundle.identity_key, bundle)


def sender_resolver(senders: Senders, trust: TrustStore | None = None) -> SenderResolver:
    """Build the function that maps a header's sender key to a trusted Sender.

    Args:
        senders: bundles of accepted senders, or a TrustStore (its pinned identities).
        trust: the recipient's TrustStore, if any: bundles are checked against its pins.

    Returns:
        A resolver raising UnknownSenderError / UntrustedSenderError /
        AmbiguousSenderError (one key under two names).

    Raises:
        SealArgumentError: ``senders`` is not a TrustStore, a KeyBundle or a list of them.
    """
    _check_senders(senders)

    def resolve(identity_key: bytes) -> Sender:
        if isinstance(senders, TrustStore):
            return _from_trust_store(senders, identity_key)
        bundles = [senders] if isinstance(senders, KeyBundle) else list(senders)
        return _from_bundles(bundles, trust, identity_key)

    return resolve


def check_pinned(trust: TrustStore | None, recipients: object) -> None:
    """Check recipient bundles against the sender's trust pins before anything is sealed.

    A name seen for the first time is pinned (trust on first use, as the CLI and
    ``Peer.send`` do); non-bundles are left to the sealer's argument checks.

    Raises:
        IdentityChangedError: a recipient's name is pinned to another identity key.
    """
    if trust is None or isinstance(recipients, (str, bytes, KeyBundle)):
        return
    if isinstance(recipients, Sequence):
        for bundle in recipients:
            if isinstance(bundle, KeyBundle):
                trust.check(bundle)


def _check_senders(senders: object) -> None:
    if isinstance(senders, (TrustStore, KeyBundle)):
        return
    if type(senders) is list and all(type(bundle) is KeyBundle for bundle in senders):
        return  # the common case, without the ABC check of Sequence (issue 18)
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
    """Names the key id only: no fingerprint of a key nobody authenticated (issue 19.4)."""
    return errors.UnknownSenderError(
        f"the sender of this blob (key id {key_id(identity_key).hex()}) is not among the "
        "trusted senders"
    )
