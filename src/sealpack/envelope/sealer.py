"""Sealing: one payload encryption for any number of recipients, signed by the sender.

Randomness is drawn in a fixed order so sealing is reproducible from a seeded rng:
content key (32), message id (16), payload salt (24), then one ephemeral key (32)
per recipient in the order given (duplicates removed). ML-KEM encapsulation draws
its own randomness inside OpenSSL. A caller's rng that repeats a content key is
refused (envelope.randomness); only the vector tools may opt out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sealpack import errors, primitives
from sealpack.envelope import agreement, parallel, pipeline, randomness, segmented, stream, suite
from sealpack.envelope import buffers as membuf
from sealpack.envelope import header as hdr
from sealpack.keys import Identity, KeyBundle

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_EXPIRES_IN",
    "SealArgumentError",
    "SealOptions",
    "seal_buffers",
    "seal_buffers_to",
    "seal_bytes",
]

Buffer = bytes | bytearray | memoryview
Progress = Callable[[int, int], None]
DEFAULT_EXPIRES_IN = 7 * 86400
DEFAULT_CONTENT_TYPE = "application/x-sealpack-codec"


SealArgumentError = errors.SealArgumentError


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
    allow_classical: bool = False
    """Seal with classical X3DH to a bundle without a PQ prekey (else DowngradeError)."""


@dataclass(frozen=True)
class _Prepared:
    header_bytes: bytes
    encryptor: stream.ChunkEncryptor
    size: int


def unique_recipients(
    recipients: Sequence[KeyBundle], limits: hdr.EnvelopeLimits
) -> list[KeyBundle]:
    """The recipients without duplicates (by key id), at most ``limits.max_recipients``.

    Raises:
        SealArgumentError: not a non-empty sequence of KeyBundle.
        LimitExceededError: more distinct recipients than any opener accepts.
    """
    if isinstance(recipients, KeyBundle) or not recipients:
        raise SealArgumentError("recipients must be a non-empty sequence of KeyBundle")
    unique: dict[bytes, KeyBundle] = {}
    for bundle in recipients:
        if not isinstance(bundle, KeyBundle):
            raise SealArgumentError(f"a recipient must be a KeyBundle, not {type(bundle).__name__}")
        unique.setdefault(bundle.key_id, bundle)
    if len(unique) > limits.max_recipients:
        raise errors.LimitExceededError(
            f"{len(unique)} recipients: a sealed blob holds at most {limits.max_recipients} "
            "(the limit every opener applies)"
        )
    return list(unique.values())


def _check_options(options: SealOptions, now: int) -> None:
    if not 0 <= now <= hdr.MAX_TIME:
        raise SealArgumentError(f"now must be within 0..{hdr.MAX_TIME} (2**40 - 1)")
    if isinstance(options.expires_in, bool) or not isinstance(options.expires_in, int):
        raise SealArgumentError("expires_in must be an int number of seconds")
    if not 0 < options.expires_in <= hdr.MAX_TIME - now:
        raise SealArgumentError(
            f"expires_in must be positive and now + expires_in at most {hdr.MAX_TIME} "
            "(2**40 - 1, the bound every opener applies)"
        )
    if not isinstance(options.allow_classical, bool):
        raise SealArgumentError("allow_classical must be True or False")
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
    bundles = unique_recipients(recipients, options.limits)
    current = int(time.time()) if now is None else now
    _check_options(options, current)
    if size > options.limits.max_payload_size:
        raise errors.LimitExceededError("payload exceeds the maximum payload size")
    if not options.allow_classical:
        agreement.refuse_downgrade(bundles)
    content_key = randomness.draw_content_key(suite.CONTENT_KEY_SIZE, rng)
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
    stanzas = _stanzas(sender, bundles, core_bytes, content_key, options, rng, current)
    header_bytes = hdr.encode_header(core_bytes, stanzas)
    if len(header_bytes) - hdr.PREFIX_SIZE - 4 > options.limits.max_header_size:
        raise errors.LimitExceededError("too many recipients or too much metadata for one header")
    return _Prepared(header_bytes, encryptor, size)


def _stanzas(
    sender: Identity,
    bundles: list[KeyBundle],
    core_bytes: bytes,
    content_key: bytes,
    options: SealOptions,
    rng: primitives.Rng | None,
    now: int,
) -> list[hdr.Stanza]:
    """One stanza per recipient, in order (each takes its one-time prekeys)."""
    context = suite.stanza_context(core_bytes)
    return [
        agreement.make_stanza(
            sender,
            bundle,
            context,
            content_key,
            one_time_prekey=options.one_time_prekey,
            allow_classical=options.allow_classical,
            rng=rng,
            now=now,
        )
        for bundle in bundles
    ]


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
    out = membuf.plain_bytearray(_blob_length(prepared, options))
    _fill(memoryview(out), buffers, prepared, sender, progress)
    return out


def _blob_length(prepared: _Prepared, options: SealOptions) -> int:
    payload_len = stream.ciphertext_length(prepared.size, options.chunk_size)
    return len(prepared.header_bytes) + payload_len + hdr.SIGNATURE_SIZE


def _signer(sender: Identity, header: bytes) -> Callable[[bytes], bytes]:
    """The sender's signature over ``header`` and a payload digest (envelope.md section 7)."""
    return lambda digest: sender._sign_envelope(suite.signed_message(header, digest))


