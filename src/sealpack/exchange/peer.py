"""``Peer``: send and receive sealed, verified messages through a transport.

A peer binds one identity (normally from a :class:`~sealpack.keys.KeyStore`, so
one-time prekey use, replay ids and trust pins are durable) to a transport.
Only verified messages reach the application; every refused blob goes to
quarantine with a reason. The protocol is described in docs/spec/datasite.md.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sealpack import api, errors
from sealpack.exchange.contacts import BundleCache, not_trusted_yet, with_candidate
from sealpack.exchange.directory import DirectoryTransport
from sealpack.exchange.outbox import ProgressCallback, seal_and_deliver
from sealpack.exchange.quarantine import QuarantineRecord, reason_for
from sealpack.exchange.transport import Transport, check_peer_name, sender_hint
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore

__all__ = ["DEFAULT_EXPIRES_IN", "Message", "Peer", "ProgressCallback"]


DEFAULT_EXPIRES_IN = 7 * 86400
ROTATE_AT_LIFETIME_LEFT = 0.2
_CLAIM_ATTEMPTS = 64
_BUNDLE_LOOKUP_ERRORS = (errors.TransportError, errors.BundleError, errors.UnsupportedVersionError)


@dataclass(frozen=True)
class Message:
    """One verified message; unpacks as ``(sender, metadata, obj)``.

    Attributes:
        sender: the verified sender (from the signature, never the file name).
        metadata: the signed application metadata.
        obj: the opened object.
        message_id: the transport's id of the blob.
        first_contact: True when this message pinned the sender (trust on first
            use): the app may want to show the sender's fingerprint.
    """

    sender: str
    metadata: Mapping[str, Any]
    obj: Any
    message_id: str = ""
    first_contact: bool = False

    def __iter__(self) -> Iterator[Any]:
        return iter((self.sender, self.metadata, self.obj))


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

    # --- keys ----------------------------------------------------------------

    def publish(self, *, now: int | None = None) -> None:
        """Refresh the signed prekey, then publish the bundle and one-time prekeys.

        The signed prekey is rotated when it is in the last 20 % of its lifetime
        (or expired), and old signed prekeys past their grace period are deleted.

        Args:
            now: the current time (seconds since epoch).
        """
        current = int(time.time()) if now is None else now
        signed_prekey = self.identity.bundle().signed_prekey
        lifetime = signed_prekey.expires - signed_prekey.created
        if current >= signed_prekey.expires - int(lifetime * ROTATE_AT_LIFETIME_LEFT):
            self.identity.rotate_signed_prekey(now=current)
        self.identity.purge_expired(now=current)
        bundle = self.identity.bundle()
        prekeys = {prekey.id: prekey.public for prekey in bundle.one_time_prekeys}
        self.transport.publish_bundle(self.name, bundle.to_json(), prekeys)

    def replenish_prekeys(self, *, low_water: int = 10, batch: int = 50) -> int:
        """Add and publish one-time prekeys when fewer than ``low_water`` are offered.

        Args:
            low_water: replenish when the transport offers fewer than this many.
            batch: how many fresh prekeys to add then.

        Returns:
            How many prekeys were added (0 when enough are offered).
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
        bundle = self._bundles.get(name)
        if bundle.is_expired(now=now):
            raise errors.BundleError(f"signed prekey of {bundle.name!r} has expired")
        if not self.trust_new_peers and self.trust.pinned_key(name) is None:
            raise not_trusted_yet(bundle)
        return self.trust.check(bundle)

    def trust_peer(self, name: str) -> KeyBundle:
        """Re-trust a peer's currently published identity (after out-of-band checks).

        Args:
            name: the peer.

        Returns:
            The newly pinned bundle.
        """
        bundle = self._bundles.get(name)
        self.trust.accept(bundle)
        return bundle

    def _claimed_bundle(self, name: str, *, now: int | None) -> KeyBundle:
        """Fetch a trusted bundle restricted to one freshly claimed one-time prekey."""
        bundle = self.fetch_bundle(name, now=now)
        for _ in range(_CLAIM_ATTEMPTS):
            key_id = self.transport.claim_one_time_prekey(name)
            if key_id is None:
                break
            if bundle.one_time_prekey(key_id) is not None:
                return bundle.with_one_time_prekeys([key_id])
        return bundle.with_one_time_prekeys([])

    # --- sending -------------------------------------------------------------

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
            errors.SealpackError: a recipient is unknown, untrusted or has a bad bundle,
                or the object cannot be sealed.
        """
        names, bundles = self._recipients(to, now=now)
        return seal_and_deliver(
            self.transport,
            obj,
            names,
            sender_name=self.name,
            seal_options=self._seal_options(bundles, metadata, expires_in, now),
            stream=stream,
            progress=progress,
        )

    def _recipients(
        self, to: Sequence[str], *, now: int | None
    ) -> tuple[list[str], list[KeyBundle]]:
        """Distinct, valid recipient names and a freshly claimed bundle for each."""
        names = [check_peer_name(name) for name in dict.fromkeys(to)]
        if not names:
            raise errors.TransportError("send needs at least one recipient")
        return names, [self._claimed_bundle(name, now=now) for name in names]

    def _seal_options(
        self,
        bundles: list[KeyBundle],
        metadata: Mapping[str, Any] | None,
        expires_in: int,
        now: int | None,
    ) -> dict[str, Any]:
        """The keyword arguments of ``api.seal`` / ``api.seal_to`` for one message."""
        return {
            "sender": self.identity,
            "recipients": bundles,
            "metadata": dict(metadata or {}),
            "expires_in": expires_in,
            "now": now,
        }

    # --- receiving -----------------------------------------------------------

    def iter_messages(
        self, *, progress: ProgressCallback | None = None, now: int | None = None
    ) -> Iterator[Message]:
        """Yield every verified message in the inbox, oldest first.

        A message is acknowledged (deleted or archived) once verified, before it
        is yielded; refused blobs are quarantined and skipped.

        Args:
            progress: hears (plaintext bytes decrypted, total) of the message being opened.
            now: verification time (seconds since epoch).

        Yields:
            ``Message(sender, metadata, obj)`` for each verified message.
        """
        for message_id in self.transport.list_inbox(self.name):
            message = self._open(message_id, progress=progress, now=now)
            if message is not None:
                yield message

    def receive(
        self, *, progress: ProgressCallback | None = None, now: int | None = None
    ) -> list[Message]:
        """Return all verified messages currently in the inbox (see iter_messages)."""
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
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = min_interval
        while deadline is None or time.monotonic() < deadline:
            got_any = False
            for message in self.iter_messages():
                got_any = True
                yield message
            if got_any:
                interval = min_interval  # more may be on the way: poll again at once
                continue
            sleep(interval)
            interval = min(interval * 2, max_interval)

    def quarantined(self) -> list[QuarantineRecord]:
        """Return the reason records of this peer's quarantined blobs."""
        return self.transport.list_quarantine(self.name)

    def _open(
        self, message_id: str, *, progress: ProgressCallback | None, now: int | None
    ) -> Message | None:
        candidate, hint_error = self._hinted_sender(message_id)
        senders = self.trust if candidate is None else with_candidate(self.trust, candidate)
        try:
            with self.transport.open_message(self.name, message_id) as stream:
                obj, info = api.unseal_from(
                    stream,
                    recipient=self._keystore or self.identity,
                    senders=senders,
                    with_metadata=True,
                    now=now,
                    progress=progress,
                )
            first_contact = candidate is not None and info.sender_name == candidate.name
            if first_contact and candidate is not None:
                self.trust.check(candidate)  # pinned only now that a message verified
        except errors.UnknownSenderError as error:
            self._quarantine(message_id, hint_error or error)
            return None
        except errors.SealpackError as error:
            self._quarantine(message_id, error)
            return None
        self.transport.acknowledge(self.name, message_id, archive=self.archive)
        return Message(
            sender=info.sender_name,
            metadata=dict(info.metadata),
            obj=obj,
            message_id=message_id,
            first_contact=first_contact,
        )

    def _hinted_sender(
        self, message_id: str
    ) -> tuple[KeyBundle | None, errors.SealpackError | None]:
        """Look up the sender the message id names (a hint, never trusted).

        Returns:
            ``(candidate, error)``: the published bundle of a not-yet-pinned hinted
            sender, to verify the blob against without pinning it (TOFU), and the
            error to report if the blob's signer is unknown: the hinted peer's
            identity changed, or it is new while ``trust_new_peers`` is False.
        """
        name = sender_hint(message_id)
        try:
            # Only the identity key matters here: an expired signed prekey must not
            # stop us from verifying that sender, so no expiry check (now=0).
            if self.trust.pinned_key(name) is not None:
                self.fetch_bundle(name, now=0)
                return None, None
            bundle = self._bundles.get(name)
        except errors.IdentityChangedError as error:
            return None, error
        except _BUNDLE_LOOKUP_ERRORS:
            return None, None
        if not self.trust_new_peers:
            return None, not_trusted_yet(bundle)
        return bundle, None

    def _quarantine(self, message_id: str, error: errors.SealpackError) -> None:
        """Move a refused blob to quarantine; a blob that vanished meanwhile is skipped."""
        with contextlib.suppress(errors.TransportError):
            self.transport.quarantine(
                self.name, message_id, reason=reason_for(error), detail=str(error)
            )
