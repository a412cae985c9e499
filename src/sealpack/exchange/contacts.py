"""Peers' published bundles as seen by one :class:`~sealpack.exchange.peer.Peer`.

``publish_identity`` keeps a peer's own signed prekey fresh and publishes its
bundle. ``BundleCache`` reads and verifies a peer's bundle once and keeps it until the
transport's version token for it changes (see
:class:`~sealpack.exchange.transport.BundleVersions`). ``with_candidate`` lets a
blob from a not-yet-pinned peer be verified against that peer's published key
*without* pinning it, so a pin is only made for a message that verified.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Hashable

from sealpack import errors
from sealpack.exchange.directory import DirectoryTransport
from sealpack.exchange.quarantine import PeerNotTrustedError
from sealpack.exchange.transport import BundleVersions, Transport
from sealpack.keys import Identity, KeyBundle, TrustStore

__all__ = [
    "ROTATE_AT_LIFETIME_LEFT",
    "BundleCache",
    "not_trusted_yet",
    "publish_identity",
    "published_bundle",
    "published_status",
    "trusted_bundle",
    "with_candidate",
]

ROTATE_AT_LIFETIME_LEFT = 0.2


class BundleCache:
    """Parsed, signature-checked bundles keyed by the transport's version token.

    Bundles are parsed without the signed-prekey expiry check (callers check
    expiry for their own ``now``). A transport without version tokens is read
    every time.
    """

    def __init__(self, transport: Transport) -> None:
        """Cache bundles fetched from ``transport``.

        Args:
            transport: where bundles are published.
        """
        self._transport = transport
        self._entries: dict[str, tuple[Hashable, KeyBundle]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> KeyBundle:
        """Return the peer's published, verified bundle (expiry not checked).

        Args:
            name: the peer.

        Returns:
            The bundle; from the cache when its version token did not change.

        Raises:
            errors.TransportError: no bundle published.
            errors.BundleError: malformed, badly signed, or published under another name.
        """
        # The token is read BEFORE the file: a change in between leaves a newer bundle
        # cached under an older token, which the next call simply reads again.
        version = self._version(name)
        with self._lock:
            cached = self._entries.get(name)
        if version is not None and cached is not None and cached[0] == version:
            return cached[1]
        bundle = KeyBundle.from_json(self._transport.fetch_bundle(name), now=0)
        if bundle.name != name:
            raise errors.BundleError(f"bundle published for {name!r} names {bundle.name!r}")
        with self._lock:
            if version is None:
                self._entries.pop(name, None)
            else:
                self._entries[name] = (version, bundle)
        return bundle

    def _version(self, name: str) -> Hashable | None:
        if isinstance(self._transport, BundleVersions):
            return self._transport.bundle_version(name)
        return None


class _CandidatePins:
    """A read-only pin view: the trust store's pins plus one candidate bundle."""

    def __init__(self, trust: TrustStore, candidate: KeyBundle) -> None:
        self._trust, self._candidate = trust, candidate

    def get_pin(self, name: str) -> bytes | None:
        if name == self._candidate.name:
            return self._candidate.identity_key
        return self._trust.pinned_key(name)

    def set_pin(self, name: str, identity_key: bytes) -> None:
        raise errors.KeyStoreError("a candidate trust view cannot pin")

    def pinned_names(self) -> list[str]:
        return sorted({*self._trust.names(), self._candidate.name})


def with_candidate(trust: TrustStore, candidate: KeyBundle) -> TrustStore:
    """Return a read-only trust view that also accepts ``candidate``'s identity key.

    Args:
        trust: the real trust store (never changed through the view).
        candidate: a not-yet-pinned peer's published bundle.

    Returns:
        A TrustStore to pass as ``senders`` when opening that peer's blob.
    """
    return TrustStore(_CandidatePins(trust, candidate))


