"""The receiving half of :class:`~sealpack.exchange.peer.Peer`: iterate, watch, maintain.

A mixin: :class:`Receiving` reads the peer's attributes (name, transport, key
store, trust, bundle cache, claim book) and builds the
:class:`~sealpack.exchange.inbox.Inbox` that opens each message. Delivery
semantics (held messages, acknowledgement, redelivery) are documented in
docs/spec/datasite.md, "Delivery guarantee".
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from sealpack import errors
from sealpack.exchange.ack_journal import AckJournal
from sealpack.exchange.claim_book import ClaimBook
from sealpack.exchange.claim_check import ClaimCheck
from sealpack.exchange.contacts import BundleCache
from sealpack.exchange.inbox import ExpectMetadata, Inbox, Message, poll_with_backoff
from sealpack.exchange.outbox import ProgressCallback
from sealpack.exchange.sessions import PeerSessions
from sealpack.exchange.transport import Transport
from sealpack.keys import Identity, KeyStore, TrustStore

__all__ = ["Receiving"]


class Receiving:
    """Receiving methods of a peer (mixed into :class:`~sealpack.exchange.peer.Peer`)."""

    name: str
    transport: Transport
    identity: Identity
    trust: TrustStore
    trust_new_peers: bool
    archive: bool
    _keystore: KeyStore | None
    _bundles: BundleCache
    _claim_book: ClaimBook
    _ack_journal: AckJournal
    _sessions: PeerSessions

    def publish(self, *, now: int | None = None) -> None:  # pragma: no cover - Peer's
        raise NotImplementedError

    def replenish_prekeys(  # pragma: no cover - Peer's
        self, *, low_water: int = 10, batch: int = 50, now: int | None = None
    ) -> int:
        raise NotImplementedError

    def _inbox(self) -> Inbox:
        """This peer's inbox, with the current trust settings."""
        claims = ClaimCheck(
            owner=self.name,
            identity=self.identity,
            transport=self.transport,
            book=self._claim_book,
            trust=self.trust,
            bundles=self._bundles,
        )
        return Inbox(
            owner=self.name,
            transport=self.transport,
            recipient=self._keystore or self.identity,
            trust=self.trust,
            bundles=self._bundles,
            claims=claims,
            trust_new_peers=self.trust_new_peers,
            journal=self._ack_journal,
            archive=self.archive,
            sessions=self._sessions,
        )

    def iter_messages(
        self,
        *,
        progress: ProgressCallback | None = None,
        now: int | None = None,
        auto_ack: bool = True,
        expect_metadata: ExpectMetadata = None,
        expect: Any = None,
    ) -> Iterator[Message]:
        """Yield every verified message in the inbox, oldest first; quarantine the rest.

        Each message is held until acknowledged. With ``auto_ack`` (the default) a
        message is acknowledged when the loop asks for the next one, i.e. after the
        loop body for it finished without an exception; leaving the loop by an
        exception or ``break`` leaves it unacknowledged, and it is delivered again
        (``redelivered=True``), also after a restart. A failed automatic
        acknowledgement does not stop the loop (a later pass finishes it). Call
        ``message.ack()`` (or use ``with message:``) to acknowledge earlier, and
        always with ``auto_ack=False``.

        Args:
            progress: hears (plaintext bytes decrypted, total) of the message being opened.
            now: verification time (seconds since epoch).
            auto_ack: acknowledge each message when the next one is requested.
            expect_metadata: items (or a predicate) every message's signed metadata
                must match; others are quarantined (``context-mismatch``), unburned.
            expect: a type annotation every payload must match (typed decoding,
                ``fobs.loads(expect=)``); others are quarantined (``malformed``), unburned.

        Yields:
            ``Message(sender, metadata, obj)`` for each verified message.

        Raises:
            errors.TransportError: the inbox cannot be listed (UnsafePathError: a symlink).
        """
        inbox = self._inbox()
        inbox.finish_pending_acks()
        with contextlib.suppress(errors.SealpackError, OSError):
            inbox.claims.void_offered()
        for message_id in self.transport.list_inbox(self.name):
            message = inbox.open(
                message_id,
                progress=progress,
                now=now,
                expect_metadata=expect_metadata,
                expect=expect,
            )
            if message is not None:
                yield message
                if auto_ack:
                    with contextlib.suppress(errors.SealpackError, OSError):
                        message.ack()  # a failure is journaled: finished at a later pass

    def receive(
        self,
        *,
        progress: ProgressCallback | None = None,
        now: int | None = None,
        expect_metadata: ExpectMetadata = None,
        expect: Any = None,
    ) -> list[Message]:
        """Return all verified messages currently in the inbox, acknowledged.

        Every message is acknowledged before the list is returned (one whose
        acknowledgement failed has ``acknowledged`` False and comes again), so a
        crash of the application after this call loses them: use
        :meth:`iter_messages` or :meth:`watch` (acknowledging after processing)
        where that matters.

        Args:
            progress: hears (plaintext bytes decrypted, total) per message.
            now: verification time (seconds since epoch).
            expect_metadata: as in :meth:`iter_messages`.
            expect: as in :meth:`iter_messages`.

        Returns:
            The verified messages, oldest first.

        Raises:
            errors.TransportError: the inbox cannot be listed.
        """
        messages = self.iter_messages(
            progress=progress, now=now, expect_metadata=expect_metadata, expect=expect
        )
        return list(messages)

    def maintain(self, *, low_water: int = 10, batch: int = 50, now: int | None = None) -> None:
        """Keep the published keys fresh: rotate the signed prekey when due, top up prekeys.

        Args:
            low_water: replenish when fewer one-time prekeys than this are offered.
            batch: how many to add then.
            now: the current time (seconds since epoch).

        Raises:
            errors.SealpackError: the key store or the transport failed.
        """
        if self.replenish_prekeys(low_water=low_water, batch=batch, now=now) == 0:
            self.publish(now=now)  # rotates the signed prekey in the last 20 % of its life

    def watch(
        self,
        *,
        timeout: float | None = None,
        min_interval: float = 0.05,
        max_interval: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        maintain_every: float | None = 60.0,
        expect_metadata: ExpectMetadata = None,
        auto_ack: bool = True,
        expect: Any = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Message]:
        """Poll the inbox forever (or until ``timeout``), backing off while idle.

        Messages are acknowledged as in :meth:`iter_messages`; one left
        unacknowledged comes back (``redelivered``) at a later poll. Every
        ``maintain_every`` seconds (and at the start) :meth:`maintain` keeps the
        signed prekey and the one-time prekeys fresh, so a long-running watcher stays
        reachable; a failure there is retried at the next interval, never fatal.

        Args:
            timeout: stop after this many seconds in total; None = never.
            min_interval: the first delay after an empty poll, in seconds.
            max_interval: the longest delay between polls.
            sleep: the sleep function (injectable for tests).
            maintain_every: seconds between key maintenance runs; None = never.
            expect_metadata: as in :meth:`iter_messages`.
            auto_ack: as in :meth:`iter_messages`.
            expect: as in :meth:`iter_messages`.
            progress: hears (plaintext bytes decrypted, total) of each message opened.

        Yields:
            Verified messages as they arrive.

        Raises:
            errors.TransportError: the inbox cannot be listed.
        """
        return poll_with_backoff(
            lambda: self.iter_messages(
                expect_metadata=expect_metadata,
                auto_ack=auto_ack,
                expect=expect,
                progress=progress,
            ),
            timeout=timeout,
            min_interval=min_interval,
            max_interval=max_interval,
            sleep=sleep,
            maintain=None if maintain_every is None else (self._safe_maintain, maintain_every),
        )

    def _safe_maintain(self) -> None:
        with contextlib.suppress(errors.SealpackError, OSError):
            self.maintain()
