"""The public opening API: unseal / unseal_from / unseal_frame_to / acknowledge.

Re-exported by :mod:`sealpack.api` (the names users rely on). Like api, this module only
joins the codec (sealpack.serialization) and the envelope (sealpack.envelope).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from os import PathLike
from typing import IO, Any, TypedDict

from sealpack.envelope import delivery, fileio, files, opener, sealer
from sealpack.envelope.delivery import Receipt
from sealpack.envelope.expect import ExpectMetadata
from sealpack.envelope.header import Header
from sealpack.envelope.opener import OpenOptions, UnsealedInfo
from sealpack.envelope.sealer import SealArgumentError
from sealpack.envelope.senders import (
    SenderResolver,
    Senders,
    identity_of,
    sender_resolver,
    trust_of,
)
from sealpack.keys import Identity, KeyStore
from sealpack.serialization import Codec, default_codec

__all__ = ["acknowledge", "unseal", "unseal_frame_to", "unseal_from"]

Buffer = bytes | bytearray | memoryview
FileOrPath = fileio.FileOrPath
Progress = sealer.Progress
DEFAULT_CLOCK_SKEW = opener.DEFAULT_CLOCK_SKEW
_DEFAULT_OPTIONS = OpenOptions()
"""unseal's options with every default (frozen, reads the clock per call): built once."""


class _OpenArgs(TypedDict):
    recipient: Identity
    resolve_sender: SenderResolver


def _opening(recipient: Identity | KeyStore, senders: Senders) -> _OpenArgs:
    """The opener's recipient and sender resolver (checked against the store's pins)."""
    identity = identity_of(recipient)
    return {"recipient": identity, "resolve_sender": sender_resolver(senders, trust_of(recipient))}


def _sender_check(opening: _OpenArgs) -> Callable[[Header], object]:
    """Resolve the sender from a streamed header before its payload is spooled (10.7)."""
    return lambda header: opener.resolve(header, opening["resolve_sender"])


def _decoder(codec: Codec | None, expect: Any = None) -> Callable[[Buffer], Any]:
    """Decode the verified plaintext (before the opening is committed: a decode error,
    or a mismatch with ``expect``, records nothing)."""
    chosen = codec or default_codec()
    return lambda plaintext: chosen.loads(plaintext, expect=expect)


def _open_options(
    now: int | None, clock_skew: int, expect_metadata: ExpectMetadata, hold: bool
) -> OpenOptions:
    """The opener's options; the shared default instance when every argument is default."""
    defaults = type(clock_skew) is int and clock_skew == DEFAULT_CLOCK_SKEW
    if defaults and now is None and expect_metadata is None and hold is False:
        return _DEFAULT_OPTIONS
    return OpenOptions(now=now, clock_skew=clock_skew, expect_metadata=expect_metadata, hold=hold)


def _result(obj: Any, info: UnsealedInfo, with_info: bool) -> Any:
    return (obj, info) if with_info else obj


