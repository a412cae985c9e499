"""Opening: every check passes before a single plaintext byte leaves this module.

Order: parse the header under limits -> the blob has exactly the announced length ->
the sender is known and trusted -> SHA-256 of the payload and the Ed25519 signature
-> validity window -> replay look-up (records nothing) -> this recipient's stanza ->
X3DH respond (may consume a one-time prekey) and unwrap the content key -> key
commitment -> decrypt and authenticate every chunk -> replay guard records the id
(durable) -> hand the plaintext to the caller.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sealpack import errors, primitives, x3dh
from sealpack.envelope import header as hdr
from sealpack.envelope import stream, suite
from sealpack.envelope.senders import Sender, SenderResolver
from sealpack.keys import Identity
from sealpack.keys.arguments import require_now
from sealpack.keys.replay import RETENTION_SLACK

__all__ = [
    "OpenOptions",
    "Sender",
    "SenderResolver",
    "UnsealedInfo",
    "authenticate",
    "content_key_for",
    "decrypt_payload",
    "open_buffer",
    "refuse_replay",
    "unlock",
]

Buffer = bytes | bytearray | memoryview
Progress = Callable[[int, int], None]
DEFAULT_CLOCK_SKEW = 300
MAX_CLOCK_SKEW = RETENTION_SLACK
"""A larger skew would let a blob stay valid after the replay guard forgot its id."""


@dataclass(frozen=True)
class OpenOptions:
    """Time, clock skew allowance, parse limits and an optional progress callback.

    Raises:
        SealArgumentError: ``clock_skew`` is not an int in 0..MAX_CLOCK_SKEW (one day),
            or ``now`` is neither None nor an int.
    """

    now: int | None = None
    clock_skew: int = DEFAULT_CLOCK_SKEW
    limits: hdr.EnvelopeLimits = field(default_factory=hdr.EnvelopeLimits)
    progress: Progress | None = None

    def __post_init__(self) -> None:
        require_now(self.now)
        skew = self.clock_skew
        if not isinstance(skew, int) or isinstance(skew, bool):
            raise errors.SealArgumentError("clock_skew must be an int number of seconds")
        if not 0 <= skew <= MAX_CLOCK_SKEW:
            raise errors.SealArgumentError(
                f"clock_skew must be within 0..{MAX_CLOCK_SKEW} seconds, got {skew}"
            )

    def current_time(self) -> int:
        """``now`` or the system clock."""
        return int(time.time()) if self.now is None else self.now


@dataclass(frozen=True)
class UnsealedInfo:
    """Verified facts about an opened blob."""

    sender: Sender
    message_id: bytes
    created: int
    expires: int
    content_type: str
    metadata: dict[str, Any]
    size: int
    recipient_count: int

    @property
    def sender_name(self) -> str:
        """The name the trusted sender is known by."""
        return self.sender.name

    @property
    def sender_fingerprint(self) -> str:
        """The sender's safety number."""
        return self.sender.fingerprint()


def authenticate(
    header: hdr.Header,
    payload_digest: bytes,
    signature: bytes,
    resolve_sender: SenderResolver,
    options: OpenOptions,
) -> Sender:
    """Resolve the sender, verify the signature, then the validity window.

    Raises:
        UnknownSenderError, UntrustedSenderError: from ``resolve_sender``.
        TamperedError: the signature does not verify.
        ExpiredError: outside [created - skew, expires + skew].
    """
    core = header.core
    sender = resolve_sender(core.sender_key)
    if not hmac.compare_digest(sender.identity_key, core.sender_key):
        raise errors.UnknownSenderError("sender resolution returned another identity")
    message = suite.signed_message(header.header_bytes, payload_digest)
    if not primitives.ed25519_verify(sender.identity_key, signature, message):
        raise errors.TamperedError()
    now = options.current_time()
    if now > core.expires + options.clock_skew:
        raise errors.ExpiredError(f"sealed blob expired at {core.expires} (now {now})")
    if core.created > now + options.clock_skew:
        raise errors.ExpiredError(f"sealed blob is dated in the future ({core.created}, now {now})")
    return sender


def unlock(
    header: hdr.Header, recipient: Identity, payload_prefix: Buffer, options: OpenOptions
) -> stream.ChunkDecryptor:
    """Find this recipient's stanza, run X3DH, unwrap the content key, check the commitment.

    Raises:
        NotARecipientError: no stanza for this identity.
        PrekeyError: the stanza names a signed/one-time prekey this identity lacks
            (or a one-time prekey already used by another message).
        TamperedError: the wrapped key or the key commitment fails.
    """
    return stream.ChunkDecryptor(
        content_key_for(header, recipient, options.current_time()),
        payload_prefix,
        context=suite.payload_context(header.core_bytes),
        chunk_size=header.core.chunk_size,
    )


