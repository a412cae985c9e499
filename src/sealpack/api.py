"""The public sealing API: seal / unseal / inspect and their streaming forms.

This module only joins the codec (sealpack.serialization) and the envelope
(sealpack.envelope); all cryptography lives in the envelope. SecureSerializer lives
in :mod:`sealpack.secure_serializer` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any, TypedDict

from sealpack import primitives
from sealpack.envelope import fileio, files, opener, sealer
from sealpack.envelope import header as hdr
from sealpack.envelope.info import EnvelopeInfo, describe
from sealpack.envelope.opener import OpenOptions, UnsealedInfo
from sealpack.envelope.sealer import SealArgumentError, SealOptions
from sealpack.envelope.senders import (
    SenderResolver,
    Senders,
    identity_of,
    sender_resolver,
    trust_of,
)
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.keys.arguments import require_now, require_rng
from sealpack.secure_serializer import SecureSerializer
from sealpack.serialization import Codec, default_codec

__all__ = [
    "EnvelopeInfo",
    "SealArgumentError",
    "SecureSerializer",
    "UnsealedInfo",
    "inspect",
    "seal",
    "seal_buffer",
    "seal_frame_to",
    "seal_to",
    "unseal",
    "unseal_frame_to",
    "unseal_from",
]

Buffer = bytes | bytearray | memoryview
FileOrPath = fileio.FileOrPath
Progress = sealer.Progress
DEFAULT_EXPIRES_IN = sealer.DEFAULT_EXPIRES_IN
DEFAULT_CONTENT_TYPE = sealer.DEFAULT_CONTENT_TYPE
DEFAULT_CLOCK_SKEW = opener.DEFAULT_CLOCK_SKEW


class _SealArgs(TypedDict):
    sender: Identity
    recipients: Sequence[KeyBundle]
    options: SealOptions


class _OpenArgs(TypedDict):
    recipient: Identity
    resolve_sender: SenderResolver


def _sealing(
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None,
    expires_in: int,
    content_type: str,
    one_time_prekey: bool,
) -> _SealArgs:
    """The sealer's sender, recipients and options, from the public keyword arguments."""
    if not isinstance(one_time_prekey, bool):
        raise SealArgumentError("one_time_prekey must be True or False")
    if not isinstance(recipients, Sequence) or isinstance(recipients, (str, bytes)):
        raise SealArgumentError("recipients must be a list of KeyBundle")
    options = SealOptions(
        metadata=metadata,
        expires_in=expires_in,
        content_type=content_type,
        one_time_prekey=one_time_prekey,
    )
    return {"sender": identity_of(sender), "recipients": recipients, "options": options}


def _opening(recipient: Identity | KeyStore, senders: Senders) -> _OpenArgs:
    """The opener's recipient and sender resolver (checked against the store's pins)."""
    identity = identity_of(recipient)
    return {"recipient": identity, "resolve_sender": sender_resolver(senders, trust_of(recipient))}


def _decoded(plaintext: Buffer, info: UnsealedInfo, codec: Codec | None, with_info: bool) -> Any:
    obj = (codec or default_codec()).loads(plaintext)
    return (obj, info) if with_info else obj


def seal(
    obj: object,
    *,
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
    content_type: str = DEFAULT_CONTENT_TYPE,
    one_time_prekey: bool = True,
    codec: Codec | None = None,
    rng: primitives.Rng | None = None,
    now: int | None = None,
) -> bytes:
    """Serialize ``obj`` and seal it for ``recipients``, signed by ``sender``.

    Arguments and errors are those of :func:`seal_buffer`. Returning ``bytes`` costs one
    copy of the blob; for large payloads prefer :func:`seal_buffer` (no copy) or
    :func:`seal_to` (bounded memory).

    Returns:
        The sealed blob.
    """
    blob = seal_buffer(
        obj,
        sender=sender,
        recipients=recipients,
        metadata=metadata,
        expires_in=expires_in,
        content_type=content_type,
        one_time_prekey=one_time_prekey,
        codec=codec,
        rng=rng,
        now=now,
    )
    return bytes(blob)


def seal_buffer(
    obj: object,
    *,
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
    content_type: str = DEFAULT_CONTENT_TYPE,
    one_time_prekey: bool = True,
    codec: Codec | None = None,
    rng: primitives.Rng | None = None,
    now: int | None = None,
) -> bytearray:
    """Like :func:`seal`, returning the blob as the bytearray it was encrypted into.

    The codec's buffers are encrypted chunk by chunk straight into one preallocated
    blob: extra memory is the blob itself, no joined plaintext, no final copy.

    Args:
        obj: any object the codec can encode.
        sender: the sealing identity (or a KeyStore holding it).
        recipients: verified KeyBundles of everyone who may open the blob.
        metadata: small app metadata (plain msgpack values), signed, readable by inspect.
        expires_in: seconds the blob stays valid.
        content_type: informational label in the signed header.
        one_time_prekey: use one of each recipient's one-time prekeys (the first one this
            sender has not used, tracked by ``sender.prekey_usage``, durable in a KeyStore);
            False seals with the signed prekey only.
        codec: the codec (default: the fobs module codec).
        rng: randomness source (default os.urandom); now: seconds since the epoch.

    Returns:
        The sealed blob.

    Raises:
        SerializationTypeError: ``obj`` holds an unregistered type.
        SealArgumentError, PrekeyError, LimitExceededError: bad arguments or bundles.
    """
    sealing = _sealing(sender, recipients, metadata, expires_in, content_type, one_time_prekey)
    rng, now = require_rng(rng), require_now(now)
    buffers = (codec or default_codec()).dumps_buffers(obj)
    return sealer.seal_buffers(buffers, **sealing, rng=rng, now=now)


