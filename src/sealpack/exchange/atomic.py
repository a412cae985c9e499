"""Crash-safe file operations for the datasite.

Every file a reader can see appears in one step: data goes to a hidden temporary
file in the same directory (name starts with ``.`` and ends with ``.tmp``), is
flushed and fsynced, and is then renamed into place; the directory is fsynced
afterwards so the rename itself survives a power cut. A killed writer leaves at
most a hidden temporary file, which readers ignore and
:func:`remove_stale_temporaries` cleans up.

Readers use :func:`open_regular` / :func:`read_regular`: they never follow a
symlink and only read regular files (a FIFO cannot block them).

One-time prekeys are claimed with :func:`claim_by_rename`: ``rename(2)`` of one
source path succeeds for exactly one caller, across processes, on a local or
POSIX-compliant shared file system.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "claim_by_rename",
    "create_exclusive",
    "fsync_directory",
    "is_temporary",
    "move_durably",
    "open_regular",
    "read_regular",
    "remove_stale_temporaries",
    "write_atomic",
]

TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
_DIRECTORY_FSYNC_ERRORS = (OSError,)

Writer = Callable[[BinaryIO], None]


def is_temporary(name: str) -> bool:
    """Tell whether readers must ignore a directory entry.

    Args:
        name: the entry's name.

    Returns:
        True for hidden or temporary files.
    """
    return name.startswith(TEMP_PREFIX) or name.endswith(TEMP_SUFFIX)


def fsync_directory(directory: Path) -> None:
    """Flush a directory entry change (create, rename, unlink) to disk.

    Args:
        directory: the directory whose entries changed.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except _DIRECTORY_FSYNC_ERRORS:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except _DIRECTORY_FSYNC_ERRORS:  # pragma: no cover - e.g. some network file systems
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _temporary_file(directory: Path, mode: int) -> Iterator[tuple[Path, BinaryIO]]:
    """Create a hidden temporary file in ``directory``; remove it if the body fails."""
    temp_path = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
    fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield temp_path, handle
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
        raise


def _write_body(handle: BinaryIO, data: bytes | Writer) -> None:
    if callable(data):
        data(handle)
    else:
        handle.write(data)


def write_atomic(path: Path, data: bytes | Writer, *, mode: int = 0o644) -> None:
    """Write a file so readers see either nothing, the old file, or all of it.

    Args:
        path: the final path; its directory must exist. An existing file is replaced.
        data: the bytes, or a callable that writes them to the given binary file.
        mode: permission bits of the new file.

    Raises:
        OSError: the write failed; no partial file is left visible.
    """
    with _temporary_file(path.parent, mode) as (temp_path, handle):
        _write_body(handle, data)
    try:
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
        raise
    fsync_directory(path.parent)


def create_exclusive(path: Path, data: bytes | Writer, *, mode: int = 0o644) -> bool:
    """Atomically create ``path`` with the given content unless it already exists.

    The complete temporary file is hard-linked to the final name, which fails if
    the name exists, so concurrent creators never clobber each other.

    Args:
        path: the final path; its directory must exist.
        data: the bytes, or a callable that writes them.
        mode: permission bits of the new file.

    Returns:
        True if this call created the file, False if it already existed.
    """
    with _temporary_file(path.parent, mode) as (temp_path, handle):
        _write_body(handle, data)
    try:
        os.link(temp_path, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
    fsync_directory(path.parent)
    return created


def claim_by_rename(source: Path, destination: Path) -> bool:
    """Move ``source`` to ``destination``; exactly one concurrent caller wins.

    Args:
        source: the file to claim.
        destination: where the claimed file goes (same file system).

    Returns:
        True if this call moved the file, False if someone else got it first.
    """
    try:
        os.rename(source, destination)
    except FileNotFoundError:
        return False
    fsync_directory(source.parent)
    if destination.parent != source.parent:
        fsync_directory(destination.parent)
    return True


def move_durably(source: Path, destination: Path) -> None:
    """Rename a file into another directory and fsync both directories.

    Args:
        source: the existing file.
        destination: the new path (same file system); replaced if it exists.
    """
    os.replace(source, destination)
    fsync_directory(destination.parent)
    if destination.parent != source.parent:
        fsync_directory(source.parent)


def remove_stale_temporaries(
    directory: Path, *, older_than: float, now: float | None = None
) -> int:
    """Delete temporary files left behind by killed writers.

    Args:
        directory: the directory to clean.
        older_than: minimum age in seconds of a temporary file to delete.
        now: current time (seconds since epoch); ``time.time()`` when None.

    Returns:
        How many files were removed.
    """
    current = time.time() if now is None else now
    removed = 0
    for entry in os.scandir(directory):
        if not (entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX)):
            continue
        with contextlib.suppress(FileNotFoundError):
            if current - entry.stat(follow_symlinks=False).st_mtime >= older_than:
                os.unlink(entry.path)
                removed += 1
    return removed


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading, never following a symlink.

    Args:
        path: the file.

    Returns:
        The open binary file.

    Raises:
        OSError: missing, a symlink, or not a regular file (e.g. a FIFO).
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, *, limit: int) -> bytes:
    """Read a whole regular file of at most ``limit`` bytes (see :func:`open_regular`).

    Args:
        path: the file.
        limit: the largest accepted size in bytes.

    Returns:
        The content.

    Raises:
        OSError: unreadable, not a regular file, or larger than ``limit``.
    """
    with open_regular(path) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path.name} is larger than {limit} bytes")
    return data
