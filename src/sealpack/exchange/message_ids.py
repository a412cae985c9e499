"""Names and message ids of the exchange layer, shared by every transport.

Peer names follow the identity name rule of :mod:`sealpack.keys.names` (one
safe, non-hidden path component). Message ids are
``<time_ns:020d>-<16 hex>-<sender>``: they sort by delivery time, name the
(unverified) sender, and never collide.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import BinaryIO

from sealpack import errors
from sealpack.exchange.quarantine import QuarantineRecord
from sealpack.keys.names import NAME_PATTERN

__all__ = [
    "Writer",
    "check_message_id",
    "check_peer_name",
    "new_message_id",
    "quarantine_record",
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
    """Return the sender name embedded in a message id (unverified).

    Args:
        message_id: the id.

    Returns:
        The sender part; ``""`` when the id is not in the transport's format.
    """
    match = _MESSAGE_ID.fullmatch(message_id)
    return match.group(1) if match else ""


def quarantine_record(message_id: str, *, reason: str, detail: str) -> QuarantineRecord:
    """Build the reason record for a blob quarantined now.

    Args:
        message_id: the refused message.
        reason: the stable reason code.
        detail: the error message.

    Returns:
        The record, with the id's sender hint and the current time.

    Raises:
        errors.TransportError: the id is not in the transport's format.
    """
    return QuarantineRecord(
        message_id=check_message_id(message_id),
        reason=reason,
        detail=detail,
        sender_hint=sender_hint(message_id),
        quarantined_at=int(time.time()),
    )
