"""Opening: every check passes before a single plaintext byte leaves this module.

Order (docs/spec/envelope.md section 8): parse the header under limits -> the blob
has exactly the announced length -> the sender is known, trusted and unambiguous
(before the payload is hashed: an unknown sender costs the header only) -> BLAKE3
of the payload and the Ed25519 signature -> validity window -> the caller's expected
context -> replay look-up (records nothing; a held row with the same digest is a
redelivery) -> this recipient's stanza (a classical stanza to a hybrid recipient is
a downgrade) -> PQXDH/X3DH respond *without consuming* and unwrap the content key ->
key commitment -> decrypt and authenticate every chunk -> the caller's decode (if any;
its errors record nothing) -> one durable commit (message id, digest, consumed one-time
prekeys) -> hand the result to the caller.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TypeVar

from sealpack import errors, primitives
from sealpack.envelope import agreement, buffers, delivery, parallel, stream, suite
from sealpack.envelope import header as hdr
from sealpack.envelope.expect import check_expected
from sealpack.envelope.failures import failures_as_sealpack_errors
from sealpack.envelope.opened import (
    DEFAULT_CLOCK_SKEW,
    MAX_CLOCK_SKEW,
    OpenOptions,
    Progress,
    UnsealedInfo,
)
from sealpack.envelope.senders import Sender, SenderResolver
from sealpack.keys import Identity

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "MAX_CLOCK_SKEW",
    "OpenOptions",
    "Opening",
    "Sender",
    "SenderResolver",
    "UnsealedInfo",
    "content_key_for",
    "decrypt_payload",
    "failures_as_sealpack_errors",
    "finish",
    "open_buffer",
    "open_buffer_then",
    "resolve",
    "unlock",
    "verify",
]

Buffer = bytes | bytearray | memoryview
T = TypeVar("T")


def resolve(header: hdr.Header, resolve_sender: SenderResolver) -> Sender:
    """Resolve the header's sender key to a trusted Sender (nothing hashed yet).

    Raises:
        UnknownSenderError, UntrustedSenderError, AmbiguousSenderError.
    """
    sender = resolve_sender(header.core.sender_key)
    if not hmac.compare_digest(sender.identity_key, header.core.sender_key):
        raise errors.UnknownSenderError("sender resolution returned another identity")
    return sender


def verify(
    header: hdr.Header,
    sender: Sender,
    digest: bytes,
    signature: bytes,
    options: OpenOptions,
    *,
    recipient: Identity | None = None,
) -> None:
    """Verify the signature, the validity window, then the caller's expected context.

    Past its expiry, a blob ``recipient`` holds (not acknowledged) is a redelivery.

    Raises:
        TamperedError: the signature does not verify.
        ExpiredError: outside [created - skew, expires + skew].
        ContextMismatchError: the signed metadata is not what the caller expects.
    """
    core = header.core
    message = suite.signed_message(header.header_view, digest)
    if not primitives.ed25519_verify(sender.identity_key, signature, message):
        raise errors.TamperedError()
    now = options.current_time()
    if now > core.expires + options.clock_skew and not (
        recipient and delivery.is_held(recipient, sender.key_id, core.message_id, digest)
    ):
        raise errors.ExpiredError(f"sealed blob expired at {core.expires} (now {now})")
    if core.created > now + options.clock_skew:
        raise errors.ExpiredError(f"sealed blob is dated in the future ({core.created}, now {now})")
    check_expected(core.metadata, options.expect_metadata)


class Opening:
    """One authenticated blob on its way to a recipient: look-up, unlock, commit."""

    def __init__(
        self,
        header: hdr.Header,
        sender: Sender,
        digest: bytes,
        recipient: Identity,
        options: OpenOptions,
    ) -> None:
        """Look the message up (records nothing).

        Raises:
            ReplayError: already delivered (done, or held with another digest).
        """
        self.header, self.sender, self.recipient, self.options = header, sender, recipient, options
        self.receipt = delivery.Receipt(
            recipient.key_id, sender.key_id, header.core.message_id, digest
        )
        self.redelivered = delivery.prior_delivery(
            recipient, sender.key_id, header.core.message_id, digest
        )
        self._used = delivery.UsedPrekeys()

    def unlock(self, payload_prefix: Buffer) -> stream.ChunkDecryptor:
        """Stanza, key agreement (consuming nothing), content key, key commitment.

        Raises:
            NotARecipientError, DowngradeError, PrekeyError, TamperedError.
        """
        content_key, self._used = agreement.content_key_for(
            self.header, self.recipient, self.options.current_time()
        )
        return decryptor_for(self.header, content_key, payload_prefix)

    def commit(self) -> UnsealedInfo:
        """Record the delivery durably (after every chunk authenticated); return the info.

        Raises:
            ReplayError: a concurrent open committed first. KeyStoreError: storage.
        """
        options = self.options
        delivery.commit(
            self.recipient,
            self.receipt,
            self.header.core.expires + options.clock_skew,
            self._used,
            hold=options.hold,
            redelivered=self.redelivered,
            now=options.current_time(),
        )
        return finish(self.header, self.sender, self)


def decryptor_for(
    header: hdr.Header, content_key: bytes, payload_prefix: Buffer
) -> stream.ChunkDecryptor:
    """The chunk decryptor of a payload, after its key commitment matched.

    Raises:
        TamperedError: the key commitment does not match.
    """
    return stream.ChunkDecryptor(
        content_key,
        payload_prefix,
        context=suite.payload_context(header.core_bytes),
        chunk_size=header.core.chunk_size,
    )


def unlock(
    header: hdr.Header, recipient: Identity, payload_prefix: Buffer, options: OpenOptions
) -> stream.ChunkDecryptor:
    """Key agreement and key commitment only (consumes and records nothing)."""
    key, _ = agreement.content_key_for(header, recipient, options.current_time())
    return decryptor_for(header, key, payload_prefix)


def content_key_for(header: hdr.Header, recipient: Identity, now: int) -> bytes:
    """This recipient's stanza -> key agreement -> the content key (no other check)."""
    return agreement.content_key_for(header, recipient, now)[0]


