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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sealpack import errors
from sealpack.exchange import outbox
from sealpack.exchange.ack_journal import ACK_JOURNAL_FOLDER, AckJournal
from sealpack.exchange.claim_book import CLAIM_BOOK_FILE, ClaimBook
from sealpack.exchange.contacts import BundleCache, publish_identity, trusted_bundle
from sealpack.exchange.directory import DirectoryTransport
from sealpack.exchange.inbox import Message
from sealpack.exchange.message_ids import check_peer_name
from sealpack.exchange.outbox import ProgressCallback
from sealpack.exchange.prekey_supply import lowest_held_prekey_id, prekeys_to_add
from sealpack.exchange.quarantine import QuarantineRecord
from sealpack.exchange.receiving import Receiving
from sealpack.exchange.sessions import PeerSessions
from sealpack.exchange.transport import Transport
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore
from sealpack.session import SessionEstablishedError

__all__ = ["DEFAULT_EXPIRES_IN", "Message", "Peer", "ProgressCallback"]

DEFAULT_EXPIRES_IN = 7 * 86400


class Peer(Receiving):
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
        sessions: talk to a peer through a Double Ratchet session (the default): a
            single-recipient, non-streamed ``send`` to a peer without an established
            session is a sealed blob that starts one; once the peer answered, such
            sends are ratchet messages. False: every send is a sealed blob (ratchet
            messages of sessions already held are still opened). See
            docs/spec/datasite.md, "Sessions".

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
        sessions: bool = True,
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
        local = self._keystore.path if self._keystore is not None else None
        self._claim_book = ClaimBook(
            local / CLAIM_BOOK_FILE if local else None,
            lowest_held_id=lambda: lowest_held_prekey_id(self.identity),
        )
        self._ack_journal = AckJournal(local / ACK_JOURNAL_FOLDER if local else None)
        self._sessions = PeerSessions(keystore, enabled=sessions)
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

    def replenish_prekeys(
        self, *, low_water: int = 10, batch: int = 50, now: int | None = None
    ) -> int:
        """Add and publish one-time prekeys when fewer than ``low_water`` are offered.

        Only offers of prekeys this identity holds count, and never more than the
        bundle's maximum are held (``prekey_supply.prekeys_to_add``).

        Args:
            low_water: replenish when the transport offers fewer than this many.
            batch: how many fresh prekeys to add then.
            now: the current time, for the publication (seconds since epoch).

        Returns:
            How many prekeys were added (0 when enough are offered, or none fit).

        Raises:
            errors.SealpackError: the key store or the transport failed.
        """
        added = prekeys_to_add(self.transport, self.identity, low_water, batch)
        if added:
            self.identity.replenish_one_time_prekeys(added)
            self.publish(now=now)
        return added

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

    def trust_peer(self, name: str, *, expect_fingerprint: str | None = None) -> KeyBundle:
        """Re-trust a peer's currently published identity (after out-of-band checks).

        Args:
            name: the peer.
            expect_fingerprint: its safety number compared out of band: any other
                published identity is refused (recommended: the folder is hostile).

        Returns:
            The newly pinned bundle.

        Raises:
            errors.TransportError: no bundle published.
            errors.BundleError: the bundle is malformed or badly signed.
            errors.IdentityChangedError: not the expected fingerprint; nothing pinned.
        """
        bundle = self._bundles.get(name)
        self.trust.accept(bundle, expect_fingerprint=expect_fingerprint)
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
        """Encrypt ``obj`` and deliver it to each recipient's inbox.

        Several recipients, or ``stream=True``: one sealed blob for all. One recipient
        (with sessions on): a ratchet message when the session with that peer is
        established, else a sealed blob that starts one (docs/spec/datasite.md, "Sessions").

        Args:
            obj: the object (anything the codec can encode).
            to: recipient peer names.
            metadata: application metadata, signed with a sealed blob (inside the
                authenticated payload of a ratchet message).
            expires_in: validity window in seconds.
            stream: seal straight to disk with ``seal_to`` (for large payloads).
            progress: hears (plaintext bytes sealed, total) per chunk when streaming.
            now: sealing time (seconds since epoch).

        Returns:
            The message ids, one per recipient, in the order of ``to``.

        Raises:
            errors.SealpackError: a recipient is bad, unknown or untrusted, or obj cannot be sealed.
        """
        names = outbox.distinct_recipients(to)
        if len(names) == 1 and not stream and self._sessions.enabled:
            delivered: list[str] = []

            def deliver(message: bytes) -> None:  # under the session lock: a failed delivery
                # leaves the session state unwritten (no message number used up)
                delivered.append(self.transport.deliver(names[0], message, sender=self.name))

            message = self._send_in_session(obj, names[0], metadata, expires_in, now, deliver)
            if progress is not None:
                progress(len(message), len(message))
            return delivered
        names, bundles = outbox.claimed_recipients(
            self.transport, names, lambda name: self.fetch_bundle(name, now=now), self.identity
        )
        options = outbox.seal_options(
            self.identity, bundles, metadata, expires_in=expires_in, now=now
        )
        return outbox.seal_and_deliver(
            self.transport, obj, names, self.name, options, stream=stream, progress=progress
        )

    def _send_in_session(
        self,
        obj: object,
        name: str,
        metadata: Mapping[str, Any] | None,
        expires_in: int,
        now: int | None,
        deliver: Callable[[bytes], None],
    ) -> bytes:
        """A ratchet message to a peer with an established session, else a sealed start,
        handed to ``deliver`` before the session state is written (a failed delivery
        leaves the session as it was: no message number is used up).

        The published bundle is checked against the trust store first, as for a sealed
        blob: a changed identity stops delivery (IdentityChangedError) either way.
        """
        trusted = self.fetch_bundle(name, now=now)
        for attempt in range(3):
            message = self._sessions.seal_ratchet(
                trusted.identity_key, obj, metadata, expires_in=expires_in, now=now, deliver=deliver
            )
            if message is not None:
                return message
            bundle = outbox.restrict_to_claimed_prekey(self.transport, name, trusted, self.identity)
            try:
                return self._sessions.session(bundle).seal(
                    obj,
                    now=now,
                    deliver=deliver,
                    metadata=dict(metadata or {}),
                    expires_in=expires_in,
                )
            except SessionEstablishedError:
                if attempt == 2:
                    raise
                # an inbox on this key store opened the peer's answer meanwhile: ratchet
        raise AssertionError("unreachable")  # pragma: no cover

    def forget_session(self, name: str) -> None:
        """Drop the session(s) with a pinned peer; the next send starts a new one.

        For a peer that lost its session state (its inbox quarantines our ratchet
        messages as ``not-a-recipient``).

        Args:
            name: the peer.
        """
        pinned = self.trust.pinned_key(name)
        if pinned is not None:
            self._sessions.session(pinned).forget()

    def quarantined(self) -> list[QuarantineRecord]:
        """Return the reason records of this peer's quarantined blobs.

        Returns:
            The records, oldest first.

        Raises:
            errors.TransportError: the quarantine cannot be listed.
        """
        return self.transport.list_quarantine(self.name)
