"""``Peer``: send and receive sealed, verified messages through a transport.

A peer binds one identity (normally from a :class:`~sealpack.keys.KeyStore`, so
one-time prekey use, replay ids and trust pins are durable) to a transport.
Only verified messages reach the application; every refused blob goes to
quarantine with a reason (protocol: docs/spec/datasite.md). ``Peer`` is a facade
over :mod:`~sealpack.exchange.outbox` (sending), :mod:`~sealpack.exchange.inbox`
(receiving, quarantine) and :mod:`~sealpack.exchange.contacts` (bundles, trust).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sealpack import errors
from sealpack.exchange import outbox
from sealpack.exchange.contacts import BundleCache, publish_identity, trusted_bundle
from sealpack.exchange.directory import DirectoryTransport
from sealpack.exchange.inbox import Inbox, Message, poll_with_backoff
from sealpack.exchange.message_ids import check_peer_name
from sealpack.exchange.outbox import ProgressCallback
from sealpack.exchange.quarantine import QuarantineRecord
from sealpack.exchange.transport import Transport
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore

__all__ = ["DEFAULT_EXPIRES_IN", "Message", "Peer", "ProgressCallback"]

DEFAULT_EXPIRES_IN = 7 * 86400


class Peer:
    """A named participant of a datasite (or any transport).

    Args:
        name: this peer's name (must equal the identity's name).
        root: a datasite folder (uses :class:`DirectoryTransport`) or a transport.
        keystore: the peer's key store, or a bare :class:`Identity` (in-memory
            replay guard and trust store: for tests and single-process use).
        trust: the trust store to pin peers in; the key store's by default.
        archive: keep processed messages in ``archive/`` instead of deleting them.
        publish: publish the bundle and one-time prekeys now.
        trust_new_peers: pin a peer's bundle on first use (TOFU, the default). When
            False, a peer that is not pinned yet is refused (sending raises
            ``PeerNotTrustedError``; its messages are quarantined with reason
            ``untrusted``) until ``trust_peer(name)``.

    Raises:
        errors.KeyStoreError: the identity's name is not ``name``.
        errors.TransportError: bad name or unusable transport.
    """

    def __init__(
        self,
        name: str,
        root: str | os.PathLike[str] | Transport,
        keystore: KeyStore | Identity,
        *,
        trust: TrustStore | None = None,
        archive: bool = False,
        publish: bool = True,
        trust_new_peers: bool = True,
    ) -> None:
        self.name = check_peer_name(name)
        self.transport: Transport = (
            root if isinstance(root, Transport) else DirectoryTransport(root)
        )
        self._keystore = keystore if isinstance(keystore, KeyStore) else None
        self.identity: Identity = keystore.identity if isinstance(keystore, KeyStore) else keystore
        if self.identity.name != name:
            raise errors.KeyStoreError(
                f"key store holds identity {self.identity.name!r}, not {name!r}"
            )
        if trust is None:
            trust = self._keystore.trust_store if self._keystore else TrustStore()
        self.trust: TrustStore = trust
        self.archive = archive
        self.trust_new_peers = trust_new_peers
        self._bundles = BundleCache(self.transport)
        self.transport.register_peer(self.name)
        if publish:
            self.publish()

    def __repr__(self) -> str:
        return f"Peer({self.name!r}, transport={self.transport!r})"

    def close(self) -> None:
        """Close the key store (if any); the peer must not be used afterwards."""
        if self._keystore is not None:
            self._keystore.close()

    def publish(self, *, now: int | None = None) -> None:
        """Refresh the signed prekey, then publish the bundle and one-time prekeys.

        The signed prekey is rotated when it is in the last 20 % of its lifetime
        (or expired), and old signed prekeys past their grace period are deleted.

        Args:
            now: the current time (seconds since epoch).

        Raises:
            errors.SealpackError: the key store or the transport failed.
        """
        publish_identity(self.transport, self.identity, now=now)

    def replenish_prekeys(self, *, low_water: int = 10, batch: int = 50) -> int:
        """Add and publish one-time prekeys when fewer than ``low_water`` are offered.

        Args:
            low_water: replenish when the transport offers fewer than this many.
            batch: how many fresh prekeys to add then.

        Returns:
            How many prekeys were added (0 when enough are offered).

        Raises:
            errors.SealpackError: the key store or the transport failed.
        """
        if self.transport.available_one_time_prekeys(self.name) >= low_water:
            return 0
        self.identity.replenish_one_time_prekeys(batch)
        self.publish()
        return batch

    def fetch_bundle(self, name: str, *, now: int | None = None) -> KeyBundle:
        """Fetch and verify a peer's bundle and check it against the trust store.

        Args:
            name: the peer.
            now: time for the signed-prekey expiry check.

        Returns:
            The trusted bundle (pinned now if this is the first use). An unchanged
            bundle is not re-read or re-verified (see ``BundleCache``).

        Raises:
            errors.TransportError: no bundle published.
            errors.BundleError: the bundle is malformed, badly signed or expired.
            errors.IdentityChangedError: the pinned identity differs.
            PeerNotTrustedError: not pinned yet and ``trust_new_peers`` is False.
        """
        return trusted_bundle(
            self._bundles, self.trust, name, now=now, trust_new_peers=self.trust_new_peers
        )

    def trust_peer(self, name: str) -> KeyBundle:
        """Re-trust a peer's currently published identity (after out-of-band checks).

        Args:
            name: the peer.

        Returns:
            The newly pinned bundle.

        Raises:
            errors.TransportError: no bundle published.
            errors.BundleError: the bundle is malformed or badly signed.
        """
        bundle = self._bundles.get(name)
        self.trust.accept(bundle)
        return bundle

    def send(
        self,
        obj: object,
        to: Sequence[str],
        metadata: Mapping[str, Any] | None = None,
        *,
        expires_in: int = DEFAULT_EXPIRES_IN,
        stream: bool = False,
        progress: ProgressCallback | None = None,
        now: int | None = None,
    ) -> list[str]:
        """Seal ``obj`` once for all recipients and deliver it to each inbox.

        Args:
            obj: the object (anything the codec can encode).
            to: recipient peer names.
            metadata: application metadata, signed with the message.
            expires_in: validity window in seconds.
            stream: seal straight to disk with ``seal_to`` (for large payloads).
            progress: hears (plaintext bytes sealed, total) per chunk when streaming.
            now: sealing time (seconds since epoch).

        Returns:
            The message ids, one per recipient, in the order of ``to``.

        Raises:
            errors.SealpackError: a recipient is bad, unknown or untrusted, or obj cannot be sealed.
        """
        names, bundles = outbox.claimed_recipients(
            self.transport, to, lambda name: self.fetch_bundle(name, now=now)
        )
        options = outbox.seal_options(
            self.identity, bundles, metadata, expires_in=expires_in, now=now
        )
        return outbox.seal_and_deliver(
            self.transport, obj, names, self.name, options, stream=stream, progress=progress
        )

    def _inbox(self) -> Inbox:
        """This peer's inbox, with the current trust settings."""
        return Inbox(
            owner=self.name,
            transport=self.transport,
            recipient=self._keystore or self.identity,
            trust=self.trust,
            bundles=self._bundles,
            trust_new_peers=self.trust_new_peers,
            archive=self.archive,
        )

    def iter_messages(
        self, *, progress: ProgressCallback | None = None, now: int | None = None
    ) -> Iterator[Message]:
        """Yield every verified message in the inbox, oldest first.

        A message is acknowledged (deleted or archived) before it is yielded;
        refused blobs are quarantined and skipped.

        Args:
            progress: hears (plaintext bytes decrypted, total) of the message being opened.
            now: verification time (seconds since epoch).

        Yields:
            ``Message(sender, metadata, obj)`` for each verified message.

        Raises:
            errors.TransportError: the inbox cannot be listed.
        """
        for message_id in self.transport.list_inbox(self.name):
            message = self._inbox().open(message_id, progress=progress, now=now)
            if message is not None:
                yield message

    def receive(
        self, *, progress: ProgressCallback | None = None, now: int | None = None
    ) -> list[Message]:
        """Return all verified messages currently in the inbox (see iter_messages).

        Args:
            progress: hears (plaintext bytes decrypted, total) per message.
            now: verification time (seconds since epoch).

        Returns:
            The verified messages, oldest first.

        Raises:
            errors.TransportError: the inbox cannot be listed.
        """
        return list(self.iter_messages(progress=progress, now=now))

    def watch(
        self,
        *,
        timeout: float | None = None,
        min_interval: float = 0.05,
        max_interval: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[Message]:
        """Poll the inbox forever (or until ``timeout``), backing off while idle.

        Args:
            timeout: stop after this many seconds in total; None = never.
            min_interval: the first delay after an empty poll, in seconds.
            max_interval: the longest delay between polls.
            sleep: the sleep function (injectable for tests).

        Yields:
            Verified messages as they arrive.

        Raises:
            errors.TransportError: the inbox cannot be listed.
        """
        return poll_with_backoff(
            self.iter_messages,
            timeout=timeout,
            min_interval=min_interval,
            max_interval=max_interval,
            sleep=sleep,
        )

    def quarantined(self) -> list[QuarantineRecord]:
        """Return the reason records of this peer's quarantined blobs.

        Returns:
            The records, oldest first.

        Raises:
            errors.TransportError: the quarantine cannot be listed.
        """
        return self.transport.list_quarantine(self.name)