def decrypt_payload(
    decryptor: stream.ChunkDecryptor,
    size: int,
    read_chunk: Callable[[int], Buffer],
    place: Callable[[int, int], memoryview],
    flush: Callable[[memoryview], object],
    progress: Progress | None,
) -> None:
    """Decrypt chunk after chunk: ``read_chunk(len)`` -> ``place(offset, len)`` -> ``flush``."""
    chunk_size = decryptor.chunk_size
    for index in range(stream.chunk_count(size, chunk_size)):
        offset = index * chunk_size
        length = min(chunk_size, size - offset)
        target = place(offset, length)
        decryptor.decrypt_chunk_into(index, read_chunk(length + stream.TAG_SIZE), target)
        flush(target)
        if progress is not None:
            progress(offset + length, size)


def finish(header: hdr.Header, sender: Sender, opening: Opening | None = None) -> UnsealedInfo:
    """Build the verified info of an authenticated (and committed) header."""
    core = header.core
    stanza = None if opening is None else header.stanza_for(opening.recipient.key_id)
    held = opening is not None and opening.options.hold
    return UnsealedInfo(
        sender,
        core.message_id,
        core.created,
        core.expires,
        core.content_type,
        dict(core.metadata),
        core.size,
        header.stanza_count,
        hybrid=stanza is None or stanza.hybrid,
        redelivered=opening is not None and opening.redelivered,
        receipt=opening.receipt if held and opening is not None else None,
    )


def _as_is(plaintext: bytearray) -> bytearray:
    return plaintext


def open_buffer(
    blob: Buffer,
    *,
    recipient: Identity,
    resolve_sender: SenderResolver,
    options: OpenOptions | None = None,
) -> tuple[bytearray, UnsealedInfo]:
    """Verify and decrypt an in-memory blob into one preallocated buffer.

    :func:`open_buffer_then` with the plaintext itself as the result; arguments, return
    value and errors as there.
    """
    return open_buffer_then(
        blob, recipient=recipient, resolve_sender=resolve_sender, options=options, decode=_as_is
    )


def open_buffer_then(
    blob: Buffer,
    *,
    recipient: Identity,
    resolve_sender: SenderResolver,
    decode: Callable[[bytearray], T],
    options: OpenOptions | None = None,
) -> tuple[T, UnsealedInfo]:
    """Verify and decrypt an in-memory blob, ``decode`` the plaintext, then commit.

    ``decode`` runs after every chunk authenticated and before the commit, so an error
    it raises (a DecodeError, the SchemaError of a typed ``expect=``) records nothing
    and consumes no prekey: the blob can be opened again (e.g. after registering a type).

    Args:
        blob: the sealed blob.
        recipient: the opening identity.
        resolve_sender: maps the header's sender key to a trusted Sender, or raises.
        decode: turns the plaintext (writable, so a codec can decode zero-copy views)
            into the result.
        options: time, skew, limits, progress, expected context, hold.

    Returns:
        ``decode(plaintext)`` and the verified info.

    Raises:
        TamperedError, UnsupportedVersionError, LimitExceededError, UnknownSenderError,
        UntrustedSenderError, AmbiguousSenderError, ExpiredError, ContextMismatchError,
        ReplayError, NotARecipientError, DowngradeError, PrekeyError, KeyStoreError,
        StorageError, SealpackError (anything unexpected; nothing delivered).
    """
    options = options or OpenOptions()
    with failures_as_sealpack_errors():
        header, payload, signature = _split_blob(blob, options.limits)
        sender = resolve(header, resolve_sender)
        digest = parallel.payload_digest(payload)  # BLAKE3 on every core (issue 18)
        verify(header, sender, digest, signature, options, recipient=recipient)
        opening = Opening(header, sender, digest, recipient, options)
        decryptor = opening.unlock(payload[: stream.PREFIX_SIZE])
        plaintext = _decrypt_in_memory(decryptor, payload, header.core.size, options.progress)
    result = decode(plaintext)
    with failures_as_sealpack_errors():
        return result, opening.commit()


def _split_blob(blob: Buffer, limits: hdr.EnvelopeLimits) -> tuple[hdr.Header, memoryview, bytes]:
    """Parse the header and cut the blob into header, payload and signature."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        kind = type(blob).__name__
        raise errors.SealArgumentError(f"a sealed blob must be bytes-like, not {kind}")
    view = memoryview(blob).cast("B")
    header = hdr.parse_header(view, limits)
    if len(view) != header.total_length:
        raise errors.TamperedError()
    end = len(view) - hdr.SIGNATURE_SIZE
    return header, view[header.header_length : end], bytes(view[end:])


def _decrypt_in_memory(
    decryptor: stream.ChunkDecryptor, payload: memoryview, size: int, progress: Progress | None
) -> bytearray:
    out = buffers.plain_bytearray(size)  # huge-page advised; every byte is overwritten
    parallel.decrypt_chunks(decryptor, payload, memoryview(out), progress=progress)
    return out
