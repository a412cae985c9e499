"""Replay guards: remember accepted message ids until they can no longer be valid."""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from sealpack import errors

__all__ = ["RETENTION_SLACK", "MemoryReplayGuard", "ReplayGuard"]

RETENTION_SLACK = 86400
"""Seconds an id is kept past its ``expires_at`` (covers clock skew between parties)."""


@runtime_checkable
class ReplayGuard(Protocol):
    """Records (sender key id, message id) pairs and refuses a second acceptance.

    ``seen`` is a read-only look-up: the envelope asks it right after the sender's
    signature verified, before any key agreement (so a replay is reported as a replay,
    not as a consumed one-time prekey). ``accept`` records the pair only after the
    whole payload verified, so a corrupted copy never blocks a good retransmission.
    """

    def seen(self, sender_key_id: bytes, message_id: bytes) -> bool:
        """Return True if the pair was accepted before (records nothing)."""

    def accept(self, sender_key_id: bytes, message_id: bytes, expires_at: int, *, now: int) -> None:
        """Record the pair; raise ReplayError if it was seen. Durable before return.

        ``expires_at`` is the last second the message could still be accepted (the
        envelope passes ``expires + clock_skew``); the pair is kept RETENTION_SLACK
        seconds longer.
        """


class MemoryReplayGuard:
    """An in-memory ReplayGuard (lost on restart; the KeyStore provides a durable one)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[bytes, bytes], int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryReplayGuard(entries={len(self._seen)})"

    def seen(self, sender_key_id: bytes, message_id: bytes) -> bool:
        """Return True if the pair was accepted before (records nothing)."""
        with self._lock:
            return (bytes(sender_key_id), bytes(message_id)) in self._seen

    def accept(self, sender_key_id: bytes, message_id: bytes, expires_at: int, *, now: int) -> None:
        """Record the pair.

        Raises:
            ReplayError: this message id from this sender was already accepted.
        """
        key = (bytes(sender_key_id), bytes(message_id))
        with self._lock:
            self._purge(now)
            if key in self._seen:
                raise errors.ReplayError("message was already accepted (replay)")
            self._seen[key] = expires_at

    def _purge(self, now: int) -> None:
        cutoff = now - RETENTION_SLACK
        stale = [key for key, expires in self._seen.items() if expires < cutoff]
        for key in stale:
            del self._seen[key]
