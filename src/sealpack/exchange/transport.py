"""The ``Transport`` protocol: how peers publish keys and move sealed blobs.

A transport is untrusted plumbing. It stores opaque bytes: key bundles as
published JSON, one-time prekey claim tokens, and sealed blobs in per-peer
inboxes. Everything security-relevant (signatures, trust, replay) is checked by
:class:`sealpack.exchange.Peer` on top of it.

Message ids are ``<time_ns:020d>-<16 hex>-<sender>``: they sort by delivery
time, name the (unverified) sender, and never collide.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Hashable, Mapping
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol, runtime_checkable

from sealpack import errors
from sealpack.exchange.quarantine import QuarantineRecord
from sealpack.keys.names import NAME_PATTERN

__all__ = [
    "BundleVersions",
    "Transport",
    "Writer",
    "check_message_id",
    "check_peer_name",
    "new_message_id",
    "sender_hint",
]

Writer = Callable[[BinaryIO], None]

_MESSAGE_ID = re.compile(r"[0-9]{20}-[0-9a-f]{16}-(" + NAME_PATTERN.pattern + ")")


def check_peer_name(name: object) -> str:
    """Validate a peer name (a safe single path component).

    Args:
        name: the candidate name.

    Returns:
        The name.

    Raises:
        errors.TransportError: not a valid identity name (see sealpack.keys.names).
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise errors.TransportError(
            f"invalid peer name {name!r}: use 1-64 of A-Z a-z 0-9 . _ @ + - "
            "(starting with a letter or digit)"
        )
    return name


def check_message_id(message_id: object) -> str:
    """Validate a message id so it can never escape its directory.

    Args:
        message_id: the candidate id.

    Returns:
        The id.

    Raises:
        errors.TransportError: the id is not in the transport's format.
    """
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise errors.TransportError(f"invalid message id {message_id!r}")
    return message_id


def new_message_id(sender: str, *, now_ns: int | None = None) -> str:
    """Make a fresh, sortable, unique message id.

    Args:
        sender: the sending peer's name.
        now_ns: delivery time in nanoseconds; ``time.time_ns()`` when None.

    Returns:
        The id.
    """
    stamp = time.time_ns() if now_ns is None else now_ns
    return f"{stamp:020d}-{secrets.token_hex(8)}-{check_peer_name(sender)}"


def sender_hint(message_id: str) -> str:
    """Return the sender name embedded in a message id (unverified)."""
    match = _MESSAGE_ID.fullmatch(message_id)
    return match.group(1) if match else ""


@runtime_checkable
class Transport(Protocol):
    """Where peers publish bundles and exchange sealed blobs."""

    def register_peer(self, name: str) -> None:
        """Create the peer's areas (public keys, inbox, quarantine) if absent."""

    def peers(self) -> list[str]:
        """Return the names of all peers known to the transport, sorted."""
        ...

    def publish_bundle(
        self, name: str, bundle_json: str, one_time_prekeys: Mapping[int, bytes]
    ) -> None:
        """Publish a peer's bundle JSON and offer its one-time prekeys for claiming.

        Prekeys already offered or claimed stay as they are; offered prekeys missing
        from ``one_time_prekeys`` are withdrawn.
        """

    def fetch_bundle(self, name: str) -> str:
        """Return a peer's published bundle JSON; TransportError if there is none."""
        ...

    def claim_one_time_prekey(self, name: str) -> int | None:
        """Atomically take one of the peer's offered prekeys; None when none is left."""
        ...

    def available_one_time_prekeys(self, name: str) -> int:
        """Return how many prekeys the peer still offers."""
        ...

    def deliver(self, recipient: str, blob: bytes | Writer, *, sender: str) -> str:
        """Put a blob (bytes, or a writer streaming it) into an inbox atomically.

        Returns:
            The new message id.
        """
        ...

    def list_inbox(self, owner: str) -> list[str]:
        """Return the ids of complete messages in an inbox, oldest first."""
        ...

    def read_message(self, owner: str, message_id: str) -> bytes:
        """Return the bytes of one inbox message."""
        ...

    def open_message(self, owner: str, message_id: str) -> AbstractContextManager[BinaryIO]:
        """Open one inbox message for streaming reads."""
        ...

    def acknowledge(self, owner: str, message_id: str, *, archive: bool = False) -> None:
        """Remove a processed message from the inbox (or move it to the archive)."""

    def quarantine(
        self, owner: str, message_id: str, *, reason: str, detail: str
    ) -> QuarantineRecord:
        """Move a refused message out of the inbox, with a reason record."""
        ...

    def list_quarantine(self, owner: str) -> list[QuarantineRecord]:
        """Return the reason records of quarantined messages, oldest first."""
        ...


@runtime_checkable
class BundleVersions(Protocol):
    """Optional transport feature: a cheap token that changes whenever a bundle does.

    :class:`~sealpack.exchange.peer.Peer` keeps parsed, verified bundles keyed by
    this token, so an unchanged bundle is not re-read and re-verified.
    """

    def bundle_version(self, name: str) -> Hashable | None:
        """Return a token for the peer's current bundle; None when unknown or absent."""
        ...
