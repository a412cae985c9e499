"""Receiving: open, verify and acknowledge inbox messages, quarantine the rest.

The receiving half of :class:`~sealpack.exchange.peer.Peer`. A blob is opened
against the trust store's *pinned* keys (plus, on first contact, the hinted
sender's published key, without pinning it); only a blob that verified pins its
sender and reaches the application. Any failure moves the blob to quarantine
with a reason (see docs/spec/datasite.md).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sealpack import api, errors
from sealpack.exchange.contacts import (
    BundleCache,
    not_trusted_yet,
    trusted_bundle,
    with_candidate,
)
from sealpack.exchange.message_ids import sender_hint
from sealpack.exchange.outbox import ProgressCallback
from sealpack.exchange.quarantine import reason_for
from sealpack.exchange.transport import Transport
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore

__all__ = ["Inbox", "Message", "poll_with_backoff"]

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


@dataclass(frozen=True)
class Inbox:
    """One peer's inbox, with what opening its messages needs.

    Attributes:
        owner: the receiving peer's name.
        transport: where the inbox is.
        recipient: the key store (durable replay guard) or bare identity.
        trust: the trust store senders are checked against and pinned in.
        bundles: the peer's cache of published bundles.
        trust_new_peers: verify (and then pin) a not-yet-pinned hinted sender.
        archive: keep acknowledged blobs in ``archive/`` instead of deleting them.
    """

    owner: str
    transport: Transport
    recipient: KeyStore | Identity
    trust: TrustStore
    bundles: BundleCache
    trust_new_peers: bool
    archive: bool

    def open(
        self, message_id: str, *, progress: ProgressCallback | None, now: int | None
    ) -> Message | None:
        """Open, verify and acknowledge one message, or quarantine it.

        Args:
            message_id: the inbox message.
            progress: hears (plaintext bytes decrypted, total).
            now: verification time (seconds since epoch).

        Returns:
            The verified message; None when it was refused (and quarantined).
        """
        candidate, hint_error = self._hinted_sender(message_id)
        try:
            obj, info = self._unseal(message_id, candidate, progress=progress, now=now)
            first_contact = candidate is not None and info.sender_name == candidate.name
            if first_contact and candidate is not None:
                self.trust.check(candidate)  # pinned only now that a message verified
        except errors.UnknownSenderError as error:
            self._quarantine(message_id, hint_error or error)
            return None
        except errors.SealpackError as error:
            self._quarantine(message_id, error)
            return None
        self.transport.acknowledge(self.owner, message_id, archive=self.archive)
        return Message(
            sender=info.sender_name,
            metadata=dict(info.metadata),
            obj=obj,
            message_id=message_id,
            first_contact=first_contact,
        )

    def _unseal(
        self,
        message_id: str,
        candidate: KeyBundle | None,
        *,
        progress: ProgressCallback | None,
        now: int | None,
    ) -> tuple[Any, Any]:
        """Open the blob against the pinned senders (plus ``candidate``, unpinned)."""
        senders = self.trust if candidate is None else with_candidate(self.trust, candidate)
        with self.transport.open_message(self.owner, message_id) as stream:
            obj, info = api.unseal_from(
                stream,
                recipient=self.recipient,
                senders=senders,
                with_metadata=True,
                now=now,
                progress=progress,
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
            identity changed, or it is new while ``trust_new_peers`` is False.
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
                self.owner, message_id, reason=reason_for(error), detail=str(error)
            )


def poll_with_backoff(
    poll: Callable[[], Iterable[Message]],
    *,
    timeout: float | None,
    min_interval: float,
    max_interval: float,
    sleep: Callable[[float], None],
) -> Iterator[Message]:
    """Poll until ``timeout``, sleeping (doubling) after empty polls only.

    Args:
        poll: returns the messages found by one pass over the inbox.
        timeout: stop after this many seconds in total; None = never.
        min_interval: the first delay after an empty poll, in seconds.
        max_interval: the longest delay between polls.
        sleep: the sleep function.

    Yields:
        The messages of every poll, as they come.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = min_interval
    while deadline is None or time.monotonic() < deadline:
        got_any = False
        for message in poll():
            got_any = True
            yield message
        if got_any:
            interval = min_interval  # more may be on the way: poll again at once
            continue
        sleep(interval)
        interval = min(interval * 2, max_interval)
