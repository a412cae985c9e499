"""File plumbing shared by the streaming API: atomic outputs and seekable inputs."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeGuard

from sealpack import errors
from sealpack.envelope import files
from sealpack.envelope import header as hdr

__all__ = ["FileOrPath", "atomic_output", "readable_input", "seekable_input", "spool_blob"]

FileOrPath = str | os.PathLike[str] | IO[bytes]
_COPY_BLOCK = 1 << 20


def _is_path(value: object) -> TypeGuard[str | os.PathLike[str]]:
    return isinstance(value, (str, os.PathLike))


def _require_file(value: object, method: str) -> None:
    """A binary file object must at least have ``method`` (read or write)."""
    if isinstance(value, (bytes, bytearray, memoryview)) or not callable(
        getattr(value, method, None)
    ):
        raise errors.SealArgumentError(
            f"expected a path or a binary file with .{method}(), not {type(value).__name__}"
        )


@contextlib.contextmanager
def _opened(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open ``path`` for reading; a missing or unreadable file is a SealArgumentError."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise errors.SealArgumentError(f"cannot read {os.fspath(path)!r}: {reason}") from None
    with handle:
        yield handle


@contextlib.contextmanager
def atomic_output(destination: FileOrPath) -> Iterator[IO[bytes]]:
    """Yield a writable stream; a path gets a 0600 temp file renamed over it on success.

    On any exception the temp file is removed and the destination is untouched.

    Raises:
        SealArgumentError: neither a path nor a writable file, or the folder of the
            path cannot take a new file (missing, not writable).
    """
    if not _is_path(destination):
        _require_file(destination, "write")
        yield destination  # type: ignore[misc]
        return
    with files.temp_file_beside(files.target_path(destination)) as sink:
        yield sink


@contextlib.contextmanager
def readable_input(source: FileOrPath) -> Iterator[IO[bytes]]:
    """Open a path for reading, or pass a binary file through as it is.

    Raises:
        SealArgumentError: neither a path nor a readable file, or the file is missing
            or unreadable.
    """
    if _is_path(source):
        with _opened(source) as handle:
            yield handle
        return
    _require_file(source, "read")
    yield source  # type: ignore[misc]


HeaderCheck = Callable[[hdr.Header], object]


@contextlib.contextmanager
def seekable_input(
    source: FileOrPath,
    limits: hdr.EnvelopeLimits | None = None,
    *,
    check_header: HeaderCheck | None = None,
) -> Iterator[IO[bytes]]:
    """Open a path, pass a seekable file through, or spool an unseekable stream.

    An unseekable stream (a pipe, a socket) is copied block by block into an anonymous
    temporary file (``tempfile.TemporaryFile``, gone when closed) once its header has
    been parsed under ``limits`` and passed ``check_header`` (e.g. the sender
    resolution, so an unknown sender costs the header only): only the length that
    header announces is copied, so memory stays one block and a payload over the limit
    is refused before any copying.

    Raises:
        TamperedError, UnsupportedVersionError, LimitExceededError: from the header,
            or the stream ends early or runs on past the announced length.
        SealArgumentError: neither a path nor a readable file, or the file is missing.
    """
    if _is_path(source):
        with _opened(source) as handle:
            yield handle
        return
    _require_file(source, "read")
    stream: Any = source
    if stream.seekable():
        yield stream
        return
    with tempfile.TemporaryFile(prefix="sealpack-spool-") as spool:
        spool_blob(stream, spool, limits or hdr.EnvelopeLimits(), check_header=check_header)
        spool.seek(0)
        yield spool


def spool_blob(
    source: IO[bytes],
    sink: IO[bytes],
    limits: hdr.EnvelopeLimits,
    *,
    check_header: HeaderCheck | None = None,
) -> int:
    """Copy exactly one sealed blob from ``source`` to ``sink``, header first.

    ``check_header`` runs on the parsed header before anything else is copied.

    Returns:
        The number of bytes copied.

    Raises:
        TamperedError: the stream ends before the announced length, or goes on after it.
        UnsupportedVersionError, LimitExceededError: from the header.
    """
    header = files.read_header(source, limits)
    if check_header is not None:
        check_header(header)
    sink.write(header.header_bytes)
    remaining = header.total_length - len(header.header_bytes)
    while remaining:
        block = source.read(min(remaining, _COPY_BLOCK))
        if not block:
            raise errors.TamperedError()
        sink.write(block)
        remaining -= len(block)
    if source.read(1):
        raise errors.TamperedError()
    sink.flush()
    return header.total_length
