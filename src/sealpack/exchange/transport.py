"""The ``Transport`` protocol: how peers publish keys and move sealed blobs.

A transport is untrusted plumbing. It stores opaque bytes: key bundles as
published JSON, one-time prekey claim tokens, and sealed blobs in per-peer
inboxes. Everything security-relevant (signatures, trust, replay) is checked by
:class:`sealpack.exchange.Peer` on top of it. Names and message ids are in
:mod:`sealpack.exchange.message_ids` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol, runtime_checkable

from sealpack.exchange.message_ids import (
    Writer,
    check_message_id,
    check_peer_name,
    new_message_id,
    quarantine_record,
    sender_hint,
)
from sealpack.exchange.quarantine import QuarantineRecord

__all__ = [
    "BundleVersions",
    "Transport",
    "Writer",
    "check_message_id",
    "check_peer_name",
    "new_message_id",
    "quarantine_record",
    "sender_hint",
]


@runtime_checkable
class Transport(Protocol):
    """Where peers publish bundles and exchange sealed blobs.

    Every method that takes a peer name or message id raises
    ``errors.TransportError`` for an invalid or unknown one.
    """

    def register_peer(self, name: str) -> None:
        """Create the peer's areas (public keys, inbox, quarantine) if absent.

        Args:
            name: the peer.

        Raises:
            errors.TransportError: invalid name, or the areas cannot be created.
        """

    def peers(self) -> list[str]:
        """Return the names of all peers known to the transport.

        Returns:
            The names, sorted.
        """
        ...

    def publish_bundle(
        self, name: str, bundle_json: str, one_time_prekeys: Mapping[int, bytes]
    ) -> None:
        """Publish a peer's bundle JSON and offer its one-time prekeys for claiming.

        Prekeys already offered or claimed stay as they are; offered prekeys missing
        from ``one_time_prekeys`` are withdrawn.

        Args:
            name: the publishing peer.
            bundle_json: its ``KeyBundle.to_json()``.
            one_time_prekeys: every unconsumed one-time prekey, id to public key.

        Raises:
            errors.TransportError: invalid name or the bundle cannot be stored.
        """

    def fetch_bundle(self, name: str) -> str:
        """Return a peer's published bundle JSON.

        Args:
            name: the peer.

        Returns:
            The bundle JSON as published (unverified).

        Raises:
            errors.TransportError: unknown peer or no bundle published.
        """
        ...

    def claim_one_time_prekey(
        self, name: str, *, claim: Callable[[int], bytes] | None = None
    ) -> int | None:
        """Atomically take one of the peer's offered prekeys (one winner per prekey).

        Args:
            name: the peer whose prekey is taken.
            claim: called with the won id; returns the claimer's signed claim, which
                is stored for the peer to read (see ``list_claims``).

        Returns:
            The claimed prekey id; None when none is left.

        Raises:
            errors.TransportError: unknown peer.
        """
        ...

    def list_claims(self, name: str, prekey_id: int | None = None) -> list[bytes]:
        """Return the stored claims of the peer's one-time prekeys, oldest first.

        Where any peer can write the claims (a shared folder), return only content
        that decodes as a claim to ``name``, oldest first, and count only those
        towards any cap, so junk can neither push a claim out nor hide it.

        Args:
            name: the peer whose prekeys were claimed.
            prekey_id: only the claims of this prekey; None for all.

        Returns:
            The claims' bytes, unverified (see sealpack.exchange.claims).

        Raises:
            errors.TransportError: unknown peer.
        """
        ...

    def offers_one_time_prekey(self, name: str, prekey_id: int) -> bool:
        """Tell whether one prekey is still offered (so no claim of it can be genuine).

        Args:
            name: the peer.
            prekey_id: the one-time prekey id.

        Returns:
            True while it is offered, unclaimed.

        Raises:
            errors.TransportError: unknown peer.
        """
        ...

    def available_one_time_prekeys(self, name: str) -> int:
        """Return how many prekeys the peer still offers.

        Args:
            name: the peer.

        Returns:
            The number of offered, unclaimed prekeys.

        Raises:
            errors.TransportError: unknown peer.
        """
        ...

    def deliver(self, recipient: str, blob: bytes | Writer, *, sender: str) -> str:
        """Put a blob (bytes, or a writer streaming it) into an inbox atomically.

        Args:
            recipient: the inbox owner.
            blob: the sealed bytes, or a callable writing them to a binary file.
            sender: the sending peer's name (recorded in the message id).

        Returns:
            The new message id.

        Raises:
            errors.TransportError: unknown recipient or invalid sender name.
        """
        ...

    def list_inbox(self, owner: str) -> list[str]:
        """Return the ids of complete messages in an inbox.

        Args:
            owner: the inbox owner.

        Returns:
            The ids, oldest first.

        Raises:
            errors.TransportError: unknown peer.
        """
        ...

    def read_message(self, owner: str, message_id: str) -> bytes:
        """Return the bytes of one inbox message.

        Args:
            owner: the inbox owner.
            message_id: the message.

        Returns:
            The sealed blob.

        Raises:
            errors.TransportError: invalid id or no such readable message.
        """
        ...

    def open_message(self, owner: str, message_id: str) -> AbstractContextManager[BinaryIO]:
        """Open one inbox message for streaming reads.

        Args:
            owner: the inbox owner.
            message_id: the message.

        Returns:
            A context manager yielding a **seekable** binary stream of the blob (the
            inbox reads its header, seeks back and opens those same bytes).

        Raises:
            errors.TransportError: invalid id or no such readable message.
        """
        ...

    def acknowledge(self, owner: str, message_id: str, *, archive: bool = False) -> None:
        """Remove a processed message from the inbox (or move it to the archive).

        Args:
            owner: the inbox owner.
            message_id: the message; one already gone is ignored.
            archive: keep it in the archive instead of deleting it.

        Raises:
            errors.TransportError: invalid id, unknown peer, or the entry could not
                be removed (never a raw OSError: the inbox goes on).
        """

    def quarantine(
        self, owner: str, message_id: str, *, reason: str, detail: str
    ) -> QuarantineRecord:
        """Move a refused message out of the inbox, with a reason record.

        Args:
            owner: the inbox owner.
            message_id: the refused message.
            reason: a stable reason code (see sealpack.exchange.quarantine).
            detail: the error message (never key material).

        Returns:
            The stored record.

        Raises:
            errors.TransportError: invalid id or no such message in the inbox.
        """
        ...

    def list_quarantine(self, owner: str) -> list[QuarantineRecord]:
        """Return the reason records of quarantined messages.

        Args:
            owner: the inbox owner.

        Returns:
            The records, oldest first.

        Raises:
            errors.TransportError: unknown peer.
        """
        ...


@runtime_checkable
class BundleVersions(Protocol):
    """Optional transport feature: a cheap token that changes whenever a bundle does.

    :class:`~sealpack.exchange.peer.Peer` keeps parsed, verified bundles keyed by
    this token, so an unchanged bundle is not re-read and re-verified.
    """

    def bundle_version(self, name: str) -> Hashable | None:
        """Return a token that changes whenever the peer's bundle does.

        Args:
            name: the peer.

        Returns:
            The token; None when the peer or its bundle is unknown.
        """
        ...
