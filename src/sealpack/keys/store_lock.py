"""The key store's exclusive lock: ``fcntl.flock`` on ``<store>/.lock``.

Every write to a key store (key file rewrite, rotation, replenishment, the commit of an
opened message) runs while its handle holds this lock, and re-reads the key file first,
so two handles (threads or processes) never lose each other's writes. The lock is held
per write, never for a handle's lifetime: a long-lived handle (``receive --watch``, a
Flower client mod) never blocks ``sealpack prekeys rotate`` for longer than one write.

``flock`` locks belong to an open file description, so every acquisition opens the lock
file anew: two threads of one process exclude each other exactly like two processes.
Re-entry by the same handle in the same thread is counted, not re-locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sealpack import errors

__all__ = ["DEFAULT_LOCK_TIMEOUT", "LOCK_FILE", "StoreLock"]

LOCK_FILE = ".lock"
DEFAULT_LOCK_TIMEOUT = 30.0
"""Seconds a write waits for another handle's lock before KeyStoreLockedError."""
_POLL = 0.005
_FILE_MODE = 0o600


class StoreLock:
    """A re-entrant (per thread) exclusive lock on one key store directory."""

    def __init__(self, directory: Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self._path = directory / LOCK_FILE
        self.timeout = timeout
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"StoreLock(path={str(self._path)!r}, held={self._depth > 0})"

    @property
    def held(self) -> bool:
        """True while the calling thread holds the lock."""
        if not self._mutex.acquire(blocking=False):
            return False
        try:
            return self._depth > 0
        finally:
            self._mutex.release()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block (re-entrant within one thread).

        Raises:
            KeyStoreLockedError: another handle held it longer than ``timeout`` seconds.
            KeyStoreError: the lock file cannot be opened.
        """
        deadline = time.monotonic() + self.timeout
        if not self._mutex.acquire(timeout=max(self.timeout, 0.0)):
            raise _locked(self._path, self.timeout)
        try:
            if self._depth == 0:
                self._fd = _acquire(self._path, deadline, self.timeout)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    _release(self._fd)
                    self._fd = None
        finally:
            self._mutex.release()


def _locked(path: Path, timeout: float) -> errors.KeyStoreLockedError:
    return errors.KeyStoreLockedError(
        f"key store {path.parent} is locked by another handle (waited {timeout:g} s); "
        "retry, or find the process holding it"
    )


def _acquire(path: Path, deadline: float, timeout: float) -> int:
    """Open the lock file (0600, no symlink) and flock it exclusively before ``deadline``."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, _FILE_MODE)
    except OSError as error:
        raise errors.KeyStoreError(f"cannot open key store lock {path}: {error}") from None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise _locked(path, timeout) from None
            time.sleep(_POLL)
        except OSError as error:
            os.close(fd)
            raise errors.KeyStoreError(f"cannot lock key store {path.parent}: {error}") from None


def _release(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
