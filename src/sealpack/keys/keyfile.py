"""The key store's private key file: JSON, the key material optionally under scrypt + AES-GCM.

Outer document (UTF-8 JSON)::

    {"type": "sealpack-keystore", "version": 2, "encryption": "scrypt-aes256gcm",
     "kdf": {"salt": hex16, "n": int, "r": 8, "p": 1}, "nonce": hex12, "ciphertext": hex}
    or, when stored unencrypted (explicit opt-in):
    {"type": "sealpack-keystore", "version": 2, "encryption": "none", "keys": {...}}

The AES-256-GCM key is scrypt(passphrase, salt, n, r, p, 32); the AAD is
``"sealpack/keystore/v2" 0x00 || salt || u32be n || u32be r || u32be p`` (version 1:
``"sealpack/keystore/v1"``; a version-1 file is read only to migrate it, keys.md section 6).
Besides the identity state, the plaintext holds ``held_one_time_prekeys``: the private
keys of one-time prekeys consumed by a message opened but not yet acknowledged; that
plaintext is built and parsed in keys/keyfile_plaintext.py.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from sealpack import errors, primitives
from sealpack.keys.identity_state import IdentityState
from sealpack.keys.keyfile_plaintext import (
    held_from_json,
    held_to_json,
    state_from_json,
    state_to_json,
)
from sealpack.keys.opening import HeldPrekeys
from sealpack.keys.secret import SymmetricKey

__all__ = [
    "KEYFILE_VERSION",
    "HeldPrekeys",
    "KdfParams",
    "decode_keyfile",
    "derive_file_key",
    "encode_keyfile",
    "read_header",
]

KEYFILE_TYPE = "sealpack-keystore"
KEYFILE_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Version 1 is read only to migrate it to version 2 (KeyStore.open)."""
_AAD_DOMAINS = {1: b"sealpack/keystore/v1\x00", 2: b"sealpack/keystore/v2\x00"}
ENCRYPTED = "scrypt-aes256gcm"
MIN_SCRYPT_N = 2**10
MAX_SCRYPT_N = 2**22
MAX_SCRYPT_MEMORY = 2**31
"""128 * n * r * p bytes; a larger claim in a key file is refused before scrypt runs."""


class KdfParams:
    """scrypt parameters and salt of one key store."""

    def __init__(self, salt: bytes, n: int, r: int = 8, p: int = 1) -> None:
        if not all(type(value) is int for value in (n, r, p)):
            raise errors.KeyStoreError("unsupported key store KDF parameters")
        valid_n = MIN_SCRYPT_N <= n <= MAX_SCRYPT_N and n & (n - 1) == 0
        if len(salt) != 16 or not valid_n or not (1 <= r <= 32 and 1 <= p <= 16):
            raise errors.KeyStoreError("unsupported key store KDF parameters")
        if 128 * n * r * p > MAX_SCRYPT_MEMORY:
            raise errors.KeyStoreError("key store KDF parameters need more than 2 GiB")
        self.salt, self.n, self.r, self.p = salt, n, r, p

    def aad(self, version: int = KEYFILE_VERSION) -> bytes:
        """The AES-GCM associated data binding the file version and KDF parameters."""
        return _AAD_DOMAINS[version] + self.salt + struct.pack(">III", self.n, self.r, self.p)

    def to_json(self) -> dict[str, Any]:
        """The ``kdf`` object of the key file."""
        return {"salt": self.salt.hex(), "n": self.n, "r": self.r, "p": self.p}


def derive_file_key(passphrase: bytes, params: KdfParams) -> SymmetricKey:
    """Derive the file key with scrypt."""
    raw = primitives.scrypt(
        passphrase, salt=params.salt, n=params.n, r=params.r, p=params.p, length=32
    )
    return SymmetricKey(raw)