def content_key_for(header: hdr.Header, recipient: Identity, now: int) -> bytes:
    """This recipient's stanza -> X3DH respond -> the unwrapped content key (no other check).

    Raises:
        NotARecipientError, PrekeyError, TamperedError: as :func:`unlock`.
    """
    stanza = next((s for s in header.stanzas if s.recipient_key_id == recipient.key_id), None)
    if stanza is None:
        raise errors.NotARecipientError(f"this sealed blob is not addressed to {recipient.name!r}")
    agreed = x3dh.respond(
        recipient,
        x3dh.X3DHHeader(
            header.core.sender_key,
            stanza.ephemeral_key,
            stanza.signed_prekey_id,
            stanza.one_time_prekey_id,
        ),
        context=suite.stanza_context(header.core_bytes),
        now=now,
    )
    return suite.unwrap_content_key(agreed.shared_key, agreed.associated_data, stanza.wrapped_key)


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


def info_for(header: hdr.Header, sender: Sender) -> UnsealedInfo:
    """Build the verified info of an authenticated header."""
    core = header.core
    return UnsealedInfo(
        sender,
        core.message_id,
        core.created,
        core.expires,
        core.content_type,
        dict(core.metadata),
        core.size,
        len(header.stanzas),
    )


def refuse_replay(header: hdr.Header, sender: Sender, recipient: Identity) -> None:
    """Look the message id up (recording nothing); call after authenticate, before unlock.

    Raises:
        ReplayError: this recipient already accepted the message.
    """
    if recipient.replay_guard.seen(sender.key_id, header.core.message_id):
        raise errors.ReplayError("message was already accepted (replay)")


def accept_once(
    header: hdr.Header, sender: Sender, recipient: Identity, options: OpenOptions
) -> None:
    """Record the message id in the recipient's replay guard (ReplayError if seen).

    The id is kept until ``expires + clock_skew`` (the last second this opener would
    accept the blob) plus the guard's retention slack.
    """
    core = header.core
    last_valid = core.expires + options.clock_skew
    recipient.replay_guard.accept(
        sender.key_id, core.message_id, last_valid, now=options.current_time()
    )


def open_buffer(
    blob: Buffer,
    *,
    recipient: Identity,
    resolve_sender: SenderResolver,
    options: OpenOptions | None = None,
) -> tuple[bytearray, UnsealedInfo]:
    """Verify and decrypt an in-memory blob into one preallocated buffer.

    Args:
        blob: the sealed blob.
        recipient: the opening identity.
        resolve_sender: maps the header's sender key to a trusted bundle, or raises.
        options: time, skew, limits, progress.

    Returns:
        The plaintext (writable, so a codec can decode zero-copy views) and its info.

    Raises:
        TamperedError, UnsupportedVersionError, LimitExceededError, UnknownSenderError,
        UntrustedSenderError, ExpiredError, NotARecipientError, PrekeyError, ReplayError.
    """
    options = options or OpenOptions()
    header, payload, signature = _split_blob(blob, options.limits)
    hasher = suite.PayloadHasher()
    hasher.update(payload)
    sender = authenticate(header, hasher.digest(), signature, resolve_sender, options)
    refuse_replay(header, sender, recipient)
    decryptor = unlock(header, recipient, payload[: stream.PREFIX_SIZE], options)
    plaintext = _decrypt_in_memory(decryptor, payload, header.core.size, options.progress)
    accept_once(header, sender, recipient, options)
    return plaintext, info_for(header, sender)


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
    return header, view[len(header.header_bytes) : end], bytes(view[end:])


def _decrypt_in_memory(
    decryptor: stream.ChunkDecryptor, payload: memoryview, size: int, progress: Progress | None
) -> bytearray:
    out = bytearray(size)
    out_view = memoryview(out)
    position = stream.PREFIX_SIZE

    def read_chunk(length: int) -> memoryview:
        nonlocal position
        position += length
        return payload[position - length : position]

    decrypt_payload(
        decryptor,
        size,
        read_chunk,
        lambda offset, length: out_view[offset : offset + length],
        lambda _: None,
        progress,
    )
    return out
