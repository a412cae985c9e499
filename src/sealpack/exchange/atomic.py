"""Crash-safe file operations on one name inside an open folder.

Every function takes a directory file descriptor (from
:mod:`sealpack.exchange.folders`, opened without following symlinks) and one
name in it, and uses only ``*at`` calls, so no path is resolved again and no
symlink is followed. Every file a reader can see appears in one step: data goes
to a hidden temporary file in the same folder (``.<16 hex>.tmp``), is flushed
and fsynced, and is then renamed (or hard-linked) into place; the folder is
fsynced afterwards so the rename survives a power cut. A killed writer leaves at
most a hidden temporary file, which readers ignore and
:func:`remove_stale_temporaries` cleans up.

Readers (:mod:`sealpack.regular_files`) never follow a symlink and only read regular
files; cleanups (:func:`discard_file`) never stop at a planted folder. A prekey is
claimed by :func:`claim_by_rename`: ``rename(2)`` of one source has one winner.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from sealpack import errors
from sealpack.regular_files import lstat_mode_at

__all__ = [
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "claim_by_rename",
    "create_exclusive",
    "discard_file",
    "fsync_folder",
    "is_temporary",
    "list_names",
    "move_durably",
    "remove_stale_temporaries",
    "unlink_entry",
    "write_atomic",
]

TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

Writer = Callable[[BinaryIO], None]


def is_temporary(name: str) -> bool:
    """Tell whether readers must ignore a folder entry.

    Args:
        name: the entry's name.

    Returns:
        True for hidden or temporary files.
    """
    return name.startswith(TEMP_PREFIX) or name.endswith(TEMP_SUFFIX)


def fsync_folder(dir_fd: int) -> None:
    """Flush a folder's entry changes (create, rename, unlink) to disk.

    Args:
        dir_fd: the open folder.
    """
    with contextlib.suppress(OSError):  # e.g. some network file systems
        os.fsync(dir_fd)


def list_names(dir_fd: int) -> list[str]:
    """Return the entry names of an open folder (the descriptor is not consumed).

    Args:
        dir_fd: the open folder.

    Returns:
        The names, unsorted.

    Raises:
        errors.TransportError: the folder cannot be listed.
    """
    try:
        # scandir(fd) closes its own duplicate (an os.dup() here leaked one per listing)
        with os.scandir(dir_fd) as entries:
            return [entry.name for entry in entries]
    except OSError as error:
        raise errors.TransportError(f"cannot list a datasite folder: {error.strerror}") from error


@contextlib.contextmanager
def _temporary_file(dir_fd: int, mode: int) -> Iterator[tuple[str, BinaryIO]]:
    """Create a hidden temporary file in the folder; remove it if the body fails."""
    temp_name = f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
    fd = os.open(temp_name, flags, mode, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield temp_name, handle
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        unlink_entry(dir_fd, temp_name)
        raise


def _write_body(handle: BinaryIO, data: bytes | Writer) -> None:
    if callable(data):
        data(handle)
    else:
        handle.write(data)


def unlink_entry(dir_fd: int, name: str) -> bool:
    """Delete one entry (a symlink itself, never its target); a missing one is ignored.

    Args:
        dir_fd: the open folder.
        name: the entry.

    Returns:
        True when this call deleted it.
    """
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def discard_file(dir_fd: int, name: str) -> bool:
    """Delete a regular file or a symlink, never a folder (or FIFO); never raise.

    Args:
        dir_fd: the open folder.
        name: the entry.

    Returns:
        True when this call deleted it.
    """
    mode = lstat_mode_at(dir_fd, name)
    with contextlib.suppress(OSError):
        return (stat.S_ISREG(mode) or stat.S_ISLNK(mode)) and unlink_entry(dir_fd, name)
    return False


def write_atomic(dir_fd: int, name: str, data: bytes | Writer, *, mode: int = 0o644) -> None:
    """Write a file so readers see either nothing, the old file, or all of it.

    Args:
        dir_fd: the open destination folder.
        name: the final name; an existing entry (even a symlink) is replaced.
        data: the bytes, or a callable that writes them to the given binary file.
        mode: permission bits of the new file.

    Raises:
        OSError: the write failed; no partial file is left visible.
    """
    with _temporary_file(dir_fd, mode) as (temp_name, handle):
        _write_body(handle, data)
    try:
        os.replace(temp_name, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        unlink_entry(dir_fd, temp_name)
        raise
    fsync_folder(dir_fd)


def create_exclusive(dir_fd: int, name: str, data: bytes | Writer, *, mode: int = 0o644) -> bool:
    """Atomically create ``name`` with the given content unless it already exists.

    The complete temporary file is hard-linked to the final name, which fails if
    the name exists (also as a symlink), so concurrent creators never clobber each other.

    Args:
        dir_fd: the open destination folder.
        name: the final name.
        data: the bytes, or a callable that writes them.
        mode: permission bits of the new file.

    Returns:
        True if this call created the file, False if it already existed.
    """
    with _temporary_file(dir_fd, mode) as (temp_name, handle):
        _write_body(handle, data)
    try:
        os.link(temp_name, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        created = True
    except FileExistsError:
        created = False
    finally:
        unlink_entry(dir_fd, temp_name)
    fsync_folder(dir_fd)
    return created


def claim_by_rename(src_fd: int, source: str, dst_fd: int, destination: str) -> bool:
    """Move a regular file ``source`` to ``destination``; exactly one concurrent caller wins.

    Args:
        src_fd: the open source folder.
        source: the file to claim (a symlink or other non-regular entry is refused).
        dst_fd: the open destination folder (same file system).
        destination: the new name.

    Returns:
        True if this call moved the file, False if it is gone or not a regular file.
    """
    try:
        if not stat.S_ISREG(os.stat(source, dir_fd=src_fd, follow_symlinks=False).st_mode):
            return False
        os.rename(source, destination, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    except FileNotFoundError:
        return False
    fsync_folder(src_fd)
    fsync_folder(dst_fd)
    return True


def move_durably(src_fd: int, source: str, dst_fd: int, destination: str) -> None:
    """Rename an entry into another folder and fsync both folders.

    A symlink is moved as itself (its target is never touched).

    Args:
        src_fd: the open source folder.
        source: the existing entry.
        dst_fd: the open destination folder (same file system).
        destination: the new name; replaced if it exists.
    """
    os.replace(source, destination, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    fsync_folder(dst_fd)
    fsync_folder(src_fd)


def remove_stale_temporaries(dir_fd: int, *, older_than: float, now: float | None = None) -> int:
    """Delete temporary files (and symlinks) left behind; skip folders, never raise.

    Args:
        dir_fd: the open folder to clean.
        older_than: minimum age in seconds of a temporary file to delete.
        now: current time (seconds since epoch); ``time.time()`` when None.

    Returns:
        How many entries were removed.
    """
    current = time.time() if now is None else now
    removed = 0
    for name in list_names(dir_fd):
        if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
            continue
        with contextlib.suppress(OSError):
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if current - info.st_mtime >= older_than and discard_file(dir_fd, name):
                removed += 1
    return removed