def trusted_bundle(
    bundles: BundleCache,
    trust: TrustStore,
    name: str,
    *,
    now: int | None,
    trust_new_peers: bool,
) -> KeyBundle:
    """Fetch a peer's verified bundle and check it against the trust store.

    Args:
        bundles: the cache to fetch through.
        trust: the trust store (a first-use bundle is pinned in it).
        name: the peer.
        now: time for the signed-prekey expiry check.
        trust_new_peers: pin a not-yet-pinned peer (TOFU) instead of refusing it.

    Returns:
        The trusted bundle.

    Raises:
        errors.TransportError: no bundle published.
        errors.BundleError: the bundle is malformed, badly signed or expired.
        errors.IdentityChangedError: the pinned identity differs.
        PeerNotTrustedError: not pinned yet and ``trust_new_peers`` is False.
    """
    bundle = bundles.get(name)
    if bundle.is_expired(now=now):
        raise errors.BundleError(f"signed prekey of {bundle.name!r} has expired")
    if not trust_new_peers and trust.pinned_key(name) is None:
        raise not_trusted_yet(bundle)
    return trust.check(bundle)


def not_trusted_yet(bundle: KeyBundle) -> PeerNotTrustedError:
    """The error for a peer that would be pinned on first use, when that is off.

    Args:
        bundle: the peer's published bundle.

    Returns:
        The error, naming the peer and its published fingerprint.
    """
    return PeerNotTrustedError(
        f"peer {bundle.name!r} is not trusted yet (published fingerprint "
        f"{bundle.fingerprint()}); compare it out of band, then trust it "
        f"(Peer.trust_peer / sealpack trust accept {bundle.name})"
    )


def publish_identity(transport: Transport, identity: Identity, *, now: int | None) -> None:
    """Refresh the signed prekey, then publish the bundle and one-time prekeys.

    The signed prekey is rotated when it is in the last 20 % of its lifetime (or
    expired), and old signed prekeys past their grace period are deleted.

    Args:
        transport: where to publish (under the identity's name).
        identity: the publishing peer's identity.
        now: the current time (seconds since epoch); ``time.time()`` when None.

    Raises:
        errors.SealpackError: the key store or the transport failed.
    """
    current = int(time.time()) if now is None else now
    signed_prekey = identity.bundle().signed_prekey
    lifetime = signed_prekey.expires - signed_prekey.created
    if current >= signed_prekey.expires - int(lifetime * ROTATE_AT_LIFETIME_LEFT):
        identity.rotate_signed_prekey(now=current)
    identity.purge_expired(now=current)
    bundle = identity.bundle()
    prekeys = {prekey.id: prekey.public for prekey in bundle.one_time_prekeys}
    transport.publish_bundle(identity.name, bundle.to_json(), prekeys)


def published_status(root: str | os.PathLike[str], name: str, pinned: bytes) -> str:
    """Describe how a pin compares with the bundle published now in a datasite.

    Args:
        root: the datasite folder.
        name: the pinned peer.
        pinned: its pinned identity key.

    Returns:
        ``"  (matches the published bundle)"``, ``"  CHANGED: published <fingerprint>"``
        or ``"  (no valid bundle published)"`` (also for an unusable datasite).
    """
    bundle = published_bundle(root, name)
    if bundle is None:
        return "  (no valid bundle published)"
    if bundle.identity_key == pinned:
        return "  (matches the published bundle)"
    return f"  CHANGED: published {bundle.fingerprint()}"


def published_bundle(root: str | os.PathLike[str], name: str) -> KeyBundle | None:
    """The valid bundle ``name`` publishes in a datasite now, if any (expiry not checked).

    Args:
        root: the datasite folder.
        name: the peer.

    Returns:
        The verified bundle naming ``name``, or None (none, invalid, or an unusable
        datasite).
    """
    try:
        bundle = KeyBundle.from_json(DirectoryTransport(root).fetch_bundle(name), now=0)
    except errors.SealpackError:
        return None
    return bundle if bundle.name == name else None
