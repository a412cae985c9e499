"""The key store's write protocol: every change under the store lock, on a fresh read.

A write takes the store lock (sealpack.keys.store_lock), re-reads ``identity.key``
(decrypting it only when another handle rewrote it) and applies what state.db says was
consumed, lets the change run on that state, and replaces the file atomically. These
are the PrekeyPersistence hooks ``Identity`` calls (keys/identity_core.py), implemented for
:class:`~sealpack.keys.KeyStore`, which inherits them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from sealpack import errors, primitives
from sealpack.keys import keyfile, store_files
from sealpack.keys.fsutil import atomic_write
from sealpack.keys.identity import Identity
from sealpack.keys.identity_state import snapshot
from sealpack.keys.opening import drop_in_memory
from sealpack.keys.secret import SymmetricKey
from sealpack.keys.state_db import PQ_OPK, StateDB
from sealpack.keys.store_files import KEY_FILE
from sealpack.keys.store_lock import StoreLock

__all__ = ["StoreWriter"]

_log = logging.getLogger(__name__)


class StoreWriter:
    """The lock-reread-write half of a KeyStore (attributes set by KeyStore.__init__)."""

    path: Path
    _identity: Identity
    _state: StateDB
    _file_key: SymmetricKey | None
    _params: keyfile.KdfParams | None
    _lock: StoreLock
    _rng: primitives.Rng | None
    _seen: bytes

    def _write(self) -> None:
        """Encrypt and atomically replace the key file (store lock held)."""
        data = keyfile.encode_keyfile(
            self._identity._state,
            self._file_key,
            self._params,
            held=self._identity._held,
            rng=self._rng,
        )
        atomic_write(self.path / KEY_FILE, data)
        self._seen = data

    def _reload(self) -> None:
        """Re-read the key file and state.db's consumption into the identity (lock held).

        When the key file is what this handle last read or wrote, only the consumption
        recorded in state.db is applied (no decryption).
        """
        data = store_files.read_bytes(self.path)
        identity = self._identity
        state, held = identity._state, identity._held
        if data != self._seen:
            loaded = store_files.read_keyfile(self.path, None, file_key=self._file_key, data=data)
            if (loaded.params is None) != (self._params is None):
                raise errors.KeyStoreError(
                    f"key store {self.path} changed its encryption (replaced?)"
                )
            if loaded.state.seed.public != identity._state.seed.public:
                raise errors.KeyStoreError(f"key store {self.path} now holds another identity")
            state, held = loaded.state, loaded.held
        identity._load_state(state, store_files.settle(state, held, self._state))
        self._seen = data

    def save(self) -> None:
        """Rewrite the key file from what is on disk now (under the lock; nothing is lost)."""
        with self._identity._lock, self._lock.hold():
            self._reload()
            self._write()

    def refresh(self) -> bool:
        """Re-read the key file if another handle rewrote it.

        Returns:
            True when it had changed (the identity now holds what is on disk).
        """
        with self._identity._lock:
            if store_files.read_bytes(self.path) == self._seen:
                return False
            with self._lock.hold():
                self._reload()
            return True

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """PrekeyPersistence hook: the lock held and the key file re-read around a change.

        A change that fails (its key file write included) is undone in memory before
        the error propagates, so no handle hands out a prekey that is on no disk.
        """
        outer = not self._lock.held
        with self._lock.hold():
            if outer:
                self._reload()
            identity = self._identity
            before = snapshot(identity._state), dict(identity._held)
            try:
                yield
            except BaseException:
                identity._load_state(*before)
                self._seen = b""  # re-read (decrypt) the key file at the next write
                raise

    def keys_changed(self) -> None:
        """PrekeyPersistence hook: write the key file (re-reading it first when not locked)."""
        if self._lock.held:
            self._write()
        else:
            self.save()

    def one_time_prekey_consumed(self, prekey_id: int) -> None:
        """Record the consumption durably (PrekeyError when already consumed)."""
        self._state.mark_consumed(prekey_id)

    def pq_one_time_prekey_consumed(self, prekey_id: int) -> None:
        """Record a PQ one-time prekey's consumption durably (PrekeyError when already)."""
        self._state.mark_consumed(prekey_id, PQ_OPK)

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
        """PrekeyPersistence hook behind ``Identity._commit_open`` (see keys/opening.py)."""
        with self._lock.hold():
            self._state.commit_open(
                sender_key_id,
                message_id,
                digest,
                expires_at,
                one_time_prekey_id=one_time_prekey_id,
                pq_one_time_prekey_id=pq_one_time_prekey_id,
                hold=hold,
                now=now,
            )
            if one_time_prekey_id is not None or pq_one_time_prekey_id is not None:
                self._rewrite_after_commit(one_time_prekey_id, pq_one_time_prekey_id, hold)

    def _rewrite_after_commit(self, opk: int | None, pq_opk: int | None, hold: bool) -> None:
        """Rewrite the key file after a state.db commit: best effort, never raises.

        state.db is authoritative (every read of the key file drops what it lists as
        consumed), so a failed rewrite loses nothing: the committed message is still
        delivered, the prekeys are dropped (or held) in memory, and the key file is
        re-read and rewritten at the next write.
        """
        try:
            self._reload()
            self._write()
        except Exception as error:  # the commit stands whatever happened
            self._seen = b""
            _log.warning(
                "key store %s: the key file rewrite after a commit failed (%s: %s); "
                "state.db holds the commit, the file is rewritten at the next write",
                self.path,
                type(error).__name__,
                error,
            )
            drop_in_memory(self._identity, opk, pq_opk, hold=hold)

    def acknowledge(self, sender_key_id: bytes, message_id: bytes) -> None:
        """Mark an opened message done and delete its held one-time prekeys, durably.

        Idempotent: acknowledging a message already done changes nothing. The key file
        rewrite that deletes the private keys is best effort once state.db committed.

        Raises:
            KeyStoreError: no opened message with this sender and message id is recorded.
        """
        with self._identity._lock, self._lock.hold():
            used = self._state.acknowledge(bytes(sender_key_id), bytes(message_id))
            if used != (None, None):
                self._rewrite_after_commit(*used, hold=False)