def unseal(
    blob: Buffer,
    *,
    recipient: Identity | KeyStore,
    senders: Senders,
    with_metadata: bool = False,
    codec: Codec | None = None,
    now: int | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
) -> Any:
    """Verify a sealed blob completely, then deserialize it.

    Args:
        blob: the sealed blob.
        recipient: the opening identity or KeyStore (its replay guard and trust pins apply).
        senders: bundles of accepted senders, or a TrustStore.
        with_metadata: also return the verified UnsealedInfo.
        codec: the codec (default: the fobs module codec).
        now: seconds since the epoch; clock_skew: allowed clock difference in seconds
            (0 .. 86400, the replay store's retention slack).

    Returns:
        The object, or ``(object, UnsealedInfo)`` when ``with_metadata``.

    Raises:
        TamperedError, UnknownSenderError, UntrustedSenderError, ExpiredError,
        NotARecipientError, ReplayError (also for a replay that used a one-time prekey),
        PrekeyError, UnsupportedVersionError, LimitExceededError, DecodeError.
        SealArgumentError: ``clock_skew`` out of range.
    """
    plaintext, info = opener.open_buffer(
        blob, **_opening(recipient, senders), options=OpenOptions(now=now, clock_skew=clock_skew)
    )
    return _decoded(plaintext, info, codec, with_metadata)


def seal_frame_to(
    frame: Buffer | Sequence[Buffer],
    file_or_path: FileOrPath,
    *,
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
    content_type: str = DEFAULT_CONTENT_TYPE,
    one_time_prekey: bool = True,
    rng: primitives.Rng | None = None,
    now: int | None = None,
    progress: Progress | None = None,
) -> None:
    """Seal already-encoded bytes (one buffer or a list of them) to a file, chunk by chunk.

    A path is written atomically (temp file + rename). Arguments as :func:`seal`;
    ``progress(done, total)`` is called after every chunk.
    """
    buffers: list[Buffer] = list(frame) if isinstance(frame, (list, tuple)) else [frame]  # type: ignore[list-item]
    if not all(isinstance(b, (bytes, bytearray, memoryview)) for b in buffers):
        raise SealArgumentError("frame must be bytes-like, or a list of bytes-like buffers")
    sealing = _sealing(sender, recipients, metadata, expires_in, content_type, one_time_prekey)
    rng, now = require_rng(rng), require_now(now)
    with fileio.atomic_output(file_or_path) as sink:
        sealer.seal_buffers_to(buffers, sink.write, **sealing, rng=rng, now=now, progress=progress)


def seal_to(
    obj: object,
    file_or_path: FileOrPath,
    *,
    codec: Codec | None = None,
    **kwargs: Any,
) -> None:
    """Like :func:`seal`, but stream the blob to a file or path with bounded extra memory.

    The codec's out-of-band buffers go through the cipher chunk by chunk; nothing is
    concatenated. Keyword arguments are those of :func:`seal` (plus ``progress``).
    """
    seal_frame_to((codec or default_codec()).dumps_buffers(obj), file_or_path, **kwargs)


def unseal_from(
    file_or_path: FileOrPath,
    *,
    recipient: Identity | KeyStore,
    senders: Senders,
    with_metadata: bool = False,
    codec: Codec | None = None,
    now: int | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    progress: Progress | None = None,
) -> Any:
    """Like :func:`unseal`, reading the blob from a file or path chunk by chunk.

    Extra memory is one plaintext buffer (the object's own memory) plus one chunk. An
    unseekable stream (a pipe) is first spooled to an anonymous temporary file, up to
    the length its header announces (checked against the limits).
    """
    options = OpenOptions(now=now, clock_skew=clock_skew, progress=progress)
    with fileio.seekable_input(file_or_path, options.limits) as source:
        plaintext, info = files.open_file(source, **_opening(recipient, senders), options=options)
    return _decoded(plaintext, info, codec, with_metadata)


def unseal_frame_to(
    file_or_path: FileOrPath,
    destination: str | PathLike[str],
    *,
    recipient: Identity | KeyStore,
    senders: Senders,
    now: int | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    progress: Progress | None = None,
) -> UnsealedInfo:
    """Verify a sealed file and write its plaintext frame to ``destination``.

    The plaintext goes to a 0600 temp file renamed over ``destination`` only after
    every check passed; nothing is written on failure. An unseekable stream is spooled
    as in :func:`unseal_from`. Errors as :func:`unseal`.
    """
    options = OpenOptions(now=now, clock_skew=clock_skew, progress=progress)
    with fileio.seekable_input(file_or_path, options.limits) as source:
        return files.open_file_to_path(
            source, destination, **_opening(recipient, senders), options=options
        )


def inspect(blob: Buffer | FileOrPath) -> EnvelopeInfo:
    """Read the header facts of a sealed blob without verifying or decrypting anything.

    Args:
        blob: the blob's bytes, a path or a binary file.

    Returns:
        EnvelopeInfo (``verified`` is False: these are claims, not facts).

    Raises:
        TamperedError: not a well-formed header. UnsupportedVersionError, LimitExceededError.
        SealArgumentError: ``blob`` is none of these types, or the file cannot be read.
    """
    limits = hdr.EnvelopeLimits()
    if isinstance(blob, (bytes, bytearray, memoryview)):
        return describe(hdr.parse_header(memoryview(blob), limits))
    with fileio.readable_input(blob) as source:
        return describe(files.read_header(source, limits))
