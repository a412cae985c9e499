"""The one cryptographic suite of envelope version 1: labels, derivations, key wrap.

* core digest ``H = SHA-256(core bytes)``
* X3DH context (appended to AD) = ``"sealpack/v1/stanza" 0x00 || H``
* wrap key = HKDF-SHA256(ikm=SK, salt=32 zero bytes, info="sealpack/v1/wrap-key", 32)
* wrapped key = AES-256-GCM(wrap key, nonce=12 zero bytes, content key, aad=X3DH AD)
  (the wrap key is single use: every stanza has a fresh ephemeral key)
* payload context (C2SP context) = ``"sealpack/v1/payload" 0x00 || H``
* signed message = ``"sealpack/v1/signature" 0x00 || header bytes || SHA-256(payload)``
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

from sealpack import primitives

__all__ = [
    "CONTENT_KEY_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "PayloadHasher",
    "payload_context",
    "signed_message",
    "stanza_context",
    "unwrap_content_key",
    "wrap_content_key",
]

CONTENT_KEY_SIZE = 32
DEFAULT_CHUNK_SIZE = 1 << 20
STANZA_LABEL = b"sealpack/v1/stanza\x00"
PAYLOAD_LABEL = b"sealpack/v1/payload\x00"
WRAP_INFO = b"sealpack/v1/wrap-key"
SIGNATURE_LABEL = b"sealpack/v1/signature\x00"
_WRAP_SALT = bytes(32)
_WRAP_NONCE = bytes(12)


def stanza_context(core_bytes: bytes) -> bytes:
    """X3DH context for every stanza of a message: binds the core header."""
    return STANZA_LABEL + primitives.sha256(core_bytes)


def payload_context(core_bytes: bytes) -> bytes:
    """C2SP chunked-encryption context: binds the core header (size, chunking, ids)."""
    return PAYLOAD_LABEL + primitives.sha256(core_bytes)


def _wrap_key(shared_key: bytes) -> bytes:
    return primitives.hkdf_sha256(shared_key, salt=_WRAP_SALT, info=WRAP_INFO, length=32)


def wrap_content_key(shared_key: bytes, associated_data: bytes, content_key: bytes) -> bytes:
    """Encrypt the content key under the X3DH shared key (48 bytes out)."""
    return primitives._aes256gcm_encrypt(
        _wrap_key(shared_key), _WRAP_NONCE, content_key, associated_data
    )


def unwrap_content_key(shared_key: bytes, associated_data: bytes, wrapped: bytes) -> bytes:
    """Decrypt a wrapped content key.

    Raises:
        TamperedError: the wrapped key does not authenticate.
    """
    return primitives._aes256gcm_decrypt(
        _wrap_key(shared_key), _WRAP_NONCE, wrapped, associated_data
    )


def signed_message(header_bytes: bytes, payload_digest: bytes) -> bytes:
    """The exact bytes the sender's identity key signs."""
    return SIGNATURE_LABEL + header_bytes + payload_digest


class PayloadHasher:
    """SHA-256 over the payload ciphertext, fed chunk by chunk."""

    __slots__ = ("_hash",)

    def __init__(self) -> None:
        self._hash = hashes.Hash(hashes.SHA256())

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Absorb the next piece of payload ciphertext."""
        self._hash.update(data)

    def digest(self) -> bytes:
        """Return the 32-byte digest (once)."""
        return self._hash.finalize()
