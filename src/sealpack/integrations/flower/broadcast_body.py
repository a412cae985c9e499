"""One instruction body for every session node of a broadcast, encrypted once (issue 15).

The body is the codec frame of the instruction payload, encrypted with the envelope's
chunked AES-256-GCM (C2SP chunked encryption with key commitment, 1 MiB chunks) under a
fresh random 32-byte content key, chunk ranges on every core (envelope.parallel), into
huge-page-advised memory (envelope.buffers): the same machinery and speed as sealing.
Its digest is the envelope's payload digest (BLAKE3-256 over the whole ciphertext). The
key and the digest reach each node inside its own ratchet ticket (:mod:`.tickets`).

Opening checks the digest first (constant time), so a swapped or altered body is
refused before any key is derived or any chunk decrypted; only then is every chunk
authenticated and decrypted, and only then is the frame decoded against its schema.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sealpack import fobs
from sealpack.envelope import buffers, parallel, stream, suite
from sealpack.envelope.failures import failures_as_sealpack_errors
from sealpack.integrations.flower.errors import BroadcastBodyError

__all__ = ["BODY_CHUNK_SIZE", "BODY_CONTEXT", "SealedBody", "open_body", "seal_body"]

BODY_CONTEXT = b"sealpack/flower/v2/broadcast-body\x00"
"""The C2SP context of a body (domain separation from envelope payloads)."""
BODY_CHUNK_SIZE = suite.DEFAULT_CHUNK_SIZE
KEY_SIZE = suite.CONTENT_KEY_SIZE
DIGEST_SIZE = suite.PAYLOAD_DIGEST_SIZE


@dataclass(frozen=True)
class SealedBody:
    """An encrypted body, its content key and its digest (the key never in repr)."""

    key: bytes = field(repr=False)
    digest: bytes
    data: bytes = field(repr=False)


def seal_body(payload: object, rng: Callable[[int], bytes]) -> SealedBody:
    """Encrypt ``payload`` once under a fresh content key.

    Args:
        payload: The instruction payload (codec types).
        rng: Randomness for the content key and the C2SP salt.

    Returns:
        The body, its content key and its BLAKE3-256 digest.

    Raises:
        TypeError: A value the codec cannot encode.
    """
    key = rng(KEY_SIZE)
    parts = fobs.dumps_buffers(payload)
    size = sum(part.nbytes for part in parts)
    encryptor = stream.ChunkEncryptor(
        key, context=BODY_CONTEXT, chunk_size=BODY_CHUNK_SIZE, rng=rng
    )
    digest = b""

    def fill(view: memoryview) -> None:
        nonlocal digest
        parallel.encrypt_chunks(encryptor, parts, view)
        digest = parallel.payload_digest(view)

    data = buffers.blob_bytes(stream.ciphertext_length(size, BODY_CHUNK_SIZE), fill)
    return SealedBody(key, digest, data)


def open_body(data: bytes, key: bytes, digest: bytes, expect: Any) -> Any:
    """Check, decrypt and decode a body with the key and digest from a verified ticket.

    Args:
        data: The body as delivered (untrusted).
        key: The content key from the ticket.
        digest: The body digest from the ticket.
        expect: The payload's type (checked before any object is built).

    Returns:
        The decoded payload.

    Raises:
        BroadcastBodyError: The body is not the one the ticket names (nothing decrypted).
        TamperedError: A chunk fails authentication. SchemaError, DecodeError: a bad frame.
    """
    with failures_as_sealpack_errors():
        view = memoryview(data).cast("B")
        actual = parallel.payload_digest(view)
        if len(key) != KEY_SIZE or not hmac.compare_digest(actual, digest):
            raise BroadcastBodyError()
        size = stream.plaintext_length(len(view), BODY_CHUNK_SIZE)
        decryptor = stream.ChunkDecryptor(
            key, view[: stream.PREFIX_SIZE], context=BODY_CONTEXT, chunk_size=BODY_CHUNK_SIZE
        )
        plain = buffers.plain_bytearray(size)
        parallel.decrypt_chunks(decryptor, view, memoryview(plain))
    return fobs.loads(plain, expect=expect)
