"""Private directories and crash-safe file writes (temp + fsync + rename + fsync dir)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from sealpack import errors

__all__ = ["atomic_write", "create_private_file", "ensure_private_dir", "fsync_dir"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) if missing and make sure it is 0700.

    Raises:
        KeyStoreError: it exists and is not a directory, or cannot be created.
    """
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if not path.is_dir():
            raise errors.KeyStoreError(f"{path} is not a directory")
        os.chmod(path, DIR_MODE)
    except OSError as error:
        raise errors.KeyStoreError(f"cannot create key store directory {path}: {error}") from None


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def create_private_file(path: Path) -> None:
    """Create an empty file with mode 0600; KeyStoreError if it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        raise errors.KeyStoreError(f"{path} already exists") from None
    except OSError as error:
        raise errors.KeyStoreError(f"cannot create {path}: {error}") from None
    os.close(fd)
    fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new file.

    The data goes to a fresh 0600 temp file in the same directory, is fsynced, renamed
    over ``path``, and the directory is fsynced.

    Raises:
        KeyStoreError: the write failed (the old file is left untouched).
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise errors.KeyStoreError(f"cannot write {path}: {error}") from None
    fsync_dir(path.parent)
