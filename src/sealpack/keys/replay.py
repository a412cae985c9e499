"""Replay guards: remember opened message ids until they can no longer be valid.

A record is ``(sender key id, message id) -> (state, payload digest, expires_at)`` with
state ``"held"`` (opened and handed to the application, not yet acknowledged) or
``"done"``. The envelope opener asks :meth:`ReplayGuard.lookup` right after the sender's
signature verified (so a replay is reported as a replay, not as a consumed one-time
prekey, and a redelivery of a held blob with the same digest is told apart from a replay),
and records only after every chunk authenticated, through ``Identity._commit_open``.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from sealpack import errors

__all__ = ["DONE", "HELD", "RETENTION_SLACK", "Lookup", "MemoryReplayGuard", "ReplayGuard"]

RETENTION_SLACK = 86400
"""Seconds a ``done`` id is kept past its ``expires_at`` (covers clock skew between parties)."""
HELD = "held"
DONE = "done"
Lookup = tuple[str, bytes] | None
"""None (never recorded), or (``"held"`` | ``"done"``, payload digest)."""


@runtime_checkable
class ReplayGuard(Protocol):
    """Records (sender key id, message id) pairs and refuses a second recording.

    ``lookup``/``seen`` record nothing. ``commit_open`` records after the whole payload
    verified, so a corrupted copy never blocks a good retransmission; ``accept`` is the
    version-1 name of ``commit_open(..., digest=b"", hold=False)``.
    """

    def lookup(self, sender_key_id: bytes, message_id: bytes) -> Lookup:
        """Return None, or the (state, digest) recorded for the pair."""

    def seen(self, sender_key_id: bytes, message_id: bytes) -> bool:
        """Return True if the pair was recorded before (records nothing)."""

    def accept(self, sender_key_id: bytes, message_id: bytes, expires_at: int, *, now: int) -> None:
        """Record the pair as ``done``; raise ReplayError if it was seen. Durable before return.

        ``expires_at`` is the last second the message could still be accepted (the
        envelope passes ``expires + clock_skew``); the pair is kept RETENTION_SLACK
        seconds longer.
        """


class MemoryReplayGuard:
    """An in-memory ReplayGuard (lost on restart; the KeyStore provides a durable one)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[bytes, bytes], tuple[str, bytes, int]] = {}
        self._lock = threading.Lock()
        self._earliest_done: int | None = None
        """Smallest ``expires_at`` of a ``done`` record: no scan before it is stale."""

    def __repr__(self) -> str:
        return f"MemoryReplayGuard(entries={len(self._seen)})"

    def lookup(self, sender_key_id: bytes, message_id: bytes) -> Lookup:
        """Return None, or the (state, digest) recorded for the pair."""
        with self._lock:
            entry = self._seen.get((bytes(sender_key_id), bytes(message_id)))
        return None if entry is None else (entry[0], entry[1])

    def seen(self, sender_key_id: bytes, message_id: bytes) -> bool:
        """Return True if the pair was recorded before (records nothing)."""
        return self.lookup(sender_key_id, message_id) is not None

    def accept(self, sender_key_id: bytes, message_id: bytes, expires_at: int, *, now: int) -> None:
        """Record the pair as ``done`` with no digest.

        Raises:
            ReplayError: this message id from this sender was already recorded.
        """
        self.commit_open(sender_key_id, message_id, b"", expires_at, hold=False, now=now)

    def commit_open(
        self,
        sender_key_id: bytes,
        message_id: bytes,
        digest: bytes,
        expires_at: int,
        *,
        hold: bool,
        now: int,
    ) -> None:
        """Record the pair as ``held`` (``hold=True``) or ``done``, with the payload digest.

        Raises:
            ReplayError: this message id from this sender was already recorded.
        """
        key = (bytes(sender_key_id), bytes(message_id))
        with self._lock:
            self._purge(now)
            if key in self._seen:
                raise errors.ReplayError("message was already accepted (replay)")
            self._seen[key] = (HELD if hold else DONE, bytes(digest), expires_at)
            if not hold:
                self._note_done(expires_at)

    def acknowledge(self, sender_key_id: bytes, message_id: bytes) -> bool:
        """Turn a ``held`` record ``done``; return True if it was held (False if done).

        Raises:
            KeyStoreError: no opened message with this sender and id is recorded.
        """
        key = (bytes(sender_key_id), bytes(message_id))
        with self._lock:
            entry = self._seen.get(key)
            if entry is None:
                raise errors.KeyStoreError(
                    "no opened message with this sender and id to acknowledge"
                )
            self._seen[key] = (DONE, entry[1], entry[2])
            self._note_done(entry[2])
            return entry[0] == HELD

    def _note_done(self, expires_at: int) -> None:
        if self._earliest_done is None or expires_at < self._earliest_done:
            self._earliest_done = expires_at

    def _purge(self, now: int) -> None:
        """Drop stale ``done`` records; a full scan only once one is stale (issue 18)."""
        cutoff = now - RETENTION_SLACK
        if self._earliest_done is None or self._earliest_done >= cutoff:
            return
        stale = [
            k for k, (state, _, expires) in self._seen.items() if state == DONE and expires < cutoff
        ]
        for key in stale:
            del self._seen[key]
        self._earliest_done = min(
            (expires for state, _, expires in self._seen.values() if state == DONE), default=None
        )
