"""Sealing: one payload encryption for any number of recipients, signed by the sender.

Randomness is drawn in a fixed order so sealing is reproducible from a seeded rng:
content key (32), message id (16), payload salt (24), then one ephemeral key (32)
per recipient in the order given (duplicates removed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sealpack import errors, primitives, x3dh
from sealpack.envelope import header as hdr
from sealpack.envelope import pipeline, stream, suite
from sealpack.keys import Identity, KeyBundle

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_EXPIRES_IN",
    "SealArgumentError",
    "SealOptions",
    "seal_buffers",
    "seal_buffers_to",
]

Buffer = bytes | bytearray | memoryview
Progress = Callable[[int, int], None]
DEFAULT_EXPIRES_IN = 7 * 86400
DEFAULT_CONTENT_TYPE = "application/x-sealpack-codec"
_STAGING_BUFFERS = pipeline.QUEUE_DEPTH + 1
"""Chunk buffers for seal_buffers_to: one being encrypted, the others queued or hashing."""


SealArgumentError = errors.SealArgumentError


def _one_time_prekey_id(sender: Identity, bundle: KeyBundle) -> int | None:
    """The bundle's first one-time prekey the sender has not used yet (marked used), or None.

    The record is the sender's ``prekey_usage``: durable in a KeyStore (shared by every
    process using that store), in memory for a bare Identity.
    """
    candidates = [prekey.id for prekey in bundle.one_time_prekeys]
    return sender.prekey_usage.take(bundle.identity_key, candidates) if candidates else None


@dataclass(frozen=True)
class SealOptions:
    """Everything about a sealed message besides sender, recipients, rng and time."""

    metadata: Mapping[str, Any] | None = None
    expires_in: int = DEFAULT_EXPIRES_IN
    content_type: str = DEFAULT_CONTENT_TYPE
    chunk_size: int = suite.DEFAULT_CHUNK_SIZE
    limits: hdr.EnvelopeLimits = field(default_factory=hdr.EnvelopeLimits)
    one_time_prekey: bool = True
    """Use one of each recipient's one-time prekeys (the first one ``sender.prekey_usage``
    has not handed out for that recipient); False seals with the signed prekey only."""


@dataclass(frozen=True)
class _Prepared:
    header_bytes: bytes
    encryptor: stream.ChunkEncryptor
    size: int


def _unique_recipients(recipients: Sequence[KeyBundle]) -> list[KeyBundle]:
    if isinstance(recipients, KeyBundle) or not recipients:
        raise SealArgumentError("recipients must be a non-empty sequence of KeyBundle")
    unique: dict[bytes, KeyBundle] = {}
    for bundle in recipients:
        if not isinstance(bundle, KeyBundle):
            raise SealArgumentError(f"a recipient must be a KeyBundle, not {type(bundle).__name__}")
        unique.setdefault(bundle.key_id, bundle)
    return list(unique.values())


def _check_options(options: SealOptions, now: int) -> None:
    if isinstance(options.expires_in, bool) or not isinstance(options.expires_in, int):
        raise SealArgumentError("expires_in must be an int number of seconds")
    if not 0 < options.expires_in <= hdr.MAX_TIME - now:
        raise SealArgumentError("expires_in must be positive")
    content_type = options.content_type
    if not isinstance(content_type, str) or len(content_type.encode()) > hdr.MAX_CONTENT_TYPE:
        raise SealArgumentError("content_type must be a str of at most 255 bytes")
    limits = options.limits
    chunk = options.chunk_size
    if chunk & (chunk - 1) or not limits.min_chunk_size <= chunk <= limits.max_chunk_size:
        raise SealArgumentError("chunk_size must be a power of two within the limits")
    if options.metadata is not None:
        if not isinstance(options.metadata, Mapping):
            raise SealArgumentError("metadata must be a mapping with str keys")
        hdr.check_metadata(options.metadata, limits)


def _stanza(
    sender: Identity,
    bundle: KeyBundle,
    context: bytes,
    content_key: bytes,
    options: SealOptions,
    rng: primitives.Rng | None,
    now: int,
) -> hdr.Stanza:
    prekey_id = _one_time_prekey_id(sender, bundle) if options.one_time_prekey else None
    agreed = x3dh.initiate(
        sender, bundle, one_time_prekey_id=prekey_id, context=context, rng=rng, now=now
    )
    wrapped = suite.wrap_content_key(agreed.shared_key, agreed.associated_data, content_key)
    return hdr.Stanza(
        bundle.key_id,
        agreed.header.signed_prekey_id,
        agreed.header.one_time_prekey_id,
        agreed.header.ephemeral_key,
        wrapped,
    )


def _prepare(
    size: int,
    sender: Identity,
    recipients: Sequence[KeyBundle],
    options: SealOptions,
    rng: primitives.Rng | None,
    now: int | None,
) -> _Prepared:
    if not isinstance(sender, Identity):
        raise SealArgumentError("sender must be an Identity (or a KeyStore's identity)")
    bundles = _unique_recipients(recipients)
    current = int(time.time()) if now is None else now
    _check_options(options, current)
    if size > options.limits.max_payload_size:
        raise errors.LimitExceededError("payload exceeds the maximum payload size")
    content_key = primitives.random_bytes(suite.CONTENT_KEY_SIZE, rng=rng)
    core = hdr.Core(
        sender.public_identity_key,
        primitives.random_bytes(hdr.MESSAGE_ID_SIZE, rng=rng),
        current,
        current + options.expires_in,
        options.content_type,
        dict(options.metadata or {}),
        size,
        options.chunk_size,
    )
    core_bytes = hdr.encode_core(core)
    encryptor = stream.ChunkEncryptor(
        content_key,
        context=suite.payload_context(core_bytes),
        chunk_size=options.chunk_size,
        rng=rng,
    )
    context = suite.stanza_context(core_bytes)
    stanzas = [_stanza(sender, b, context, content_key, options, rng, current) for b in bundles]
    header_bytes = hdr.encode_header(core_bytes, stanzas)
    if len(header_bytes) - hdr.PREFIX_SIZE - 4 > options.limits.max_header_size:
        raise errors.LimitExceededError("too many recipients or too much metadata for one header")
    return _Prepared(header_bytes, encryptor, size)


Place = Callable[[int], tuple[memoryview, pipeline.Recycle | None]]


def _encrypt_payload(
    buffers: Sequence[Buffer],
    prepared: _Prepared,
    place: Place,
    emit: Callable[[memoryview], None],
    progress: Progress | None,
) -> bytes:
    """Encrypt every chunk into ``place(length)``, hand it to ``emit``, hash it.

    Hashing runs in a worker thread for large payloads (see envelope.pipeline): it
    hashes chunk i-1 while this thread encrypts chunk i; the digest is identical.
    """
    encryptor = prepared.encryptor
    chunks = stream.chunk_count(prepared.size, encryptor.chunk_size)
    with pipeline.digester_for(suite.PayloadHasher(), chunks) as digester:
        prefix, recycle = place(stream.PREFIX_SIZE)
        prefix[:] = encryptor.prefix
        emit(prefix)
        digester.update(prefix, recycle)
        done = 0
        for index, chunk in enumerate(stream.iter_plaintext_chunks(buffers, encryptor.chunk_size)):
            target, recycle = place(len(chunk) + stream.TAG_SIZE)
            encryptor.encrypt_chunk_into(index, chunk, target)
            emit(target)
            digester.update(target, recycle)
            done += len(chunk)
            if progress is not None:
                progress(done, prepared.size)
        return digester.finish()


def _total_size(buffers: Sequence[Buffer]) -> int:
    return sum(memoryview(b).nbytes for b in buffers)


def seal_buffers(
    buffers: Sequence[Buffer],
    *,
    sender: Identity,
    recipients: Sequence[KeyBundle],
    options: SealOptions | None = None,
    rng: primitives.Rng | None = None,
    now: int | None = None,
    progress: Progress | None = None,
) -> bytearray:
    """Seal the concatenation of ``buffers`` into one preallocated blob (no joining).

    Args:
        buffers: the plaintext pieces (e.g. a codec's ``dumps_buffers``).
        sender: the sealing identity (signs the blob).
        recipients: verified bundles of everyone who may open it.
        options: metadata, expiry, content type, chunk size, limits.
        rng: randomness (default os.urandom).
        now: current time in seconds since the epoch.
        progress: called with (bytes done, total) after each chunk.

    Returns:
        The sealed blob.

    Raises:
        SealArgumentError: bad arguments. PrekeyError: a recipient's signed prekey expired.
        LimitExceededError, SerializationTypeError: metadata or header out of bounds.
    """
    options = options or SealOptions()
    prepared = _prepare(_total_size(buffers), sender, recipients, options, rng, now)
    header_len = len(prepared.header_bytes)
    payload_len = stream.ciphertext_length(prepared.size, options.chunk_size)
    out = bytearray(header_len + payload_len + hdr.SIGNATURE_SIZE)
    view = memoryview(out)
    view[:header_len] = prepared.header_bytes
    position = header_len

    def place(length: int) -> tuple[memoryview, None]:
        nonlocal position
        position += length
        return view[position - length : position], None

    digest = _encrypt_payload(buffers, prepared, place, lambda _: None, progress)
    view[position:] = sender.sign(suite.signed_message(prepared.header_bytes, digest))
    return out


def seal_buffers_to(
    buffers: Sequence[Buffer],
    write: Callable[[memoryview], Any],
    *,
    sender: Identity,
    recipients: Sequence[KeyBundle],
    options: SealOptions | None = None,
    rng: primitives.Rng | None = None,
    now: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Seal like :func:`seal_buffers`, handing the blob to ``write`` piece by piece.

    Memory stays bounded by one chunk whatever the payload size.

    Returns:
        The number of bytes written.
    """
    options = options or SealOptions()
    prepared = _prepare(_total_size(buffers), sender, recipients, options, rng, now)
    staging = pipeline.StagingPool(_STAGING_BUFFERS, options.chunk_size + stream.TAG_SIZE)
    write(memoryview(prepared.header_bytes))
    written = len(prepared.header_bytes)

    def emit(piece: memoryview) -> None:
        nonlocal written
        write(piece)
        written += len(piece)

    digest = _encrypt_payload(buffers, prepared, staging.take, emit, progress)
    signature = sender.sign(suite.signed_message(prepared.header_bytes, digest))
    write(memoryview(signature))
    return written + len(signature)
