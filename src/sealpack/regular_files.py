"""Read a file someone else may have replaced: regular files only, bounded, non-blocking.

Key bundles, pins, key files, claims and inbox blobs are read from folders that other
people or programs can write to (a provisioning kit, a pins folder, a synced
datasite). Reading one with ``Path.read_bytes`` waits forever when the entry is a FIFO
with no writer, blocks on some devices, and reads a multi-gigabyte file whole before
any size check. Here every file is opened non-blocking (a FIFO or a device opens at
once), ``fstat`` must show a regular file, and at most ``limit + 1`` bytes are read.

Three ways in:

* by path (:func:`read_regular_file`): configuration files. Symlinks are followed
  unless ``follow_symlinks=False`` (configuration folders are often made of links: a
  Kubernetes ConfigMap mounts every file as one; the key store passes False);
* by name inside an open folder (:func:`open_regular`, :func:`read_regular`): the
  synced datasite, whose folders are opened without following links
  (:mod:`sealpack.exchange.folders`); a symlink entry is ``UnsafePathError``;
* a file someone named on purpose (:func:`read_named_file`): any readable file, pipes
  included (process substitution), only the size bounded. Files found by listing a
  folder never take this way.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from sealpack import errors

__all__ = [
    "NotRegularFileError",
    "lstat_mode_at",
    "open_regular",
    "read_bounded",
    "read_named_file",
    "read_regular",
    "read_regular_file",
]

_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class NotRegularFileError(OSError):
    """The entry is not a regular file (a FIFO, a device, a folder) or is too large.

    An ``OSError`` without an errno, so callers that turn ``OSError`` into their own
    typed error keep doing so, and can tell it from an I/O error.
    """


def read_regular_file(
    path: str | os.PathLike[str], *, limit: int, follow_symlinks: bool = True
) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Args:
        path: the file.
        limit: the largest accepted size in bytes.
        follow_symlinks: False refuses a symlink at ``path`` itself (``ELOOP``).

    Returns:
        The content.

    Raises:
        NotRegularFileError: not a regular file, or larger than ``limit``.
        OSError: missing, unreadable, or a refused symlink.
    """
    fd = os.open(path, _READ | (0 if follow_symlinks else _NOFOLLOW))
    with _regular(fd, os.fspath(path)) as stream:
        return _bounded(stream, os.fspath(path), limit)


def read_named_file(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """The bytes of a file someone named on purpose (a command-line argument, an
    operator's setting), at most ``limit`` of them: a pipe is fine there (process
    substitution gives ``/dev/fd/N``), only the size is bounded.

    Args:
        path: the file.
        limit: the largest accepted size in bytes.

    Returns:
        The content.

    Raises:
        NotRegularFileError: larger than ``limit``.
        OSError: missing or unreadable.
    """
    with open(path, "rb") as stream:
        return _bounded(stream, os.fspath(path), limit)


def open_regular(dir_fd: int, name: str) -> BinaryIO:
    """Open the regular file ``name`` of an open folder, never through a symlink.

    Args:
        dir_fd: the open folder.
        name: the file.

    Returns:
        The open binary file (blocking reads).

    Raises:
        errors.UnsafePathError: the entry is a symlink.
        NotRegularFileError: not a regular file (e.g. a FIFO).
        OSError: missing or unreadable.
    """
    try:
        fd = os.open(name, _READ | _NOFOLLOW, dir_fd=dir_fd)
    except OSError as error:
        if stat.S_ISLNK(lstat_mode_at(dir_fd, name)):
            raise errors.UnsafePathError(f"{name} is a symlink; refusing to follow it") from error
        raise
    return _regular(fd, name)


def read_regular(dir_fd: int, name: str, *, limit: int) -> bytes:
    """Read a whole regular file of at most ``limit`` bytes (see :func:`open_regular`).

    Args:
        dir_fd: the open folder.
        name: the file.
        limit: the largest accepted size in bytes.

    Returns:
        The content.

    Raises:
        errors.UnsafePathError: the entry is a symlink.
        NotRegularFileError: not a regular file, or larger than ``limit``.
        OSError: missing or unreadable.
    """
    with open_regular(dir_fd, name) as stream:
        return _bounded(stream, name, limit)


def lstat_mode_at(dir_fd: int, name: str) -> int:
    """The ``st_mode`` of ``name`` in an open folder, without following a link (0 if none).

    Args:
        dir_fd: the open folder.
        name: the entry.

    Returns:
        Its mode bits, or 0 when it cannot be examined.
    """
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        return 0


def read_bounded(fd: int, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of ``fd`` (one more than ``limit`` tells a file too large).

    Args:
        fd: an open descriptor of a regular file.
        limit: the largest accepted size in bytes.

    Returns:
        What was read, at most ``limit + 1`` bytes.
    """
    parts, left = [], limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _regular(fd: int, shown: str) -> BinaryIO:
    """``fd`` as a blocking binary file if it is a regular file; closed otherwise."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(f"{shown} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _bounded(stream: BinaryIO, shown: str, limit: int) -> bytes:
    data = read_bounded(stream.fileno(), limit)
    if len(data) > limit:
        raise NotRegularFileError(f"{shown} is larger than {limit} bytes")
    return data
