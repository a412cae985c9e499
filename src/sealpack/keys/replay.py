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
    """Records (sender key id, message id) pairs and refuses a second acceptance."""

    def accept(self, sender_key_id: bytes, message_id: bytes, expires_at: int, *, now: int) -> None:
        """Record the pair; raise ReplayError if it was seen. Durable before return."""


class MemoryReplayGuard:
    """An in-memory ReplayGuard (lost on restart; the KeyStore provides a durable one)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[bytes, bytes], int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryReplayGuard(entries={len(self._seen)})"

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
