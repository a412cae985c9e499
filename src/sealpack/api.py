"""The public sealing API: seal / unseal / inspect and their streaming forms.

This module only joins the codec (sealpack.serialization) and the envelope
(sealpack.envelope); all cryptography lives in the envelope. The opening functions
(unseal, unseal_from, unseal_frame_to, acknowledge) live in :mod:`sealpack.unsealing`
and SecureSerializer in :mod:`sealpack.secure_serializer`; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from sealpack import primitives
from sealpack.envelope import fileio, files, opener, sealer
from sealpack.envelope import header as hdr
from sealpack.envelope.info import EnvelopeInfo, describe
from sealpack.envelope.opened import DEFAULT_LIMITS
from sealpack.envelope.opener import UnsealedInfo
from sealpack.envelope.sealer import SealArgumentError, SealOptions
from sealpack.envelope.senders import check_pinned, identity_of, trust_of
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.keys.arguments import require_now, require_rng
from sealpack.secure_serializer import SecureSerializer
from sealpack.serialization import Codec, default_codec
from sealpack.unsealing import acknowledge, unseal, unseal_frame_to, unseal_from

__all__ = [
    "EnvelopeInfo",
    "SealArgumentError",
    "SecureSerializer",
    "UnsealedInfo",
    "acknowledge",
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


_PLAIN_OPTIONS: dict[tuple[int, str, bool, bool], SealOptions] = {}
"""SealOptions without metadata, built once per combination (frozen; issue 18)."""
_PLAIN_OPTIONS_MAX = 64


def _seal_options(
    metadata: Mapping[str, Any] | None,
    expires_in: int,
    content_type: str,
    one_time_prekey: bool,
    allow_classical: bool,
) -> SealOptions:
    """The sealer's options (a shared instance for the common case of no metadata)."""
    key = (expires_in, content_type, one_time_prekey, allow_classical)
    plain = metadata is None and type(expires_in) is int and type(content_type) is str
    if plain and type(allow_classical) is bool:
        cached = _PLAIN_OPTIONS.get(key)
        if cached is not None:
            return cached
    options = SealOptions(
        metadata=metadata,
        expires_in=expires_in,
        content_type=content_type,
        one_time_prekey=one_time_prekey,
        allow_classical=allow_classical,
        limits=DEFAULT_LIMITS,
    )
    if plain and type(allow_classical) is bool and len(_PLAIN_OPTIONS) < _PLAIN_OPTIONS_MAX:
        _PLAIN_OPTIONS[key] = options
    return options


def _sealing(
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None,
    expires_in: int,
    content_type: str,
    one_time_prekey: bool,
    *,
    allow_classical: bool = False,
) -> _SealArgs:
    """The sealer's sender, recipients and options, from the public keyword arguments.

    With a KeyStore as sender, every recipient bundle is checked against the store's
    trust pins first (IdentityChangedError before anything is sealed; issue 19.5).
    """
    if not isinstance(one_time_prekey, bool):
        raise SealArgumentError("one_time_prekey must be True or False")
    if type(recipients) is not list and (
        not isinstance(recipients, Sequence) or isinstance(recipients, (str, bytes))
    ):
        raise SealArgumentError("recipients must be a list of KeyBundle")
    options = _seal_options(metadata, expires_in, content_type, one_time_prekey, allow_classical)
    identity = identity_of(sender)
    bundles = sealer.unique_recipients(recipients, options.limits)  # the limit before pinning
    check_pinned(trust_of(sender), bundles)
    return {"sender": identity, "recipients": bundles, "options": options}


def _encoded_and_sealing(
    obj: object,
    codec: Codec | None,
    *sealing_args: Any,
    allow_classical: bool,
) -> tuple[Sequence[Buffer], _SealArgs]:
    """Check the sealing arguments (pins first), then encode ``obj`` with ``codec``."""
    sealing = _sealing(*sealing_args, allow_classical=allow_classical)
    return (codec or default_codec()).dumps_buffers(obj), sealing


def seal(
    obj: object,
    *,
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
    content_type: str = DEFAULT_CONTENT_TYPE,
    one_time_prekey: bool = True,
    allow_classical: bool = False,
    codec: Codec | None = None,
    rng: primitives.Rng | None = None,
    now: int | None = None,
) -> bytes:
    """Serialize ``obj`` and seal it for ``recipients``, signed by ``sender``.

    Arguments and errors are those of :func:`seal_buffer`. The ``bytes`` is encrypted
    into in place (no copy; huge-page-advised memory for large blobs, see
    docs/PERFORMANCE.md); :func:`seal_to` keeps memory bounded.

    Returns:
        The sealed blob.
    """
    buffers, sealing = _encoded_and_sealing(
        obj,
        codec,
        sender,
        recipients,
        metadata,
        expires_in,
        content_type,
        one_time_prekey,
        allow_classical=allow_classical,
    )
    return sealer.seal_bytes(buffers, **sealing, rng=require_rng(rng), now=require_now(now))


def seal_buffer(
    obj: object,
    *,
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
    content_type: str = DEFAULT_CONTENT_TYPE,
    one_time_prekey: bool = True,
    allow_classical: bool = False,
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
        allow_classical: accept classical X3DH for a recipient whose bundle has no
            post-quantum prekey (default: DowngradeError).
        codec: the codec (default: the fobs module codec).
        rng: randomness source (default os.urandom); now: seconds since the epoch.

    Returns:
        The sealed blob.

    Raises:
        SerializationTypeError: ``obj`` holds an unregistered type.
        SealArgumentError, PrekeyError, LimitExceededError: bad arguments or bundles
            (more than 4096 recipients; ``now + expires_in`` past 2**40 - 1; an ``rng``
            that repeats a content key).
        DowngradeError: a recipient without a post-quantum prekey, no allow_classical.
        IdentityChangedError: a recipient's name is pinned to another key in the
            sender's KeyStore (nothing was sealed).
    """
    buffers, sealing = _encoded_and_sealing(
        obj,
        codec,
        sender,
        recipients,
        metadata,
        expires_in,
        content_type,
        one_time_prekey,
        allow_classical=allow_classical,
    )
    return sealer.seal_buffers(buffers, **sealing, rng=require_rng(rng), now=require_now(now))


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
    allow_classical: bool = False,
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
    sealing = _sealing(
        sender,
        recipients,
        metadata,
        expires_in,
        content_type,
        one_time_prekey,
        allow_classical=allow_classical,
    )
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
    limits = DEFAULT_LIMITS
    if isinstance(blob, (bytes, bytearray, memoryview)):
        return describe(hdr.parse_header(memoryview(blob), limits))
    with fileio.readable_input(blob) as source:
        return describe(files.read_header(source, limits))