def unseal(
    blob: Buffer,
    *,
    recipient: Identity | KeyStore,
    senders: Senders,
    with_metadata: bool = False,
    codec: Codec | None = None,
    now: int | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    expect_metadata: ExpectMetadata = None,
    hold: bool = False,
    expect: Any = None,
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
        expect_metadata: items that must all be in the signed metadata, or a predicate
            on it; checked after the signature, before anything is recorded.
        hold: record the message as held: it is redelivered (``info.redelivered``)
            until :func:`acknowledge` is called with ``info`` or ``info.receipt``.
        expect: what the object must match (a type annotation, ``sealpack.Array``,
            ``sealpack.like(reference)``); a mismatch is a SchemaError, raised before
            any object is built (docs/spec/codec.md section 9).

    Returns:
        The object, or ``(object, UnsealedInfo)`` when ``with_metadata``.

    Raises:
        TamperedError, UnknownSenderError, UntrustedSenderError, AmbiguousSenderError,
        ExpiredError, ContextMismatchError (nothing recorded), NotARecipientError,
        DowngradeError, ReplayError (also for a replay that used a one-time prekey),
        PrekeyError, UnsupportedVersionError, LimitExceededError, DecodeError,
        KeyStoreError, StorageError.
        SealArgumentError: ``clock_skew`` out of range, bad ``expect_metadata``.
    """
    options = _open_options(now, clock_skew, expect_metadata, hold)
    obj, info = opener.open_buffer_then(
        blob, **_opening(recipient, senders), options=options, decode=_decoder(codec, expect)
    )
    return _result(obj, info, with_metadata)


@contextlib.contextmanager
def _seekable_opening(
    file_or_path: FileOrPath,
    recipient: Identity | KeyStore,
    senders: Senders,
    options: OpenOptions,
) -> Iterator[tuple[IO[bytes], _OpenArgs]]:
    """The blob as a seekable file (a pipe spooled once its sender is known) and the
    recipient's opening arguments."""
    opening = _opening(recipient, senders)
    with fileio.seekable_input(
        file_or_path, options.limits, check_header=_sender_check(opening)
    ) as source:
        yield source, opening


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
    expect_metadata: ExpectMetadata = None,
    hold: bool = False,
    expect: Any = None,
) -> Any:
    """Like :func:`unseal`, reading the blob from a file or path chunk by chunk.

    Extra memory is one plaintext buffer (the object's own memory) plus one chunk. An
    unseekable stream (a pipe) is first spooled to an anonymous temporary file, up to
    the length its header announces (checked against the limits). ``expect_metadata``,
    ``hold`` and ``expect`` as in :func:`unseal`.
    """
    options = OpenOptions(
        now=now,
        clock_skew=clock_skew,
        progress=progress,
        expect_metadata=expect_metadata,
        hold=hold,
    )
    with _seekable_opening(file_or_path, recipient, senders, options) as (source, opening):
        obj, info = files.open_file(
            source, **opening, options=options, decode=_decoder(codec, expect)
        )
    return _result(obj, info, with_metadata)


def unseal_frame_to(
    file_or_path: FileOrPath,
    destination: str | PathLike[str],
    *,
    recipient: Identity | KeyStore,
    senders: Senders,
    now: int | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    progress: Progress | None = None,
    expect_metadata: ExpectMetadata = None,
    hold: bool = False,
) -> UnsealedInfo:
    """Verify a sealed file and write its plaintext frame to ``destination``.

    The plaintext goes to a 0600 temp file renamed over ``destination`` only after
    every check passed; nothing is written on failure. An unseekable stream is spooled
    as in :func:`unseal_from`. Errors, ``expect_metadata`` and ``hold`` as :func:`unseal`.
    """
    options = OpenOptions(
        now=now,
        clock_skew=clock_skew,
        progress=progress,
        expect_metadata=expect_metadata,
        hold=hold,
    )
    with _seekable_opening(file_or_path, recipient, senders, options) as (source, opening):
        return files.open_file_to_path(source, destination, **opening, options=options)


def acknowledge(recipient: Identity | KeyStore, info_or_receipt: UnsealedInfo | Receipt) -> None:
    """Acknowledge a message opened with ``hold=True`` once the application processed it.

    The replay row turns ``done`` and the one-time prekeys the message used are deleted;
    opening the blob again is then a ReplayError.

    Args:
        recipient: the identity or KeyStore that opened it.
        info_or_receipt: the UnsealedInfo of that opening, or its ``receipt``.

    Raises:
        SealArgumentError: not opened with ``hold=True``, or opened by another recipient.
        ReplayError: nothing is held under this receipt (acknowledged before).
        KeyStoreError: the store could not record it.
    """
    receipt = (
        info_or_receipt.receipt if isinstance(info_or_receipt, UnsealedInfo) else (info_or_receipt)
    )
    if not isinstance(receipt, Receipt):
        raise SealArgumentError("acknowledge needs the UnsealedInfo (or receipt) of a held open")
    with opener.failures_as_sealpack_errors():
        delivery.acknowledge(identity_of(recipient), receipt)
