"""File plumbing shared by the streaming API: atomic outputs and seekable inputs."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["FileOrPath", "atomic_output", "seekable_input"]

FileOrPath = str | os.PathLike[str] | IO[bytes]


@contextlib.contextmanager
def atomic_output(destination: FileOrPath) -> Iterator[IO[bytes]]:
    """Yield a writable stream; a path gets a 0600 temp file renamed over it on success.

    On any exception the temp file is removed and the destination is untouched.
    """
    if not isinstance(destination, (str, os.PathLike)):
        yield destination
        return
    target = Path(destination)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".sealpack-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


@contextlib.contextmanager
def seekable_input(source: FileOrPath) -> Iterator[IO[bytes]]:
    """Open a path for reading, or pass a file through (read into memory if unseekable)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            yield handle
        return
    stream: Any = source
    yield stream if stream.seekable() else io.BytesIO(stream.read())
