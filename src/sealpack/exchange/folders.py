"""Folders under the datasite root, opened without ever following a symlink.

``O_NOFOLLOW`` on a path protects only its last component: ``root/bob/public/
prekeys/3.json`` with ``prekeys`` a symlink still leaves the root. So every
operation under the root works on directory file descriptors: the root is opened
once (it is the caller's choice and may itself be a symlink), then each component
below it with ``O_DIRECTORY | O_NOFOLLOW`` relative to its parent, and files are
touched only with ``*at`` calls (``dir_fd=``) on one name inside such a folder.
A component that is a symlink (or not a directory) raises
:class:`~sealpack.errors.UnsafePathError`; nothing outside the root is read,
written, moved or deleted (docs/spec/datasite.md, "Symlinks").
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from sealpack import errors

__all__ = ["DIR_FLAGS", "open_folder", "open_subfolder", "open_tree"]

DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_UNSAFE_ERRNOS = {errno.ELOOP, errno.ENOTDIR, errno.EMLINK}


def open_subfolder(parent_fd: int, name: str, *, create: bool, shown: str) -> int:
    """Open the folder ``name`` inside ``parent_fd``, never through a symlink.

    Args:
        parent_fd: an open directory.
        name: one path component (no ``/``).
        create: create the folder (mode 0700 before umask) when it is missing.
        shown: the path to name in error messages.

    Returns:
        A new directory file descriptor (the caller closes it).

    Raises:
        errors.UnsafePathError: ``name`` is a symlink or not a folder.
        errors.TransportError: missing (and not created) or unusable.
    """
    if not name or "/" in name or name in (".", ".."):
        raise errors.UnsafePathError(f"invalid path component in {shown}")
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent_fd)
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as error:
        if error.errno in _UNSAFE_ERRNOS:
            raise errors.UnsafePathError(
                f"{shown} is a symlink or not a folder; refusing to follow it"
            ) from error
        raise errors.TransportError(f"cannot open folder {shown}") from error


def open_root(root: Path) -> int:
    """Open the datasite root itself (following a symlink there: the caller chose it).

    Args:
        root: the root folder.

    Returns:
        A directory file descriptor.

    Raises:
        errors.TransportError: the root is missing or not a folder.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(root, flags)
    except OSError as error:
        raise errors.TransportError(f"cannot open datasite root {root}") from error


def open_tree(root: Path, parts: Sequence[str], *, create: bool = False) -> int:
    """Open ``root/parts[0]/parts[1]/...`` one component at a time, no symlink followed.

    Args:
        root: the datasite root.
        parts: the path components below it.
        create: create missing components.

    Returns:
        A directory file descriptor of the last component (the caller closes it).

    Raises:
        errors.UnsafePathError: a component is a symlink or not a folder.
        errors.TransportError: a component is missing (and not created).
    """
    fd = open_root(root)
    shown = root
    try:
        for part in parts:
            shown = shown / part
            child = open_subfolder(fd, part, create=create, shown=str(shown))
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def open_folder(root: Path, parts: Sequence[str], *, create: bool = False) -> Iterator[int]:
    """Context manager form of :func:`open_tree`: the descriptor is closed on exit.

    Args:
        root: the datasite root.
        parts: the path components below it.
        create: create missing components.

    Yields:
        The directory file descriptor.

    Raises:
        errors.UnsafePathError: a component is a symlink or not a folder.
        errors.TransportError: a component is missing (and not created).
    """
    fd = open_tree(root, parts, create=create)
    try:
        yield fd
    finally:
        os.close(fd)
