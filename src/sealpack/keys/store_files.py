"""Reading a key store's files into memory: the key file, its keys, and what state.db
says was consumed; and writing both files of a new store (used by sealpack.keys.keystore,
always under the store lock, except the scrypt of :func:`new_file_key`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from sealpack import errors, primitives
from sealpack.keys import keyfile
from sealpack.keys.fsutil import atomic_write, create_private_file
from sealpack.keys.identity_state import IdentityState
from sealpack.keys.opening import OPK, PQ_OPK, HeldPrekeys
from sealpack.keys.secret import SymmetricKey, export_raw
from sealpack.keys.state_db import StateDB
from sealpack.keys.state_mac import StateMac
from sealpack.regular_files import NotRegularFileError, read_regular_file

__all__ = [
    "KEY_FILE",
    "MAX_KEY_FILE",
    "STATE_FILE",
    "KeyFile",
    "file_key_for",
    "new_file_key",
    "read_bytes",
    "read_keyfile",
    "remove_stale_temps",
    "settle",
    "state_mac",
    "write_new",
]

KEY_FILE = "identity.key"
MAX_KEY_FILE = 32 * 2**20
"""The largest key file read (10000 one-time and 1000 PQ one-time prekeys take ~3 MB)."""
STATE_FILE = "state.db"
UNENCRYPTED_REFUSAL = (
    'key store {path} is stored UNENCRYPTED ("encryption": "none") but a passphrase was '
    "given: refusing to use it (the key file may have been replaced); open it with "
    "passphrase=None only if you created it unencrypted"
)


@dataclass
class KeyFile:
    """One read of ``identity.key``: its bytes, version, keys and file key."""

    data: bytes = field(repr=False)  # private keys in clear for an unencrypted store
    version: int
    params: keyfile.KdfParams | None
    file_key: SymmetricKey | None
    state: IdentityState
    held: HeldPrekeys


def read_bytes(directory: Path) -> bytes:
    """The key file's bytes, at most MAX_KEY_FILE of them.

    Read with :func:`sealpack.regular_files.read_regular_file` without following a
    symlink, so a symlink, FIFO, device or directory planted at ``identity.key`` is
    refused at once, and a huge file is not read whole.

    Raises:
        KeyStoreError: missing, not a regular file, too large, or unreadable.
    """
    path = directory / KEY_FILE
    try:
        return read_regular_file(path, limit=MAX_KEY_FILE, follow_symlinks=False)
    except NotRegularFileError as error:
        raise errors.KeyStoreError(f"{error} (replaced?)") from None
    except OSError as error:
        raise errors.KeyStoreError(f"no key store at {directory}: {error.strerror}") from None


def file_key_for(directory: Path, passphrase: bytes | None) -> SymmetricKey | None:
    """Derive the file key from the key file's KDF parameters (None: no passphrase given).

    Runs scrypt, so callers do it before taking the store lock (the parameters of a
    store never change).

    Raises:
        KeyStoreError: the key file is missing or corrupt.
    """
    _, params = keyfile.read_header(read_bytes(directory))
    if params is None or passphrase is None:
        return None
    return keyfile.derive_file_key(passphrase, params)


def read_keyfile(
    directory: Path,
    passphrase: bytes | None,
    *,
    file_key: SymmetricKey | None = None,
    data: bytes | None = None,
) -> KeyFile:
    """Read and decrypt the key file (scrypt runs only when ``file_key`` is not given).

    Raises:
        WrongPassphraseError: the passphrase (or file key) does not decrypt it.
        KeyStoreError: missing, corrupt, or unencrypted while a passphrase was given.
        UnsupportedVersionError: an unknown key file version.
    """
    raw = read_bytes(directory) if data is None else data
    document, params = keyfile.read_header(raw)
    if params is None and passphrase is not None:
        raise errors.KeyStoreError(UNENCRYPTED_REFUSAL.format(path=directory))
    if params is not None and file_key is None and passphrase is not None:
        file_key = keyfile.derive_file_key(passphrase, params)
    state, held = keyfile.decode_keyfile(document, file_key, params)
    return KeyFile(raw, int(document["version"]), params, file_key, state, held)


def state_mac(loaded: KeyFile) -> StateMac:
    """K_state of this store: from the file key, or (unencrypted) from the identity seed."""
    if loaded.file_key is not None:
        return StateMac.derive(loaded.file_key._raw(), encrypted=True)
    return StateMac.derive(export_raw(loaded.state.seed), encrypted=False)


def settle(state: IdentityState, held: HeldPrekeys, db: StateDB) -> HeldPrekeys:
    """Drop consumed one-time prekeys from ``state``; return the ones still held.

    A consumed prekey whose message is ``held`` (opened, not acknowledged) is kept apart
    (never in a bundle); every other consumed prekey is dropped, so a crash between the
    state.db commit and the key file rewrite never revives a used one-time prekey.
    """
    held_opk, held_pq = db.held()
    kept: HeldPrekeys = {}
    for kind, table, keep in (
        (OPK, state.one_time_prekeys, held_opk),
        (PQ_OPK, state.pq_one_time_prekeys, held_pq),
    ):
        consumed = db.consumed(kind)
        for prekey_id in [i for i in table if i in consumed]:
            key = table.pop(prekey_id)
            if prekey_id in keep:
                kept[(kind, prekey_id)] = key
        for (held_kind, prekey_id), key in held.items():
            if held_kind == kind and prekey_id in keep and prekey_id in consumed:
                kept[(kind, prekey_id)] = key
    return kept


def remove_stale_temps(directory: Path) -> None:
    """Delete temp files a crashed writer left (only ever called under the store lock)."""
    for temp in directory.glob(f".{KEY_FILE}.*.tmp"):
        with contextlib.suppress(OSError):
            temp.unlink()


def new_file_key(
    passphrase: bytes | None, scrypt_n: int, rng: primitives.Rng | None
) -> tuple[keyfile.KdfParams | None, SymmetricKey | None]:
    """Draw a salt (16 bytes) and derive a new store's file key; (None, None) unencrypted.

    Raises:
        KeyStoreError: ``scrypt_n`` unsupported.
    """
    if passphrase is None:
        return None, None
    params = keyfile.KdfParams(primitives.random_bytes(16, rng=rng), scrypt_n)
    return params, keyfile.derive_file_key(passphrase, params)


def write_new(
    directory: Path,
    state: IdentityState,
    file_key: SymmetricKey | None,
    params: keyfile.KdfParams | None,
    rng: primitives.Rng | None,
) -> tuple[KeyFile, StateDB]:
    """Write a new store's state.db, then its key file (the store lock held).

    Raises:
        KeyStoreError: ``directory`` already holds a key store, or an I/O failure.
    """
    if (directory / KEY_FILE).exists():
        raise errors.KeyStoreError(f"{directory} already holds a key store")
    # A state file without a key file is left over from an interrupted create.
    with contextlib.suppress(FileNotFoundError):
        (directory / STATE_FILE).unlink()
    create_private_file(directory / STATE_FILE)
    data = keyfile.encode_keyfile(state, file_key, params, rng=rng)
    loaded = read_keyfile(directory, None, file_key=file_key, data=data)
    db = StateDB(directory / STATE_FILE, state_mac(loaded))
    db.initialize()
    atomic_write(directory / KEY_FILE, data)
    return loaded, db
