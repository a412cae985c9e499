"""Bytes of a session message (docs/spec/session.md section 4).

::

    header  = "SEALSESS" || u8 version (2) || u8 flags || session id (16)
              || ratchet public key (32) || u32be PN || u32be N            (66 bytes)
    AD      = "sealpack/v2/session" 0x00 || IK_initiator (32) || IK_responder (32) || header
    inner   = [Ed25519 signature (64), when flags & SIGNED] || body
    payload = nonce (12) || AES-256-GCM(key, nonce, inner, AD)     flags & CHUNKED == 0
            | C2SP chunked AES-256-GCM(key, inner, context = AD)  flags & CHUNKED, 1 MiB chunks

``key`` comes from the message key (kdf.message_encryption_key); the nonce is drawn from
``rng`` for every message, like the chunked payload's 24-byte salt. A message key is used
once, so a fixed nonce would do as long as the state never goes back; the random one keeps
a key store restored from a backup, or copied to a second machine, from encrypting two
objects under one key and nonce (docs/spec/session.md section 4). A message whose inner
part is over 1 MiB uses the chunked payload, so the bulk path keeps its speed.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealpack import errors, primitives
from sealpack.envelope import stream

__all__ = [
    "CHUNKED",
    "CHUNK_SIZE",
    "HEADER_SIZE",
    "INLINE_MAX",
    "MAGIC",
    "NONCE_SIZE",
    "SIGNED",
    "VERSION",
    "Header",
    "associated_data",
    "encode_header",
    "open_payload",
    "parse_header",
    "seal_message",
]

MAGIC = b"SEALSESS"
VERSION = 2
CHUNKED = 0x01
SIGNED = 0x02
_KNOWN_FLAGS = CHUNKED | SIGNED
_LAYOUT = struct.Struct(">8sBB16s32sII")
HEADER_SIZE = _LAYOUT.size
_pack = _LAYOUT.pack
_unpack = _LAYOUT.unpack_from
INLINE_MAX = 1 << 20
NONCE_SIZE = 12
_MIN_PAYLOAD = NONCE_SIZE + 16
CHUNK_SIZE = 1 << 20
AD_LABEL = b"sealpack/v2/session\x00"
Buffer = bytes | bytearray | memoryview
MAX_COUNTER = 2**32 - 1


class Header(NamedTuple):
    """The clear header of a session message."""

    flags: int
    session_id: bytes
    ratchet_key: bytes
    previous_chain_length: int
    number: int

    def encode(self) -> bytes:
        """The 66 header bytes."""
        return encode_header(*self)


def encode_header(
    flags: int, session_id: bytes, ratchet_key: bytes, previous_chain_length: int, number: int
) -> bytes:
    """The 66 header bytes of a message."""
    return _pack(MAGIC, VERSION, flags, session_id, ratchet_key, previous_chain_length, number)


def is_session_message(data: bytes | bytearray | memoryview) -> bool:
    """True when ``data`` starts with the session magic (cheap dispatch, nothing checked)."""
    if isinstance(data, bytes):
        return data.startswith(MAGIC)
    return bytes(memoryview(data)[: len(MAGIC)]) == MAGIC


def parse_header(message: bytes) -> Header:
    """Parse and check the header of a session message.

    Raises:
        DecodeError: not a session message or too short.
        UnsupportedVersionError: another format version.
        TamperedError: unknown flag bits, or a payload too short for its kind.
    """
    if not isinstance(message, bytes | bytearray | memoryview):
        raise errors.SealArgumentError("a session message must be bytes")
    if len(message) < HEADER_SIZE or not is_session_message(message):
        raise errors.DecodeError("not a sealpack session message (magic SEALSESS)")
    _, version, flags, sid, key, pn, n = _unpack(message)
    if version != VERSION:
        raise errors.UnsupportedVersionError(
            f"session message format version {version} is not supported (this is version 2)"
        )
    if flags & ~_KNOWN_FLAGS or len(message) - HEADER_SIZE < _MIN_PAYLOAD:
        raise errors.TamperedError()
    return Header(flags, sid, key, pn, n)


def associated_data(initiator_ik: bytes, responder_ik: bytes, header: bytes) -> bytes:
    """The AD the payload authenticates: label, both identity keys, the header."""
    return AD_LABEL + initiator_ik + responder_ik + header


def seal_message(
    header: bytes,
    key: bytes,
    parts: Sequence[Buffer],
    ad: bytes,
    *,
    chunked: bool,
    rng: stream.Rng | None,
) -> bytes:
    """``header || payload`` for the inner part given as ``parts`` (never joined when
    chunked: each chunk is encrypted straight from the caller's buffers). The inline
    payload's nonce, or the chunked payload's salt, is drawn from ``rng``."""
    if not chunked:
        nonce = primitives.random_bytes(NONCE_SIZE, rng=rng)
        return header + nonce + AESGCM(key).encrypt(nonce, b"".join(parts), ad)
    size = sum(memoryview(part).nbytes for part in parts)
    encryptor = stream.ChunkEncryptor(key, context=ad, chunk_size=CHUNK_SIZE, rng=rng)
    out = bytearray(HEADER_SIZE + stream.ciphertext_length(size, CHUNK_SIZE))
    view = memoryview(out)
    view[:HEADER_SIZE] = header
    position = HEADER_SIZE + stream.PREFIX_SIZE
    view[HEADER_SIZE:position] = encryptor.prefix
    for index, chunk in enumerate(stream.iter_plaintext_chunks(parts, CHUNK_SIZE)):
        end = position + len(chunk) + stream.TAG_SIZE
        encryptor.encrypt_chunk_into(index, chunk, view[position:end])
        position = end
    return bytes(out)


def open_payload(key: bytes, payload: memoryview, ad: bytes, *, chunked: bool) -> bytes | bytearray:
    """Decrypt and authenticate the payload completely (chunked: into one new bytearray).

    Raises:
        TamperedError: any check fails.
    """
    if chunked:  # the key commitment first: a forgery allocates no plaintext buffer
        stream.ChunkDecryptor(key, payload[: stream.PREFIX_SIZE], context=ad, chunk_size=CHUNK_SIZE)
        out = bytearray(stream.plaintext_length(len(payload), CHUNK_SIZE))
        stream.decrypt_into(key, payload, memoryview(out), context=ad, chunk_size=CHUNK_SIZE)
        return out
    try:
        return AESGCM(key).decrypt(payload[:NONCE_SIZE], payload[NONCE_SIZE:], ad)
    except (InvalidTag, ValueError) as error:
        raise errors.TamperedError() from error
