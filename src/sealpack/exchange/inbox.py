"""Receiving: open, verify and hand over inbox messages; quarantine the rest.

The receiving half of :class:`~sealpack.exchange.peer.Peer`. A blob is first
checked against the recorded one-time prekey claims (without opening it), then
opened with ``hold=True`` against the trust store's *pinned* keys (plus, on first
contact, the hinted sender's published key, without pinning it); only a blob that
verified pins its sender and reaches the application, which acknowledges it
(:class:`~sealpack.exchange.message.Message`). Any failure, expected or not,
moves the blob to quarantine with a reason, so one hostile message never stops the
others (see docs/spec/datasite.md). A ratchet message (magic ``SEALSESS``, issue 15) is
opened, held, with the session of the pinned peer its id names, its context checked
inside (:mod:`~sealpack.exchange.sessions`), and acknowledged the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from sealpack import api, errors
from sealpack.exchange.ack_journal import AckJournal
from sealpack.exchange.claim_check import (
    CheckedBlob,
    ClaimCheck,
    UnclaimedPrekeyError,
    still_waiting,
)
from sealpack.exchange.contacts import (
    BundleCache,
    not_trusted_yet,
    trusted_bundle,
    with_candidate,
)
from sealpack.exchange.message import Message
from sealpack.exchange.message_ids import sender_hint
from sealpack.exchange.outbox import ProgressCallback
from sealpack.exchange.polling import poll_with_backoff
from sealpack.exchange.quarantine import REASON_ERROR, reason_for
from sealpack.exchange.sessions import (
    SESSION_MAGIC_SIZE,
    PeerSessions,
    is_session_message,
    read_bounded,
)
from sealpack.exchange.transport import Transport
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore
from sealpack.session.start import start_or

__all__ = ["Inbox", "Message", "poll_with_backoff"]  # poll_with_backoff: from polling

ExpectMetadata = Mapping[str, Any] | Callable[[Mapping[str, Any]], bool] | None
"""Items the signed metadata must hold, or a predicate on it (``unseal(expect_metadata=)``)."""

_BUNDLE_LOOKUP_ERRORS = (errors.TransportError, errors.BundleError, errors.UnsupportedVersionError)


@dataclass(frozen=True)
class Inbox:
    """One peer's inbox, with what opening its messages needs.

    Attributes:
        owner: the receiving peer's name.
        transport: where the inbox is.
        recipient: the key store (durable replay guard) or bare identity.
        trust: the trust store senders are checked against and pinned in.
        bundles: the peer's cache of published bundles.
        claims: the one-time prekey claim check.
        journal: pending acknowledgements (finished after a crash).
        trust_new_peers: verify (and then pin) a not-yet-pinned hinted sender.
        archive: keep acknowledged blobs in ``archive/`` instead of deleting them.
        sessions: the peer's Double Ratchet sessions (ratchet messages, session starts).
    """

    owner: str
    transport: Transport
    recipient: KeyStore | Identity
    trust: TrustStore
    bundles: BundleCache
    claims: ClaimCheck
    journal: AckJournal
    trust_new_peers: bool
    archive: bool
    sessions: PeerSessions

    def open(
        self,
        message_id: str,
        *,
        progress: ProgressCallback | None,
        now: int | None,
        expect_metadata: ExpectMetadata = None,
        expect: Any = None,
    ) -> Message | None:
        """Open and verify one message (held until acknowledged), or quarantine it.

        Never raises: every failure, including an unexpected one, quarantines the
        blob (or, if even that fails, leaves it in the inbox) and returns None.

        Args:
            message_id: the inbox message.
            progress: hears (plaintext bytes decrypted, total).
            now: verification time (seconds since epoch).
            expect_metadata: items (or a predicate) the signed metadata must match.
            expect: the type annotation the payload must match (typed decoding);
                a mismatch quarantines the blob with reason ``malformed``.

        Returns:
            The verified, not yet acknowledged message; None when it was refused
            (or is waiting in the inbox for its prekey claim).
        """
        try:
            return self._open(message_id, progress, now, (expect_metadata, expect))
        except UnclaimedPrekeyError as error:
            if still_waiting(_delivered_ns(message_id)):
                return None  # the claim file may still be on its way: retry later
            self._quarantine(message_id, error)
        except errors.SealpackError as error:
            self._quarantine(message_id, error)
        except Exception as error:
            self._quarantine(message_id, error)
        return None

    def _open(
        self,
        message_id: str,
        progress: ProgressCallback | None,
        now: int | None,
        expectations: tuple[ExpectMetadata, Any],
    ) -> Message:
        with self.transport.open_message(self.owner, message_id) as stream:  # opened once
            if is_session_message(stream.read(SESSION_MAGIC_SIZE)):
                stream.seek(0)
                return self._open_ratchet(message_id, read_bounded(stream), now, expectations)
            stream.seek(0)
            candidate, hint_error = self._hinted_sender(message_id)
            try:
                header = self.claims.check(stream)  # read once: these bytes are opened
            except UnclaimedPrekeyError as error:
                raise (hint_error or error) from error  # a changed or untrusted sender says more
            blob = cast(BinaryIO, CheckedBlob(header, stream))
            try:
                obj, info = self._unseal(blob, candidate, progress, now, expectations)
            except errors.UnknownSenderError as error:
                raise (hint_error or error) from error
        first_contact = candidate is not None and info.sender_name == candidate.name
        if first_contact and candidate is not None:
            self.trust.check(candidate)  # pinned only now that a message verified
        obj = self.sessions.accept_start(info.sender.identity_key, obj, now=now)
        return Message(
            sender=info.sender_name,
            metadata=dict(info.metadata),
            obj=obj,
            message_id=message_id,
            first_contact=first_contact,
            redelivered=bool(info.redelivered),
            _acknowledge=lambda: self._acknowledge(message_id, info),
        )

    def _open_ratchet(
        self,
        message_id: str,
        data: bytes,
        now: int | None,
        expectations: tuple[ExpectMetadata, Any],
    ) -> Message:
        """Open a ratchet message of the hinted (pinned) sender's session, held."""
        peer_key = self.trust.pinned_key(sender_hint(message_id))
        if peer_key is None:
            raise errors.UnknownSenderError("a session message from a peer that is not pinned")
        sender = self.trust.name_for_key(peer_key) or sender_hint(message_id)
        expect_metadata, expect = expectations
        opened = self.sessions.open_ratchet(
            peer_key, data, now=now, expect_metadata=expect_metadata, expect=expect
        )

        def acknowledge() -> None:
            self.journal.begin_ratchet(message_id, peer_key, opened.receipt)
            self.transport.acknowledge(self.owner, message_id, archive=self.archive)
            self.sessions.acknowledge(peer_key, opened.receipt)
            self.journal.end(message_id)

        return Message(
            sender=sender,
            metadata=opened.metadata,
            obj=opened.obj,
            message_id=message_id,
            redelivered=opened.redelivered,
            _acknowledge=acknowledge,
        )

    def _acknowledge(self, message_id: str, info: api.UnsealedInfo) -> None:
        """Journal, remove the blob, mark the message done, forget the journal entry."""
        if info.receipt is not None:
            receipt = info.receipt
            self.journal.begin(message_id, receipt.sender_key_id, receipt.message_id)
        self.transport.acknowledge(self.owner, message_id, archive=self.archive)
        api.acknowledge(self.recipient, info)
        self.journal.end(message_id)

    def finish_pending_acks(self) -> int:
        """Complete the acknowledgements a crash interrupted (see ``AckJournal``).

        Returns:
            How many were completed.
        """
        done = 0
        for message_id, sender_key_id, envelope_id in self.journal.pending():
            with contextlib.suppress(errors.SealpackError, OSError):
                self.transport.acknowledge(self.owner, message_id, archive=self.archive)
                if isinstance(self.recipient, KeyStore):
                    with contextlib.suppress(errors.KeyStoreError, errors.ReplayError):
                        self.recipient.acknowledge(sender_key_id, envelope_id)
                self.journal.end(message_id)
                done += 1
        for message_id, peer_key, receipt in self.journal.pending_ratchet():
            with contextlib.suppress(errors.SealpackError, OSError):
                self.transport.acknowledge(self.owner, message_id, archive=self.archive)
                self.sessions.acknowledge(peer_key, receipt)
                self.journal.end(message_id)
                done += 1
        return done

    def _unseal(
        self,
        stream: BinaryIO,
        candidate: KeyBundle | None,
        progress: ProgressCallback | None,
        now: int | None,
        expectations: tuple[ExpectMetadata, Any],
    ) -> tuple[Any, api.UnsealedInfo]:
        """Open the blob against the pinned senders (plus ``candidate``, unpinned)."""
        expect_metadata, expect = expectations
        senders = self.trust if candidate is None else with_candidate(self.trust, candidate)
        obj, info = api.unseal_from(
            stream,
            recipient=self.recipient,
            senders=senders,
            with_metadata=True,
            now=now,
            progress=progress,
            expect_metadata=expect_metadata,
            expect=None if expect is None else start_or(expect),  # checked before building
            hold=True,
        )
        return obj, info

    def _hinted_sender(
        self, message_id: str
    ) -> tuple[KeyBundle | None, errors.SealpackError | None]:
        """Look up the sender the message id names (a hint, never trusted).

        Returns:
            ``(candidate, error)``: the published bundle of a not-yet-pinned hinted
            sender, to verify the blob against without pinning it (TOFU), and the
            error to report if the blob's signer is unknown: the hinted peer's
            identity changed, or it is new while ``trust_new_peers`` is False. A
            published bundle whose key is pinned under another name is never a
            candidate (issue 10.1): that key's messages are its pinned name's.
        """
        name = sender_hint(message_id)
        try:
            # Only the identity key matters here: an expired signed prekey must not
            # stop us from verifying that sender, so no expiry check (now=0).
            if self.trust.pinned_key(name) is not None:
                trusted_bundle(
                    self.bundles, self.trust, name, now=0, trust_new_peers=self.trust_new_peers
                )
                return None, None
            bundle = self.bundles.get(name)
            if self.trust.name_for_key(bundle.identity_key) is not None:
                return None, None
        except (errors.IdentityChangedError, errors.AmbiguousSenderError) as error:
            return None, error
        except _BUNDLE_LOOKUP_ERRORS:
            return None, None
        if not self.trust_new_peers:
            return None, not_trusted_yet(bundle)
        return bundle, None

    def _quarantine(self, message_id: str, error: BaseException) -> None:
        """Move a refused blob to quarantine; if that fails too, leave it in the inbox."""
        reason = reason_for(error) if isinstance(error, errors.SealpackError) else REASON_ERROR
        detail = str(error) if isinstance(error, errors.SealpackError) else type(error).__name__
        with contextlib.suppress(errors.SealpackError, OSError):
            self.transport.quarantine(self.owner, message_id, reason=reason, detail=detail)


def _delivered_ns(message_id: str) -> int:
    """The delivery time a message id claims (its first 20 digits), in nanoseconds."""
    return int(message_id[:20])
