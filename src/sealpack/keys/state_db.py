"""The key store's SQLite database: consumed one-time prekeys, seen message ids, pins,
and the peers' one-time prekeys this identity used when sealing.

Every write commits (``synchronous=FULL``) before the call returns, so the state is
durable; SQLite's journal makes each write all-or-nothing across crashes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from sealpack import errors
from sealpack.keys.prekey_usage import first_unused
from sealpack.keys.replay import RETENTION_SLACK

__all__ = ["StateDB"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS consumed_one_time_prekeys (id INTEGER PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS seen_messages (sender BLOB NOT NULL, message_id BLOB NOT NULL,"
    " expires_at INTEGER NOT NULL, PRIMARY KEY (sender, message_id))",
    "CREATE TABLE IF NOT EXISTS pins (name TEXT PRIMARY KEY, identity_key BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS used_peer_one_time_prekeys (recipient BLOB NOT NULL,"
    " id INTEGER NOT NULL, PRIMARY KEY (recipient, id))",
)


class StateDB:
    """One SQLite connection, serialized by a lock; a ReplayGuard, PinBackend, PrekeyUsage."""

    def __init__(self, path: Path) -> None:
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as error:
            raise errors.KeyStoreError(f"cannot open key store state {path}: {error}") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute(sql, params)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as error:
                raise errors.KeyStoreError(f"key store state write failed: {error}") from None

    # --- one-time prekeys -----------------------------------------------------------

    def consumed_one_time_prekeys(self) -> set[int]:
        """Return the ids of every one-time prekey ever consumed."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM consumed_one_time_prekeys").fetchall()
        return {int(row[0]) for row in rows}

    def mark_consumed(self, prekey_id: int) -> None:
        """Record a consumed one-time prekey; PrekeyError if it was already consumed."""
        try:
            self._write("INSERT INTO consumed_one_time_prekeys (id) VALUES (?)", (prekey_id,))
        except sqlite3.IntegrityError:
            raise errors.PrekeyError(f"one-time prekey {prekey_id} was already used") from None

    # --- PrekeyUsage (peers' one-time prekeys used when sealing) -----------------------

    def take(self, recipient_identity_key: bytes, candidate_ids: Sequence[int]) -> int | None:
        """Return the first of ``candidate_ids`` not used for this recipient, marked used.

        The look-up and the insert run in one ``BEGIN IMMEDIATE`` transaction, so two
        processes sharing the store never take the same id; the mark is committed
        (``synchronous=FULL``) before the id is returned.
        """
        recipient = bytes(recipient_identity_key)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    chosen = self._take_locked(recipient, candidate_ids)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                raise errors.KeyStoreError(f"key store state write failed: {error}") from None
        return chosen

    def _take_locked(self, recipient: bytes, candidate_ids: Sequence[int]) -> int | None:
        rows = self._db.execute(
            "SELECT id FROM used_peer_one_time_prekeys WHERE recipient = ?", (recipient,)
        ).fetchall()
        chosen = first_unused(candidate_ids, {int(row[0]) for row in rows})
        if chosen is not None:
            self._db.execute(
                "INSERT INTO used_peer_one_time_prekeys (recipient, id) VALUES (?, ?)",
                (recipient, chosen),
            )
        return chosen

    # --- ReplayGuard ------------------------------------------------------------------

    def seen(self, sender_key_id: bytes, message_id: bytes) -> bool:
        """Return True if this sender's message id was accepted before (records nothing)."""
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT 1 FROM seen_messages WHERE sender = ? AND message_id = ?",
                    (bytes(sender_key_id), bytes(message_id)),
                ).fetchone()
            except sqlite3.Error as error:
                raise errors.KeyStoreError(f"key store state read failed: {error}") from None
        return row is not None

    def accept(self, sender_key_id: bytes, message_id: bytes, expires_at: int, *, now: int) -> None:
        """Record a message id durably; ReplayError if this sender's id was seen."""
        with self._lock:
            try:
                self._db.execute(
                    "DELETE FROM seen_messages WHERE expires_at < ?", (now - RETENTION_SLACK,)
                )
            except sqlite3.Error as error:
                raise errors.KeyStoreError(f"key store state write failed: {error}") from None
        try:
            self._write(
                "INSERT INTO seen_messages (sender, message_id, expires_at) VALUES (?, ?, ?)",
                (bytes(sender_key_id), bytes(message_id), expires_at),
            )
        except sqlite3.IntegrityError:
            raise errors.ReplayError("message was already accepted (replay)") from None

    # --- PinBackend ---------------------------------------------------------------------

    def get_pin(self, name: str) -> bytes | None:
        """Return the pinned identity key of ``name``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT identity_key FROM pins WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def set_pin(self, name: str, identity_key: bytes) -> None:
        """Pin ``name`` to ``identity_key``, durably."""
        self._write(
            "INSERT OR REPLACE INTO pins (name, identity_key) VALUES (?, ?)",
            (name, bytes(identity_key)),
        )

    def pinned_names(self) -> list[str]:
        """Return every pinned name, sorted."""
        with self._lock:
            rows = self._db.execute("SELECT name FROM pins ORDER BY name").fetchall()
        return [str(row[0]) for row in rows]
