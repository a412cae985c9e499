"""The one cryptographic suite of envelope version 2: labels, derivations, key wrap, digest.

* core digest ``CH = SHA-256(core bytes)``
* X3DH/PQXDH context (appended to AD) = ``"sealpack/v2/stanza" 0x00 || CH``
* wrap key = HKDF-SHA256(ikm=SK, salt=32 zero bytes, info="sealpack/v2/wrap-key", 32)
* wrapped key = AES-256-GCM(wrap key, nonce=12 zero bytes, content key, aad=AD)
  (the wrap key is single use: every stanza has a fresh ephemeral key)
* payload context (C2SP context) = ``"sealpack/v2/payload" 0x00 || CH``
* payload digest = BLAKE3-256 over the whole payload ciphertext
* signed message = ``"sealpack/v2/signature" 0x00 || header bytes up to and including
  stanzas_len || BLAKE3-256(stanza section) || payload digest``: Ed25519 hashes a few
  hundred bytes whatever the number of recipients, and still commits to every stanza

The payload digest constructor lives here (not in envelope.pipeline) so that sealing,
opening and the vector tools share one choice: :func:`payload_hasher`.
"""

from __future__ import annotations

import blake3

from sealpack import primitives

__all__ = [
    "CONTENT_KEY_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "PAYLOAD_DIGEST_SIZE",
    "PayloadHasher",
    "payload_context",
    "payload_digest",
    "payload_hasher",
    "signed_message",
    "stanza_context",
    "stanza_section_digest",
    "unwrap_content_key",
    "wrap_content_key",
]

CONTENT_KEY_SIZE = 32
DEFAULT_CHUNK_SIZE = 1 << 20
PAYLOAD_DIGEST_SIZE = 32
STANZA_LABEL = b"sealpack/v2/stanza\x00"
PAYLOAD_LABEL = b"sealpack/v2/payload\x00"
WRAP_INFO = b"sealpack/v2/wrap-key"
SIGNATURE_LABEL = b"sealpack/v2/signature\x00"
_CORE_LENGTH_AT = 9
"""Offset of the u32be core length in the header (after magic and version)."""
_THREADED_SECTION = 4 << 20
"""Stanza sections from this size (~3300 hybrid stanzas) are hashed with BLAKE3's
threads; below it, starting them cost what they saved (measured, docs/PERFORMANCE.md)."""
_WRAP_SALT = bytes(32)
_WRAP_NONCE = bytes(12)


def stanza_context(core_bytes: bytes) -> bytes:
    """Key-agreement context for every stanza of a message: binds the core header."""
    return STANZA_LABEL + primitives.sha256(core_bytes)


def payload_context(core_bytes: bytes) -> bytes:
    """C2SP chunked-encryption context: binds the core header (size, chunking, ids)."""
    return PAYLOAD_LABEL + primitives.sha256(core_bytes)


def _wrap_key(shared_key: bytes) -> bytes:
    return primitives.hkdf_sha256(shared_key, salt=_WRAP_SALT, info=WRAP_INFO, length=32)


def wrap_content_key(shared_key: bytes, associated_data: bytes, content_key: bytes) -> bytes:
    """Encrypt the content key under the agreed shared key (48 bytes out)."""
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


def stanza_section_digest(section: bytes | memoryview) -> bytes:
    """BLAKE3-256 of the stanza section (with BLAKE3's threads for a large one)."""
    if len(section) >= _THREADED_SECTION:
        return blake3.blake3(section, max_threads=blake3.blake3.AUTO).digest()
    return blake3.blake3(section).digest()  # 32 bytes


def signed_message(header_bytes: bytes | memoryview, payload_digest: bytes) -> bytes:
    """The exact bytes the sender's identity key signs.

    The header bytes up to and including ``stanzas_len`` (magic, version, core length,
    core, stanza-section length), then the BLAKE3-256 of the stanza section in place
    of the section itself, then the payload digest (docs/spec/envelope.md section 7).

    Args:
        header_bytes: the whole header (magic .. end of the stanza section).
        payload_digest: BLAKE3-256 of the payload ciphertext.

    Returns:
        The message to sign or verify.
    """
    view = memoryview(header_bytes)
    core_length = int.from_bytes(view[_CORE_LENGTH_AT : _CORE_LENGTH_AT + 4], "big")
    split = _CORE_LENGTH_AT + 4 + core_length + 4
    section_digest = stanza_section_digest(view[split:])
    return b"".join((SIGNATURE_LABEL, view[:split], section_digest, payload_digest))


class PayloadHasher:
    """BLAKE3-256 over the payload ciphertext, fed piece by piece (single-threaded).

    ``update`` releases the GIL for large pieces, so envelope.pipeline can hash in a
    worker thread while the caller encrypts.
    """

    __slots__ = ("_hash",)

    def __init__(self) -> None:
        self._hash = blake3.blake3()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Absorb the next piece of payload ciphertext."""
        self._hash.update(data)

    def digest(self) -> bytes:
        """Return the 32-byte digest."""
        return self._hash.digest(length=PAYLOAD_DIGEST_SIZE)


def payload_hasher() -> PayloadHasher:
    """A fresh hasher for the payload digest of format version 2 (BLAKE3-256)."""
    return PayloadHasher()


def payload_digest(payload: bytes | bytearray | memoryview) -> bytes:
    """The payload digest of a whole payload held in memory."""
    return blake3.blake3(payload).digest(length=PAYLOAD_DIGEST_SIZE)
