"""KeyStore: one identity's private keys and mutable state in a private directory.

Layout (directory mode 0700, files 0600)::

    <dir>/identity.key   private keys (see sealpack.keys.keyfile), replaced atomically
    <dir>/state.db       SQLite, every row authenticated: consumed one-time prekeys,
                         replay memory, pins, peers' one-time prekeys used (state_db)
    <dir>/.lock          the store lock (sealpack.keys.store_lock)

Many handles (threads, processes) may hold one store open at once. Every write takes
the store lock, re-reads the key file, applies its change to what it read, and writes
atomically, so no handle loses another's write or writes a consumed key back. A handle
re-reads the key file when it misses a prekey another handle created (a rotation).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from sealpack import errors, primitives
from sealpack.keys import store_files
from sealpack.keys.arguments import require_bytes, require_int, require_path
from sealpack.keys.fsutil import create_private_file, ensure_private_dir
from sealpack.keys.identity import Identity
from sealpack.keys.identity_core import current_time
from sealpack.keys.replay import ReplayGuard
from sealpack.keys.secret import RefusesExport, SymmetricKey
from sealpack.keys.state_db import StateDB
from sealpack.keys.store_files import KEY_FILE, STATE_FILE, KeyFile
from sealpack.keys.store_lock import DEFAULT_LOCK_TIMEOUT, LOCK_FILE, StoreLock
from sealpack.keys.store_warnings import warn_if_signed_prekey_ages, warn_unencrypted
from sealpack.keys.store_writer import StoreWriter
from sealpack.keys.trust import TrustStore

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_SCRYPT_N",
    "KEY_FILE",
    "LOCK_FILE",
    "STATE_FILE",
    "KeyStore",
]

DEFAULT_SCRYPT_N = 2**17
"""scrypt N for new stores (r=8, p=1: 128 MiB per guess, the OWASP minimum); keys.md section 6.4."""


class KeyStore(StoreWriter, RefusesExport):
    """A directory holding one identity; obtain with :meth:`create` or :meth:`open`.

    Not picklable or copyable (``PrivateKeyExportError``): a copy would be a second
    handle sharing the file key; open the directory again instead.
    """

    _export_refusal = "a KeyStore cannot be pickled or copied; open its directory again"

    def __init__(
        self,
        path: Path,
        identity: Identity,
        loaded: KeyFile,
        state: StateDB,
        lock: StoreLock,
        rng: primitives.Rng | None,
    ) -> None:
        self.path = path
        self._state = state
        self._file_key: SymmetricKey | None = loaded.file_key
        self._params = loaded.params
        self._lock = lock
        self._rng = rng
        self._seen = loaded.data
        self._identity = identity
        held = store_files.settle(loaded.state, loaded.held, state)
        identity._load_state(loaded.state, held)
        self.trust_store = TrustStore(state)
        identity._attach(self, state, state)

    def __repr__(self) -> str:
        return f"KeyStore(path={str(self.path)!r}, identity={self._identity.name!r})"

    @property
    def identity(self) -> Identity:
        """The identity this store holds.

        Its prekey changes (rotate, replenish, purge) are written under the store lock,
        its replay guard (``replay_guard``) and one-time prekey use (``prekey_usage``)
        live in state.db, and a message it opens is committed here (``_commit_open``).
        """
        return self._identity

    @property
    def replay_guard(self) -> ReplayGuard:
        """The durable (SQLite) replay guard."""
        return self._state

    @property
    def encrypted(self) -> bool:
        """True when the private keys are encrypted at rest."""
        return self._params is not None

    @classmethod
    def create(
        cls,
        path: str | Path,
        identity: Identity,
        *,
        passphrase: bytes | None,
        unencrypted: bool = False,
        scrypt_n: int = DEFAULT_SCRYPT_N,
        rng: primitives.Rng | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> KeyStore:
        """Write a new key store (format version 2) for ``identity`` and return it open.

        Args:
            path: the directory (created 0700; must not already hold a store).
            identity: a fresh identity not yet in a store; it is attached to the store
                (its changes are written there; ``store.identity`` is the same object).
            passphrase: encrypts the private keys (scrypt -> AES-256-GCM).
            unencrypted: store the keys in the clear instead (warns loudly).
            scrypt_n: scrypt cost N (a power of two in 2**10..2**22; r=8, p=1).
            rng: randomness for the salt and the nonces of every later rewrite.
            lock_timeout: seconds a write waits for another handle's lock.

        Returns:
            The open key store.

        Raises:
            KeyStoreError: bad arguments, a store already there, or an I/O failure.
            KeyStoreLockedError: another handle holds the lock of ``path``.
        """
        directory = require_path(path, "path")
        require_int(scrypt_n, "scrypt_n")
        cls._check_create_args(identity, passphrase, unencrypted)
        if passphrase is None:
            warn_unencrypted(directory)
        params, file_key = store_files.new_file_key(passphrase, scrypt_n, rng)
        ensure_private_dir(directory)
        lock = StoreLock(directory, _timeout(lock_timeout))
        with lock.hold():
            loaded, state = store_files.write_new(directory, identity._state, file_key, params, rng)
        return cls(directory, identity, loaded, state, lock, rng)

    @staticmethod
    def _check_create_args(identity: Identity, passphrase: bytes | None, unencrypted: bool) -> None:
        if not isinstance(identity, Identity) or identity._persistence is not None:
            raise errors.KeyStoreError("identity must be a fresh Identity not yet in a key store")
        if passphrase is None and not unencrypted:
            raise errors.KeyStoreError("a passphrase is required (or pass unencrypted=True)")
        if passphrase is not None and unencrypted:
            raise errors.KeyStoreError("give either a passphrase or unencrypted=True, not both")
        if passphrase is not None and (not isinstance(passphrase, bytes) or not passphrase):
            raise errors.KeyStoreError("passphrase must be non-empty bytes")

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        passphrase: bytes | None,
        now: int | None = None,
        rng: primitives.Rng | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> KeyStore:
        """Open a key store: verify state.db, migrate version 1, purge retired prekeys.

        Every state.db row is checked against its tag. A version-1 store is migrated
        in place (keys.md section 6). Signed prekeys whose grace period ended are
        deleted; a ``UserWarning`` naming ``sealpack prekeys rotate`` is emitted when
        the current signed prekey has expired or is in the last 20% of its lifetime.
        One handle may stay open for a process's lifetime (the lock is held per write).

        Args:
            path: the key store directory.
            passphrase: the passphrase (None, and only None, for an unencrypted store).
            now: seconds since the epoch (default: the system clock).
            rng: randomness for nonces and for what a migration generates.
            lock_timeout: seconds a write waits for another handle's lock.

        Returns:
            The open key store (close it, or use it as a context manager).

        Raises:
            WrongPassphraseError: the passphrase does not decrypt the keys.
            KeyStoreError: no store there, it is corrupt, state.db was tampered with, or a
                passphrase was given for an unencrypted store.
            KeyStoreLockedError: another handle held the lock longer than ``lock_timeout``.
            SealArgumentError: an argument of the wrong type.
        """
        directory = require_path(path, "path")
        current = current_time(now)
        if passphrase is not None:
            require_bytes(passphrase, "passphrase")
        file_key = store_files.file_key_for(directory, passphrase)  # scrypt, lock not held
        lock = StoreLock(directory, _timeout(lock_timeout))
        with lock.hold():
            store = cls._load(directory, passphrase, file_key, lock, rng, current)
            try:
                store._identity.purge_expired(now=current)
            except BaseException:
                store.close()
                raise
        warn_if_signed_prekey_ages(directory, store._identity, current)
        return store

    @classmethod
    def _load(
        cls,
        directory: Path,
        passphrase: bytes | None,
        file_key: SymmetricKey | None,
        lock: StoreLock,
        rng: primitives.Rng | None,
        now: int,
    ) -> KeyStore:
        """Read the key file and state.db (lock held); migrate a version-1 store."""
        loaded = store_files.read_keyfile(directory, passphrase, file_key=file_key)
        store_files.remove_stale_temps(directory)
        if loaded.params is None:
            warn_unencrypted(directory, stacklevel=5)
        if not (directory / STATE_FILE).exists():
            if loaded.version != 1:
                raise errors.KeyStoreError(f"key store {directory} lost its state.db (deleted?)")
            create_private_file(directory / STATE_FILE)
        state = StateDB(directory / STATE_FILE, store_files.state_mac(loaded))
        try:
            if loaded.version == 1:
                state.initialize()
            else:
                state.verify()
            store = cls(directory, Identity(loaded.state), loaded, state, lock, rng)
        except BaseException:
            state.close()
            raise
        if loaded.version == 1:
            store._migrate(now)
        return store

    def _migrate(self, now: int) -> None:
        """Finish a version-1 store: add the PQ prekey, write the version-2 key file."""
        identity, persistence = self._identity, self._identity._persistence
        identity._persistence = None
        try:
            identity.enable_post_quantum(rng=self._rng, now=now)
        finally:
            identity._persistence = persistence
        self._write()

    def _subkey(self, info: bytes) -> SymmetricKey:
        """An AES-256-GCM key HKDF(file key, info) for state kept beside the store
        (sessions: ``"sealpack/v2/session-state"``); unencrypted: from the seed."""
        if self._file_key is not None:
            ikm = self._file_key._raw()
        else:
            seed = self._identity._state.seed._raw()
            ikm = primitives.sha256(b"sealpack/v2/unencrypted\x00" + seed)
        return SymmetricKey(primitives.hkdf_sha256(ikm, salt=bytes(32), info=info, length=32))

    def verify_state(self) -> None:
        """Check every state.db row and table count (KeyStoreError on tampering)."""
        self._state.verify()

    def close(self) -> None:
        """Close state.db (the key file needs no closing; the lock is held only per write)."""
        self._state.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _timeout(value: object) -> float:
    """``lock_timeout`` as a float of seconds >= 0 (SealArgumentError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise errors.SealArgumentError("lock_timeout must be a number of seconds >= 0")
    return float(value)
