"""What every part of an Identity shares: its state, lock, caches and KeyStore hooks.

:class:`~sealpack.keys.identity.Identity` is the one public class; it is assembled from
this base, the prekey management (keys/identity_prekeys.py) and the recipient side
(keys/identity_recipient.py). A KeyStore installs a :class:`PrekeyPersistence` on the
identity it holds (keys/store_writer.py implements it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Protocol

from sealpack.keys import opening
from sealpack.keys.arguments import require_now
from sealpack.keys.bundle import KeyBundle
from sealpack.keys.identity_state import IdentityState
from sealpack.keys.prekey_usage import MemoryPrekeyUsage, PrekeyUsage
from sealpack.keys.replay import MemoryReplayGuard, ReplayGuard

__all__ = ["IdentityCore", "PrekeyPersistence", "current_time"]


class PrekeyPersistence(Protocol):
    """Durability hooks a KeyStore installs on the identity it holds."""

    def one_time_prekey_consumed(self, prekey_id: int) -> None:
        """Record durably that ``prekey_id`` was used; PrekeyError if it already was."""

    def pq_one_time_prekey_consumed(self, prekey_id: int) -> None:
        """Record durably that PQ one-time prekey ``prekey_id`` was used (PrekeyError if it was)."""

    def keys_changed(self) -> None:
        """Rewrite the private key file after a change."""

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Hold the store lock and re-read the key file; the change runs inside."""

    def refresh(self) -> bool:
        """Re-read the key file if another handle rewrote it; True if it did."""

    def commit_open(
        self,
        sender_key_id: bytes,
        message_id: bytes,
        digest: bytes,
        expires_at: int,
        *,
        one_time_prekey_id: int | None,
        pq_one_time_prekey_id: int | None,
        hold: bool,
        now: int,
    ) -> None:
        """Record the opened message and consume its one-time prekeys (one transaction)."""

    def acknowledge(self, sender_key_id: bytes, message_id: bytes) -> None:
        """Turn a held message done and delete its one-time prekeys."""


def current_time(now: int | None) -> int:
    """Return ``now`` checked, or the wall clock (seconds since the epoch) when None.

    Raises:
        KeyStoreError: ``now`` out of range. SealArgumentError: not an int.
    """
    checked = require_now(now)
    return int(time.time()) if checked is None else checked


class IdentityCore:
    """The state of an identity behind its lock, with the bundle cache and store hooks."""

    def __init__(self, state: IdentityState) -> None:
        self.name = state.name
        self._state = state
        self._lock = threading.RLock()
        self._bundle: KeyBundle | None = None
        self._signatures: dict[bytes, bytes] = {}
        self._persistence: PrekeyPersistence | None = None
        self._held: opening.HeldPrekeys = {}
        self._held_by: dict[tuple[bytes, bytes], tuple[int | None, int | None]] = {}
        self.replay_guard: ReplayGuard = MemoryReplayGuard()
        self.prekey_usage: PrekeyUsage = MemoryPrekeyUsage()

    def _changed(self) -> None:
        self._bundle = None
        if self._persistence is not None:
            self._persistence.keys_changed()

    @contextlib.contextmanager
    def _mutating(self) -> Iterator[None]:
        """Identity lock, then (in a KeyStore) the store lock with the key file re-read."""
        with self._lock:
            if self._persistence is None:
                yield
            else:
                with self._persistence.writing():
                    yield

    def _load_state(self, state: IdentityState, held: opening.HeldPrekeys) -> None:
        """Replace the private state with the one the KeyStore read (caches dropped)."""
        with self._lock:
            self._state = state
            self._held = held
            self._bundle = None

    def _refreshed(self) -> bool:
        """Ask the KeyStore to re-read a key file another handle rewrote (True if it did)."""
        return self._persistence is not None and self._persistence.refresh()

    def _attach(
        self,
        persistence: PrekeyPersistence,
        replay_guard: ReplayGuard,
        prekey_usage: PrekeyUsage,
    ) -> None:
        self._persistence = persistence
        self._bundle = None
        self.replay_guard = replay_guard
        self.prekey_usage = prekey_usage
