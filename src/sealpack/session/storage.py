"""Where session states live (session.md section 6).

In a key store: ``<store>/sessions/<peer key id hex>.session`` (0600, directory 0700),
``MAGIC || nonce (12) || AES-256-GCM(K, msgpack states, aad = MAGIC || peer key id)``
with ``K = HKDF-SHA256(file key, salt = 0x00*32, info = "sealpack/v2/session-state")``.
Every operation holds the key store's lock from reading the file to writing it back
(temp + fsync + rename), so two handles or processes never fork a session, and a
receive is persisted before its plaintext is returned.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sealpack import errors, primitives
from sealpack.keys.fingerprint import key_id
from sealpack.keys.fsutil import atomic_write, ensure_private_dir
from sealpack.keys.keystore import KeyStore
from sealpack.session.ratchet import RatchetState
from sealpack.session.state_codec import decode_states, encode_states

__all__ = ["STATE_INFO", "MemoryStorage", "SessionStorage", "StoreStorage"]

STATE_INFO = b"sealpack/v2/session-state"
MAGIC = b"SEALSST\x02"
SESSIONS_DIR = "sessions"


class SessionStorage(Protocol):
    """Holds the session states with each peer; ``transaction`` commits on success."""

    def transaction(self, peer_ik: bytes) -> contextlib.AbstractContextManager[list[RatchetState]]:
        """Yield the peer's states (newest first); written back when the block succeeds."""


class MemoryStorage:
    """States in memory, for one process's lifetime (an Identity without a key store)."""

    def __init__(self) -> None:
        self._states: dict[bytes, list[RatchetState]] = {}
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStorage(peers={len(self._states)})"

    def transaction(self, peer_ik: bytes) -> _MemoryTransaction:
        """A context manager giving a working list; it replaces the stored one only if
        the block succeeds.

        Callers replace a state they change by a changed copy (never change it in place),
        so a shallow copy of the list is enough; one thread at a time (no fork).
        """
        return _MemoryTransaction(self, peer_ik)


class _MemoryTransaction:
    """MemoryStorage.transaction as a plain context manager (a generator-based one costs
    more than the rest of the bookkeeping of a message)."""

    __slots__ = ("_peer", "_storage", "_working")

    def __init__(self, storage: MemoryStorage, peer_ik: bytes) -> None:
        self._storage, self._peer = storage, peer_ik
        self._working: list[RatchetState] = []

    def __enter__(self) -> list[RatchetState]:
        self._storage._mutex.acquire()
        self._working = list(self._storage._states.get(self._peer, ()))  # cannot fail
        return self._working

    def __exit__(self, kind: object, value: object, trace: object) -> None:
        try:
            if kind is None:
                self._storage._states[self._peer] = self._working
        finally:
            self._storage._mutex.release()


class StoreStorage:
    """States in encrypted files of a key store, changed under its lock."""

    def __init__(self, store: KeyStore, *, rng: primitives.Rng | None = None) -> None:
        self._store = store
        self._key = store._subkey(STATE_INFO)
        self._rng = rng
        self.directory = store.path / SESSIONS_DIR
        self._directory_ready = False

    def __repr__(self) -> str:
        return f"StoreStorage(directory={str(self.directory)!r})"

    def path_for(self, peer_ik: bytes) -> Path:
        """The session file of one peer."""
        return self.directory / f"{key_id(peer_ik).hex()}.session"

    @contextlib.contextmanager
    def transaction(self, peer_ik: bytes) -> Iterator[list[RatchetState]]:
        """Hold the store lock, read the peer's states, write them back on success.

        Raises:
            KeyStoreError: the file was altered or cannot be written.
            KeyStoreLockedError: another handle holds the lock too long.
        """
        path = self.path_for(peer_ik)
        aad = MAGIC + key_id(peer_ik)
        with self._store._lock.hold():
            plain = self._read(path, aad)
            states = decode_states(plain) if plain else []
            yield states
            new = encode_states(states)
            if new == plain or (not plain and not states):
                return  # nothing changed: nothing to write
            # made 0700 when missing; the mode checked once per handle (chmod is a
            # journaled metadata write, and waits for the disk when others fsync)
            if not self._directory_ready or not self.directory.is_dir():
                ensure_private_dir(self.directory)
                self._directory_ready = True
            atomic_write(path, MAGIC + self._key.encrypt(new, aad, rng=self._rng))

    def _read(self, path: Path, aad: bytes) -> bytes:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return b""
        except OSError as error:
            raise errors.KeyStoreError(f"cannot read {path}: {error.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        if not data.startswith(MAGIC):
            raise errors.KeyStoreError(f"{path} is not a sealpack session file")
        try:
            return self._key.decrypt(data[len(MAGIC) :], aad)
        except errors.TamperedError:
            raise errors.KeyStoreError(
                f"{path} fails authentication (altered, or from another store or peer)"
            ) from None
