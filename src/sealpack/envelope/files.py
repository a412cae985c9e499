"""Opening sealed blobs from files with bounded memory.

Into memory (:func:`open_file`) a seekable source is read once (issue 18): the header
resolves the sender, the payload ciphertext is read whole into the buffer that will
hold the plaintext and hashed as it is read, and the signature, the expected context
and the replay look-up are checked before any key agreement; then it is decrypted in place
(envelope.inplace). To a path (:func:`open_file_to_path`, bounded memory) it is read
twice: pass 1 hashes the payload for the same checks; pass 2 decrypts chunk by chunk
and hashes again, and the two digests must agree (a file rewritten between the passes
fails). Only then is the opening committed (message id, digest, consumed one-time
prekeys). Output to a path goes to a 0600 temp file in the destination folder that is
renamed over the destination only after every check has passed; on failure it is
removed.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from sealpack import errors
from sealpack.envelope import header as hdr
from sealpack.envelope import inplace, opener, stream, suite, writeback
from sealpack.keys import Identity
from sealpack.keys.arguments import require_path
from sealpack.keys.fsutil import fsync_dir

__all__ = ["open_file", "open_file_to_path", "read_header", "target_path"]

_READ_BLOCK = 1 << 20


def _read_exact(source: IO[bytes], length: int) -> bytes:
    """Read exactly ``length`` bytes, across short reads (pipes); TamperedError at EOF."""
    data = source.read(length)
    if data is not None and len(data) == length:
        return data
    parts = [data or b""]
    missing = length - len(parts[0])
    while missing > 0:
        more = source.read(missing)
        if not more:
            raise errors.TamperedError()
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def read_header(source: IO[bytes], limits: hdr.EnvelopeLimits) -> hdr.Header:
    """Read and parse only the header from the current position of ``source``.

    Raises:
        TamperedError, UnsupportedVersionError, LimitExceededError: as parse_header.
    """
    prefix = _read_exact(source, hdr.PREFIX_SIZE)
    core_len = hdr.prefix_lengths(prefix, limits)
    core = _read_exact(source, core_len)
    length_field = _read_exact(source, 4)
    stanzas_len = hdr.stanzas_length(length_field, 0, limits)
    stanzas = _read_exact(source, stanzas_len)
    return hdr.parse_header(prefix + core + length_field + stanzas, limits)


def _hash_payload(source: IO[bytes], length: int) -> bytes:
    hasher = suite.payload_hasher()
    buffer = memoryview(bytearray(min(_READ_BLOCK, max(length, 1))))
    remaining = length
    while remaining:
        count = source.readinto(buffer[: min(remaining, len(buffer))])  # type: ignore[attr-defined]
        if not count:
            raise errors.TamperedError()
        hasher.update(buffer[:count])
        remaining -= count
    return hasher.digest()


def _authenticated(
    source: IO[bytes],
    recipient: Identity,
    resolve_sender: opener.SenderResolver,
    options: opener.OpenOptions,
) -> tuple[opener.Opening, int]:
    """Pass 1: header, sender, payload digest, signature, end of file, time, context,
    replay look-up."""
    header = read_header(source, options.limits)
    start = len(header.header_bytes)
    sender = opener.resolve(header, resolve_sender)
    digest = _hash_payload(source, header.core.payload_length)
    signature = _read_exact(source, hdr.SIGNATURE_SIZE)
    if source.read(1):
        raise errors.TamperedError()
    opener.verify(header, sender, digest, signature, options, recipient=recipient)
    return opener.Opening(header, sender, digest, recipient, options), start


def _decrypt_pass(
    source: IO[bytes],
    opening: opener.Opening,
    place: Callable[[int, int], memoryview],
    flush: Callable[[memoryview], object],
) -> None:
    """Pass 2: unlock, decrypt every chunk via place/flush, re-hash; the digest must be
    the one pass 1 verified (TamperedError otherwise)."""
    header, options = opening.header, opening.options
    hasher = suite.payload_hasher()
    prefix = _read_exact(source, stream.PREFIX_SIZE)
    hasher.update(prefix)
    decryptor = opening.unlock(prefix)
    staging = memoryview(bytearray(header.core.chunk_size + stream.TAG_SIZE))

    def read_chunk(length: int) -> memoryview:
        piece = staging[:length]
        if source.readinto(piece) != length:  # type: ignore[attr-defined]
            raise errors.TamperedError()
        hasher.update(piece)
        return piece

    opener.decrypt_payload(decryptor, header.core.size, read_chunk, place, flush, options.progress)
    if not hmac.compare_digest(opening.receipt.payload_digest, hasher.digest()):
        raise errors.TamperedError()


def _require_seekable(source: IO[bytes]) -> None:
    if not source.seekable():
        raise errors.SealpackError("opening from a file needs a seekable file; read it into memory")


def open_file(
    source: IO[bytes],
    *,
    recipient: Identity,
    resolve_sender: opener.SenderResolver,
    options: opener.OpenOptions | None = None,
    decode: Callable[[bytearray], Any] | None = None,
) -> tuple[Any, opener.UnsealedInfo]:
    """Verify and decrypt a sealed file into one preallocated buffer, then commit.

    ``decode`` (default: none) runs on the plaintext before the commit, as in
    :func:`sealpack.envelope.opener.open_buffer_then` (its errors record nothing).

    Returns:
        The plaintext (or ``decode(plaintext)``) and its verified info.

    Raises:
        The errors of :func:`sealpack.envelope.opener.open_buffer`.
    """
    options = options or opener.OpenOptions()
    _require_seekable(source)
    with opener.failures_as_sealpack_errors():
        opening, payload = _read_once(source, recipient, resolve_sender, options)
        decryptor = opening.unlock(bytes(payload[: stream.PREFIX_SIZE]))
        size = opening.header.core.size
        plaintext = inplace.decrypt_in_place(decryptor, payload, size, progress=options.progress)
    result = plaintext if decode is None else decode(plaintext)
    with opener.failures_as_sealpack_errors():
        return result, opening.commit()


def _read_once(
    source: IO[bytes],
    recipient: Identity,
    resolve_sender: opener.SenderResolver,
    options: opener.OpenOptions,
) -> tuple[opener.Opening, bytearray]:
    """One pass (issue 18): header, sender, the payload read into memory and hashed as
    it is read, signature, end of file; then signature, time, context, replay look-up."""
    header = read_header(source, options.limits)
    sender = opener.resolve(header, resolve_sender)
    _require_remaining(source, header.core.payload_length + hdr.SIGNATURE_SIZE)
    payload, digest = inplace.read_hashed(source, header.core.payload_length)
    signature = _read_exact(source, hdr.SIGNATURE_SIZE)
    if source.read(1):
        raise errors.TamperedError()
    opener.verify(header, sender, digest, signature, options, recipient=recipient)
    return opener.Opening(header, sender, digest, recipient, options), payload


def _require_remaining(source: IO[bytes], needed: int) -> None:
    """A seekable source must hold exactly ``needed`` more bytes before the payload buffer
    is allocated (a short file claiming a huge payload is tampering, not a MemoryError).
    Other sources are checked as they are read.

    Raises:
        TamperedError: a seekable source of another length.
    """
    try:
        if not source.seekable():
            return
        position = source.tell()
        end = source.seek(0, os.SEEK_END)
        source.seek(position)
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return  # the reads themselves check
    if end - position != needed:
        raise errors.TamperedError()


def target_path(destination: object) -> Path:
    """``destination`` as a Path a new file can be renamed over.

    Raises:
        SealArgumentError: not a path, or it names a directory.
    """
    target = require_path(destination, "destination")
    if target.is_dir():
        raise errors.SealArgumentError(f"destination {str(target)!r} is a directory")
    return target


def open_file_to_path(
    source: IO[bytes],
    destination: str | os.PathLike[str],
    *,
    recipient: Identity,
    resolve_sender: opener.SenderResolver,
    options: opener.OpenOptions | None = None,
) -> opener.UnsealedInfo:
    """Verify and decrypt a sealed file to ``destination`` (atomic, 0600, never partial).

    Returns:
        The verified info.

    Raises:
        The errors of :func:`sealpack.envelope.opener.open_buffer`; OSError on I/O.
        SealArgumentError: ``destination`` is not a path, or its folder is not writable.
    """
    options = options or opener.OpenOptions()
    target = target_path(destination)
    _require_seekable(source)
    with opener.failures_as_sealpack_errors():
        opening, start = _authenticated(source, recipient, resolve_sender, options)
        staging = memoryview(bytearray(opening.header.core.chunk_size))
        committed: list[opener.UnsealedInfo] = []

        def record_before_rename() -> None:
            committed.append(opening.commit())

        with temp_file_beside(target, before_rename=record_before_rename) as sink:
            source.seek(start)
            _decrypt_pass(source, opening, lambda _, n: staging[:n], sink.write)
        return committed[0]


@contextlib.contextmanager
def temp_file_beside(
    target: Path, *, before_rename: Callable[[], None] | None = None
) -> Iterator[IO[bytes]]:
    """Yield a 0600 temp file next to ``target``; rename it over ``target`` on success.

    The file is a :class:`~sealpack.envelope.writeback.WritebackFile` (the writeback
    of every 4 MiB written starts at once, so the final fsync has little left). It is
    flushed and fsynced, then ``before_rename`` runs, then the rename (a large file it
    replaces is freed in a short-lived thread, not in this one), then the folder is
    fsynced so the rename survives a power cut. On any exception (from
    the body or ``before_rename``) the temp file is removed and ``target`` is untouched.

    Args:
        target: the final path.
        before_rename: a last step that may still refuse the output (e.g. a replay check).

    Raises:
        SealArgumentError: the folder of ``target`` cannot take a new file.
    """
    try:
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".sealpack-", suffix=".part")
    except OSError as error:
        raise errors.SealArgumentError(
            f"cannot write next to {str(target)!r}: {error.strerror}"
        ) from None
    try:
        with writeback.WritebackFile(io.FileIO(handle, "wb")) as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        if before_rename is not None:
            before_rename()
        replaced = writeback.hold_replaced(target)
        try:
            os.replace(temp_name, target)
        finally:
            if replaced is not None:
                writeback.release_in_background(replaced)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    fsync_dir(target.parent)  # the rename survives a power cut (best effort)