def _fill(
    blob: memoryview,
    buffers: Sequence[Buffer],
    prepared: _Prepared,
    sender: Identity,
    progress: Progress | None,
) -> None:
    """Header, payload (chunk ranges on every core, see envelope.parallel), signature."""
    header = prepared.header_bytes
    parallel.fill_blob(
        blob,
        header,
        prepared.encryptor,
        buffers,
        _signer(sender, header),
        progress=progress,
    )


def _small_blob(buffers: Sequence[Buffer], prepared: _Prepared, sender: Identity) -> bytes:
    """The blob of a one-chunk payload, joined once (the same bytes as :func:`_fill`)."""
    encryptor = prepared.encryptor
    plaintext = b"".join([memoryview(b).cast("B") for b in buffers])  # refusals as _fill's
    payload = encryptor.prefix + encryptor.encrypt_chunk(0, plaintext)
    header = prepared.header_bytes
    digest = suite.payload_digest(payload)
    return b"".join((header, payload, _signer(sender, header)(digest)))


def seal_bytes(
    buffers: Sequence[Buffer],
    *,
    sender: Identity,
    recipients: Sequence[KeyBundle],
    options: SealOptions | None = None,
    rng: primitives.Rng | None = None,
    now: int | None = None,
) -> bytes:
    """Like :func:`seal_buffers`, into a ``bytes`` filled in place (no final copy).

    Large blobs live in huge-page-advised memory (envelope.buffers.blob_bytes).

    Returns:
        The sealed blob as bytes.
    """
    options = options or SealOptions()
    prepared = _prepare(_total_size(buffers), sender, recipients, options, rng, now)
    if prepared.size < options.chunk_size:  # one chunk (issue 18): one join, no threads
        return _small_blob(buffers, prepared, sender)
    return membuf.blob_bytes(
        _blob_length(prepared, options),
        lambda view: _fill(view, buffers, prepared, sender, None),
    )


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

    Memory stays bounded whatever the payload size: a few chunks, or for large payloads
    envelope.segmented's ring of a few 2 MiB segments (encrypted, hashed and written
    on every core).

    Returns:
        The number of bytes written.
    """
    options = options or SealOptions()
    prepared = _prepare(_total_size(buffers), sender, recipients, options, rng, now)
    if segmented.worthwhile(prepared.size, options.chunk_size):  # issue 18: every core
        header, sign = prepared.header_bytes, _signer(sender, prepared.header_bytes)
        return segmented.seal_into(
            write, header, prepared.encryptor, buffers, sign, progress=progress
        )
    segmented.write_all(write, memoryview(prepared.header_bytes))
    written = len(prepared.header_bytes)

    def emit(piece: memoryview) -> None:
        nonlocal written
        segmented.write_all(write, piece)
        written += len(piece)

    digest = pipeline.encrypt_streaming(buffers, prepared.encryptor, prepared.size, emit, progress)
    signature = _signer(sender, prepared.header_bytes)(digest)
    segmented.write_all(write, memoryview(signature))
    return written + len(signature)
