"""Quarantine records: why a blob was refused, kept next to the blob itself.

A refused blob is never deleted and never handed to the application; it is
moved to the owner's ``quarantine/`` area together with a small JSON reason
file (see docs/spec/datasite.md). This module maps sealpack errors to stable
reason codes and encodes/decodes the reason file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sealpack import errors

__all__ = [
    "REASON_CONTEXT",
    "REASON_DOWNGRADE",
    "REASON_ERROR",
    "REASON_EXPIRED",
    "REASON_IDENTITY_CHANGED",
    "REASON_MALFORMED",
    "REASON_NOT_A_RECIPIENT",
    "REASON_NOT_TRUSTED_YET",
    "REASON_PREKEY",
    "REASON_REPLAYED",
    "REASON_TAMPERED",
    "REASON_UNKNOWN_SENDER",
    "REASON_UNTRUSTED",
    "PeerNotTrustedError",
    "QuarantineRecord",
    "decode_record",
    "encode_record",
    "reason_for",
]

REASON_TAMPERED = "tampered"
REASON_REPLAYED = "replayed"
REASON_EXPIRED = "expired"
REASON_UNTRUSTED = "untrusted-sender"
REASON_UNKNOWN_SENDER = "unknown-sender"
REASON_IDENTITY_CHANGED = "identity-changed"
REASON_NOT_A_RECIPIENT = "not-a-recipient"
REASON_PREKEY = "prekey"
REASON_MALFORMED = "malformed"
REASON_NOT_TRUSTED_YET = "untrusted"
REASON_CONTEXT = "context-mismatch"
REASON_DOWNGRADE = "downgrade"
REASON_ERROR = "error"


class PeerNotTrustedError(errors.UntrustedSenderError):
    """A peer is not pinned yet and the receiving Peer does not trust new peers.

    Raised by ``Peer(..., trust_new_peers=False)`` instead of pinning a bundle on
    first use; quarantine reason ``untrusted``.
    """


# Most specific first: IdentityChangedError etc. are checked before their bases.
_REASONS: tuple[tuple[type[errors.SealpackError], str], ...] = (
    (PeerNotTrustedError, REASON_NOT_TRUSTED_YET),
    (errors.TamperedError, REASON_TAMPERED),
    (errors.ReplayError, REASON_REPLAYED),
    (errors.ExpiredError, REASON_EXPIRED),
    (errors.IdentityChangedError, REASON_IDENTITY_CHANGED),
    (errors.UntrustedSenderError, REASON_UNTRUSTED),
    (errors.UnknownSenderError, REASON_UNKNOWN_SENDER),
    (errors.NotARecipientError, REASON_NOT_A_RECIPIENT),
    (errors.PrekeyError, REASON_PREKEY),
    (errors.ContextMismatchError, REASON_CONTEXT),
    (errors.DowngradeError, REASON_DOWNGRADE),
)


@dataclass(frozen=True)
class QuarantineRecord:
    """Why one blob was refused.

    Attributes:
        message_id: the transport's id of the blob (file stem on disk).
        reason: a stable code (``tampered``, ``replayed``, ``expired``, ...).
        detail: the human-readable error message (never key material).
        sender_hint: the sender name the transport claimed (unverified).
        quarantined_at: seconds since epoch when the blob was moved.
    """

    message_id: str
    reason: str
    detail: str
    sender_hint: str
    quarantined_at: int


def reason_for(error: BaseException) -> str:
    """Map an error raised while opening a blob to a stable reason code.

    Args:
        error: the exception.

    Returns:
        One of the ``REASON_*`` codes; ``malformed`` for anything else.
    """
    for error_type, reason in _REASONS:
        if isinstance(error, error_type):
            return reason
    return REASON_MALFORMED


def encode_record(record: QuarantineRecord) -> bytes:
    """Encode a record as the UTF-8 JSON reason file.

    Args:
        record: the record.

    Returns:
        The file content.
    """
    return json.dumps(asdict(record), sort_keys=True, indent=1).encode("utf-8")


def decode_record(data: bytes) -> QuarantineRecord:
    """Decode a reason file.

    Args:
        data: the file content.

    Returns:
        The record.

    Raises:
        errors.TransportError: the file is not a valid reason file.
    """
    try:
        raw: Any = json.loads(
            data.decode("utf-8"), parse_int=_bounded_int, parse_constant=_no_constant
        )
        return QuarantineRecord(
            message_id=_field(raw, "message_id", str),
            reason=_field(raw, "reason", str),
            detail=_field(raw, "detail", str),
            sender_hint=_field(raw, "sender_hint", str),
            quarantined_at=_field(raw, "quarantined_at", int),
        )
    except (ValueError, TypeError, RecursionError, MemoryError) as error:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and the int limits.
        raise errors.TransportError("malformed quarantine reason file") from error


_MAX_INT_DIGITS = 20


def _bounded_int(text: str) -> int:
    """A JSON integer of at most 20 digits (a record's time); longer ones are refused."""
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError("integer too long in a quarantine record")
    return int(text)


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not allowed in a quarantine record")


def _field(raw: Any, key: str, kind: type[Any]) -> Any:
    if not isinstance(raw, dict) or not isinstance(raw.get(key), kind):
        raise TypeError(key)
    return raw[key]
