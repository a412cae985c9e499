"""Peers' published bundles as seen by one :class:`~sealpack.exchange.peer.Peer`.

``BundleCache`` reads and verifies a peer's bundle once and keeps it until the
transport's version token for it changes (see
:class:`~sealpack.exchange.transport.BundleVersions`). ``with_candidate`` lets a
blob from a not-yet-pinned peer be verified against that peer's published key
*without* pinning it, so a pin is only made for a message that verified.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from sealpack import errors
from sealpack.exchange.quarantine import PeerNotTrustedError
from sealpack.exchange.transport import BundleVersions, Transport
from sealpack.keys import KeyBundle, TrustStore

__all__ = ["BundleCache", "not_trusted_yet", "with_candidate"]


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
