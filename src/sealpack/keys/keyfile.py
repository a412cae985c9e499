"""The key store's private key file: JSON, the key material optionally under scrypt + AES-GCM.

Outer document (UTF-8 JSON)::

    {"type": "sealpack-keystore", "version": 1, "encryption": "scrypt-aes256gcm",
     "kdf": {"salt": hex16, "n": int, "r": 8, "p": 1}, "nonce": hex12, "ciphertext": hex}
    or, when stored unencrypted (explicit opt-in):
    {"type": "sealpack-keystore", "version": 1, "encryption": "none", "keys": {...}}

The AES-256-GCM key is scrypt(passphrase, salt, n, r, p, 32); the AAD is
``"sealpack/keystore/v1" 0x00 || salt || u32be n || u32be r || u32be p``.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from sealpack import errors, primitives
from sealpack.keys.identity import IdentityState
from sealpack.keys.names import validate_name
from sealpack.keys.prekeys import OneTimePrekey, SignedPrekey
from sealpack.keys.secret import Ed25519Seed, SymmetricKey, X25519Secret, export_raw

__all__ = ["KdfParams", "decode_keyfile", "derive_file_key", "encode_keyfile"]

KEYFILE_TYPE = "sealpack-keystore"
KEYFILE_VERSION = 1
_AAD_DOMAIN = b"sealpack/keystore/v1\x00"
MIN_SCRYPT_N = 2**10
MAX_SCRYPT_N = 2**22


class KdfParams:
    """scrypt parameters and salt of one key store."""

    def __init__(self, salt: bytes, n: int, r: int = 8, p: int = 1) -> None:
        valid_n = MIN_SCRYPT_N <= n <= MAX_SCRYPT_N and n & (n - 1) == 0
        if len(salt) != 16 or not valid_n or not (1 <= r <= 32 and 1 <= p <= 16):
            raise errors.KeyStoreError("unsupported key store KDF parameters")
        self.salt, self.n, self.r, self.p = salt, n, r, p

    def aad(self) -> bytes:
        """The AES-GCM associated data binding the KDF parameters."""
        return _AAD_DOMAIN + self.salt + struct.pack(">III", self.n, self.r, self.p)

    def to_json(self) -> dict[str, Any]:
        """The ``kdf`` object of the key file."""
        return {"salt": self.salt.hex(), "n": self.n, "r": self.r, "p": self.p}


def derive_file_key(passphrase: bytes, params: KdfParams) -> SymmetricKey:
    """Derive the file key with scrypt."""
    raw = primitives.scrypt(
        passphrase, salt=params.salt, n=params.n, r=params.r, p=params.p, length=32
    )
    return SymmetricKey(raw)


def _state_to_json(state: IdentityState) -> dict[str, Any]:
    return {
        "name": state.name,
        "seed": export_raw(state.seed).hex(),
        "signed_prekey_lifetime": state.signed_prekey_lifetime,
        "current_signed_prekey_id": state.current_signed_prekey_id,
        "next_one_time_prekey_id": state.next_one_time_prekey_id,
        "signed_prekeys": [
            {
                "id": spk.id,
                "private": export_raw(spk.secret).hex(),
                "created": spk.created,
                "expires": spk.expires,
                "signature": spk.signature.hex(),
                "retire_at": spk.retire_at,
            }
            for spk in state.signed_prekeys.values()
        ],
        "one_time_prekeys": [
            {"id": opk.id, "private": export_raw(opk.secret).hex()}
            for opk in state.one_time_prekeys.values()
        ],
    }


def _ints(*values: Any) -> None:
    if not all(type(value) is int and 0 <= value < 2**63 for value in values):
        raise errors.KeyStoreError("key store content is corrupt")


def _state_from_json(keys: dict[str, Any], consumed: set[int]) -> IdentityState:
    for item in keys["signed_prekeys"]:
        _ints(item["id"], item["created"], item["expires"], item["retire_at"])
    for item in keys["one_time_prekeys"]:
        _ints(item["id"])
    _ints(
        keys["current_signed_prekey_id"],
        keys["next_one_time_prekey_id"],
        keys["signed_prekey_lifetime"],
    )
    validate_name(keys["name"], errors.KeyStoreError)
    spks = {
        item["id"]: SignedPrekey(
            item["id"],
            X25519Secret(bytes.fromhex(item["private"])),
            created=item["created"],
            expires=item["expires"],
            signature=bytes.fromhex(item["signature"]),
            retire_at=item["retire_at"],
        )
        for item in keys["signed_prekeys"]
    }
    opks = {
        item["id"]: OneTimePrekey(item["id"], X25519Secret(bytes.fromhex(item["private"])))
        for item in keys["one_time_prekeys"]
        if item["id"] not in consumed
    }
    current = keys["current_signed_prekey_id"]
    if current not in spks:
        raise errors.KeyStoreError("key file has no current signed prekey")
    return IdentityState(
        name=keys["name"],
        seed=Ed25519Seed(bytes.fromhex(keys["seed"])),
        signed_prekeys=spks,
        current_signed_prekey_id=current,
        one_time_prekeys=opks,
        next_one_time_prekey_id=keys["next_one_time_prekey_id"],
        signed_prekey_lifetime=keys["signed_prekey_lifetime"],
    )


def encode_keyfile(
    state: IdentityState,
    file_key: SymmetricKey | None,
    params: KdfParams | None,
    *,
    rng: primitives.Rng | None = None,
) -> bytes:
    """Serialize (and, with a key, encrypt) the identity state into key file bytes."""
    keys = json.dumps(_state_to_json(state), sort_keys=True).encode()
    document: dict[str, Any] = {"type": KEYFILE_TYPE, "version": KEYFILE_VERSION}
    if file_key is None or params is None:
        document.update(encryption="none", keys=json.loads(keys))
    else:
        sealed = file_key.encrypt(keys, params.aad(), rng=rng)
        nonce, ciphertext = sealed[: file_key.NONCE_SIZE], sealed[file_key.NONCE_SIZE :]
        document.update(
            encryption="scrypt-aes256gcm",
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
        if document["version"] != KEYFILE_VERSION:
            raise errors.UnsupportedVersionError(
                f"unsupported key store version {document['version']!r}"
            )
        if document["encryption"] == "none":
            return document, None
        kdf = document["kdf"]
        return document, KdfParams(bytes.fromhex(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
    except errors.SealpackError:
        raise
    except (ValueError, KeyError, TypeError, RecursionError):
        raise errors.KeyStoreError("key store file is corrupt") from None


def decode_keyfile(
    document: dict[str, Any],
    file_key: SymmetricKey | None,
    params: KdfParams | None,
    consumed: set[int],
) -> IdentityState:
    """Decrypt and parse the identity state; one-time prekeys in ``consumed`` are dropped.

    Raises:
        WrongPassphraseError: the file key does not decrypt the file.
        KeyStoreError: the decrypted content is malformed.
    """
    try:
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
                plaintext = file_key.decrypt(nonce + ciphertext, params.aad())
            except errors.TamperedError:
                raise errors.WrongPassphraseError(
                    "wrong passphrase (or the key file was modified)"
                ) from None
            keys = json.loads(plaintext)
        return _state_from_json(keys, consumed)
    except errors.SealpackError:
        raise
    except (ValueError, KeyError, TypeError, RecursionError):
        raise errors.KeyStoreError("key store content is corrupt") from None
