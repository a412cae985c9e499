"""KeyStore: one identity's private keys and mutable state in a private directory.

Layout (directory mode 0700, files 0600)::

    <dir>/identity.key   private keys (see sealpack.keys.keyfile), replaced atomically
    <dir>/state.db       SQLite: consumed one-time prekeys, seen message ids, pins

The identity, its file key and verified bundles are cached in memory after open; the
hot path only writes (durably) when a one-time prekey or a message id is consumed.
A store has a single writer process at a time.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path
from types import TracebackType

from sealpack import errors, primitives
from sealpack.keys import keyfile
from sealpack.keys.arguments import require_int, require_now, require_path
from sealpack.keys.fsutil import atomic_write, create_private_file, ensure_private_dir
from sealpack.keys.identity import Identity
from sealpack.keys.replay import ReplayGuard
from sealpack.keys.secret import SymmetricKey
from sealpack.keys.state_db import StateDB
from sealpack.keys.trust import TrustStore

__all__ = ["DEFAULT_SCRYPT_N", "KEY_FILE", "STATE_FILE", "KeyStore"]

KEY_FILE = "identity.key"
STATE_FILE = "state.db"
DEFAULT_SCRYPT_N = 2**15
UNENCRYPTED_WARNING = (
    "sealpack key store {path} holds private keys UNENCRYPTED on disk; "
    "anyone who can read the directory can impersonate this identity"
)


ROTATE_WARNING_FRACTION = 0.2
"""Warn on open when the current signed prekey is in the last 20% of its lifetime."""


def _warn_unencrypted(path: Path, stacklevel: int = 3) -> None:
    warnings.warn(UNENCRYPTED_WARNING.format(path=path), UserWarning, stacklevel=stacklevel)


def _warn_if_signed_prekey_ages(path: Path, identity: Identity, now: int) -> None:
    """Warn when the current signed prekey has expired or is close to expiring."""
    state = identity._state
    spk = state.signed_prekeys[state.current_signed_prekey_id]
    lifetime = spk.expires - spk.created
    if now >= spk.expires:
        what = "has EXPIRED: peers can no longer seal to this identity's bundle"
    elif now >= spk.expires - lifetime * ROTATE_WARNING_FRACTION:
        what = f"expires in {(spk.expires - now) // 3600} hour(s)"
    else:
        return
    warnings.warn(
        f"the signed prekey of key store {path} {what}; run `sealpack prekeys rotate` "
        "and publish the new bundle",
        UserWarning,
        stacklevel=3,
    )


class KeyStore:
    """A directory holding one identity; obtain with :meth:`create` or :meth:`open`."""

    def __init__(
        self,
        path: Path,
        identity: Identity,
        state: StateDB,
        file_key: SymmetricKey | None,
        params: keyfile.KdfParams | None,
    ) -> None:
        self.path = path
        self._identity = identity
        self._state = state
        self._file_key = file_key
        self._params = params
        self.trust_store = TrustStore(state)
        identity._attach(self, state, state)

    def __repr__(self) -> str:
        return f"KeyStore(path={str(self.path)!r}, identity={self._identity.name!r})"

    @property
    def identity(self) -> Identity:
        """The identity, with durable OPK consumption and a durable replay guard."""
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
    ) -> KeyStore:
        """Write a new key store for ``identity`` and attach it.

        Args:
            path: the directory (created 0700; must not already hold a store).
            identity: a fresh identity not yet in a store.
            passphrase: encrypts the private keys (scrypt -> AES-256-GCM).
            unencrypted: store the keys in the clear instead (warns loudly).
            scrypt_n: scrypt cost (power of two, 2**10..2**22).
            rng: randomness for the salt and nonces.

        Returns:
            The open key store.

        Raises:
            KeyStoreError: bad arguments, a store already there, or an I/O failure.
        """
        directory = require_path(path, "path")
        require_int(scrypt_n, "scrypt_n")
        cls._check_create_args(identity, passphrase, unencrypted)
        if passphrase is None:
            _warn_unencrypted(directory)
        file_key, params = _new_file_key(passphrase, scrypt_n, rng)
        _prepare_new_store_dir(directory)
        store = cls(directory, identity, StateDB(directory / STATE_FILE), file_key, params)
        store._rng = rng
        store.save()
        return store

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
        cls, path: str | Path, *, passphrase: bytes | None, now: int | None = None
    ) -> KeyStore:
        """Open an existing key store, purge retired signed prekeys, warn when rotation is due.

        Signed prekeys whose grace period ended are deleted (``purge_expired``). A
        ``UserWarning`` naming ``sealpack prekeys rotate`` is emitted when the current
        signed prekey has expired or is in the last 20% of its lifetime.

        Args:
            path: the key store directory.
            passphrase: the passphrase (None for an unencrypted store).
            now: seconds since the epoch (default: the system clock).

        Returns:
            The open key store.

        Raises:
            WrongPassphraseError: the passphrase does not decrypt the keys.
            KeyStoreError: no store there, or it is corrupt.
            SealArgumentError: an argument of the wrong type.
        """
        directory = require_path(path, "path")
        current = require_now(now)
        current = int(time.time()) if current is None else current
        if passphrase is not None and not isinstance(passphrase, bytes):
            raise errors.SealArgumentError("passphrase must be bytes or None")
        store = cls._load(directory, passphrase)
        try:
            store._identity.purge_expired(now=current)
        except BaseException:
            store.close()
            raise
        _warn_if_signed_prekey_ages(directory, store._identity, current)
        return store

    @classmethod
    def _load(cls, directory: Path, passphrase: bytes | None) -> KeyStore:
        """Read the key file and the state database into an open store."""
        try:
            data = (directory / KEY_FILE).read_bytes()
        except OSError as error:
            raise errors.KeyStoreError(f"no key store at {directory}: {error.strerror}") from None
        _remove_stale_temps(directory)
        document, params = keyfile.read_header(data)
        file_key = None
        if params is None:
            _warn_unencrypted(directory, stacklevel=4)
        elif passphrase is not None:
            file_key = keyfile.derive_file_key(passphrase, params)
        if not (directory / STATE_FILE).exists():
            create_private_file(directory / STATE_FILE)
        state_db = StateDB(directory / STATE_FILE)
        try:
            state = keyfile.decode_keyfile(
                document, file_key, params, state_db.consumed_one_time_prekeys()
            )
        except BaseException:
            state_db.close()
            raise
        return cls(directory, Identity(state), state_db, file_key, params)

    _rng: primitives.Rng | None = None

    def save(self) -> None:
        """Rewrite the private key file atomically from the in-memory identity."""
        data = keyfile.encode_keyfile(
            self._identity._state, self._file_key, self._params, rng=self._rng
        )
        atomic_write(self.path / KEY_FILE, data)

    # --- PrekeyPersistence hooks ------------------------------------------------------

    def one_time_prekey_consumed(self, prekey_id: int) -> None:
        """Record the consumption durably (PrekeyError when already consumed)."""
        self._state.mark_consumed(prekey_id)

    def keys_changed(self) -> None:
        """Rewrite the key file after a rotation, replenishment or consumption."""
        self.save()

    def close(self) -> None:
        """Close the state database."""
        self._state.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _new_file_key(
    passphrase: bytes | None, scrypt_n: int, rng: primitives.Rng | None
) -> tuple[SymmetricKey | None, keyfile.KdfParams | None]:
    """A fresh scrypt salt and the file key it gives, or (None, None) when unencrypted."""
    if passphrase is None:
        return None, None
    params = keyfile.KdfParams(primitives.random_bytes(16, rng=rng), scrypt_n)
    return keyfile.derive_file_key(passphrase, params), params


def _prepare_new_store_dir(directory: Path) -> None:
    """Create the 0700 directory and an empty 0600 state file; refuse an existing store."""
    ensure_private_dir(directory)
    if (directory / KEY_FILE).exists():
        raise errors.KeyStoreError(f"{directory} already holds a key store")
    # A state file without a key file is left over from an interrupted create.
    with contextlib.suppress(FileNotFoundError):
        (directory / STATE_FILE).unlink()
    create_private_file(directory / STATE_FILE)


def _remove_stale_temps(directory: Path) -> None:
    for temp in directory.glob(f".{KEY_FILE}.*.tmp"):
        with contextlib.suppress(OSError):
            temp.unlink()