def encode_keyfile(
    state: IdentityState,
    file_key: SymmetricKey | None,
    params: KdfParams | None,
    *,
    held: HeldPrekeys | None = None,
    rng: primitives.Rng | None = None,
) -> bytes:
    """Serialize (and, with a key, encrypt) the identity state into version-2 key file bytes.

    Args:
        state: the identity state.
        file_key: the scrypt-derived key (None: unencrypted).
        params: the KDF parameters (None: unencrypted).
        held: one-time prekeys kept until their message is acknowledged.
        rng: randomness for the nonce.

    Returns:
        The key file bytes (UTF-8 JSON).
    """
    content = state_to_json(state)
    content["held_one_time_prekeys"] = held_to_json(held or {})
    keys = json.dumps(content, sort_keys=True).encode()
    document: dict[str, Any] = {"type": KEYFILE_TYPE, "version": KEYFILE_VERSION}
    if file_key is None or params is None:
        document.update(encryption="none", keys=json.loads(keys))
    else:
        sealed = file_key.encrypt(keys, params.aad(), rng=rng)
        nonce, ciphertext = sealed[: file_key.NONCE_SIZE], sealed[file_key.NONCE_SIZE :]
        document.update(
            encryption=ENCRYPTED,
            kdf=params.to_json(),
            nonce=nonce.hex(),
            ciphertext=ciphertext.hex(),
        )
    return json.dumps(document, sort_keys=True, indent=1).encode() + b"\n"


def read_header(data: bytes) -> tuple[dict[str, Any], KdfParams | None]:
    """Parse the outer document; return it and its KDF parameters (None if unencrypted).

    Raises:
        KeyStoreError: malformed file. UnsupportedVersionError: unknown version.
    """
    try:
        document = json.loads(data)
        if document["type"] != KEYFILE_TYPE:
            raise errors.KeyStoreError("not a sealpack key store file")
        if document["version"] not in READABLE_VERSIONS or type(document["version"]) is not int:
            raise errors.UnsupportedVersionError(
                f"unsupported key store version {document['version']!r}"
            )
        if document["encryption"] == "none":
            return document, None
        if document["encryption"] != ENCRYPTED:
            raise errors.KeyStoreError("key store file names an unknown encryption")
        kdf = document["kdf"]
        return document, KdfParams(bytes.fromhex(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
    except errors.SealpackError:
        raise
    except (ValueError, KeyError, TypeError, RecursionError):
        raise errors.KeyStoreError("key store file is corrupt") from None


def decode_keyfile(
    document: dict[str, Any], file_key: SymmetricKey | None, params: KdfParams | None
) -> tuple[IdentityState, HeldPrekeys]:
    """Decrypt and parse the identity state and the held one-time prekeys.

    Every one-time prekey in the file is returned: dropping the consumed ones is the
    key store's job (it knows them from state.db).

    Raises:
        WrongPassphraseError: the file key does not decrypt the file.
        KeyStoreError: the decrypted content is malformed.
    """
    try:
        keys = _plaintext(document, file_key, params)
        held = held_from_json(keys.get("held_one_time_prekeys", []))
        return state_from_json(keys, set()), held
    except errors.SealpackError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise errors.KeyStoreError("key store content is corrupt") from None


def _plaintext(
    document: dict[str, Any], file_key: SymmetricKey | None, params: KdfParams | None
) -> dict[str, Any]:
    if params is None:
        keys = document["keys"]
    else:
        if file_key is None:
            raise errors.WrongPassphraseError("this key store needs a passphrase")
        nonce = bytes.fromhex(document["nonce"])
        if len(nonce) != file_key.NONCE_SIZE:
            raise errors.KeyStoreError("key store file is corrupt (nonce length)")
        ciphertext = bytes.fromhex(document["ciphertext"])
        try:
            plaintext = file_key.decrypt(nonce + ciphertext, params.aad(document["version"]))
        except errors.TamperedError:
            raise errors.WrongPassphraseError(
                "wrong passphrase (or the key file was modified)"
            ) from None
        keys = json.loads(plaintext)
    if not isinstance(keys, dict):
        raise errors.KeyStoreError("key store content is corrupt")
    return keys
