"""sealpack's own temp files, whose written ranges may be pushed to disk early.

``seal_to(path)`` writes a temp file and fsyncs it before the rename (durability). An
fsync at the end waits for the whole blob to reach the disk; telling the kernel to
start writing each range back as soon as it is written (Linux ``sync_file_range``
with ``SYNC_FILE_RANGE_WRITE``: start writeback, do not wait) overlaps that disk time
with the encryption of the rest, so the final fsync has little left. This only
*starts* I/O early: the fsync still decides durability, and a failure here is
ignored. Off Linux (or without the call in libc) :func:`start_writeback` does nothing.
The segmented writer also reserves the blob's size up front (``fallocate``, same terms).
A large file that a temp file is renamed over is freed in a short-lived thread after
the rename (:func:`hold_replaced`), not inside the rename in the caller's thread.

Only files made by sealpack (:class:`WritebackFile`, the temp files of
``files.temp_file_beside``: ``seal_to`` and ``unseal_frame_to`` to a path) get this; a
caller's own file object is never touched beyond ``write``.
"""

from __future__ import annotations

import ctypes
import io
import os
import queue
import stat
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "WRITEBACK_STEP",
    "WritebackFile",
    "hold_replaced",
    "preallocate",
    "release_in_background",
    "start_writeback",
]

_SYNC_FILE_RANGE_WRITE = 2


def _libc(name: str, *argtypes: Any) -> Callable[..., int] | None:
    """A libc function through ctypes (Linux only), or None."""
    if sys.platform != "linux":
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):  # pragma: no cover - libc without the call
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_SYNC_FILE_RANGE = _libc(
    "sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint
)
_FALLOCATE = _libc("fallocate", ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
"""fallocate(2) itself, not posix_fallocate(3), which writes zeros where unsupported."""


WRITEBACK_STEP = 4 << 20
"""Start the writeback of every this many bytes written."""


class WritebackFile(io.BufferedWriter):
    """A binary file sealpack created itself (a temp file it will fsync and rename):
    every WRITEBACK_STEP bytes written, the writeback of those bytes is started, by a
    helper thread (the call can wait for the device queue; the writer must not)."""

    _written = 0
    _started = 0
    _hints: queue.SimpleQueue[tuple[int, int] | None] | None = None
    _helper: threading.Thread | None = None

    def write(self, data: Any) -> int:
        """Write ``data``; start the writeback of what was written since the last hint.

        Returns:
            The number of bytes written.
        """
        count = super().write(data)
        self._written += count
        if self._written - self._started >= WRITEBACK_STEP:
            self._hint(self._started, self._written - self._started)
            self._started = self._written
        return count

    def _hint(self, offset: int, length: int) -> None:
        if _SYNC_FILE_RANGE is None:
            return
        if self._hints is None:
            hints: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
            helper = threading.Thread(
                target=_drain, args=(self.fileno(), hints), name="sealpack-writeback", daemon=True
            )
            try:
                helper.start()
            except RuntimeError:  # no thread to spare: hint inline
                start_writeback(self.fileno(), offset, length)
                return
            self._hints, self._helper = hints, helper
        self._hints.put((offset, length))

    def close(self) -> None:
        """Stop the helper (it must not outlive the descriptor), then close."""
        if self._hints is not None and self._helper is not None:
            self._hints.put(None)
            self._helper.join()
            self._hints = self._helper = None
        super().close()

    def preallocate(self, size: int) -> None:
        """Reserve ``size`` bytes on disk up front (advice: ignored where unsupported);
        ext4 then copies into the page cache ~20% faster (no per-block reservation)."""
        if _FALLOCATE is not None and size > 0:
            _FALLOCATE(self.fileno(), 0, 0, size)  # advice: result ignored


def preallocate(write: Callable[[memoryview], Any], size: int) -> None:
    """:meth:`WritebackFile.preallocate` when ``write`` is a WritebackFile's own method."""
    owner = getattr(write, "__self__", None)
    if isinstance(owner, WritebackFile):
        owner.preallocate(size)


def _drain(fd: int, hints: queue.SimpleQueue[tuple[int, int] | None]) -> None:
    while (hint := hints.get()) is not None:
        start_writeback(fd, *hint)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` back (no wait)."""
    if _SYNC_FILE_RANGE is not None and length > 0:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # advice: result ignored


RELEASE_MIN = 16 << 20
"""Smaller replaced files are freed in the calling thread (cheap)."""


def hold_replaced(target: str | os.PathLike[str]) -> int | None:
    """A descriptor of the regular file at ``target`` (about to be renamed over), so
    that freeing its pages and blocks waits for :func:`release_in_background` instead
    of running inside the rename (~0.07 s for 256 MiB here). None when there is no
    such file, it is small, or it cannot be opened (symlinks are not followed)."""
    try:
        if not stat.S_ISREG(os.lstat(target).st_mode):  # never open a device or a FIFO
            return None
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, AttributeError):  # missing, a symlink, unreadable, or not POSIX
        return None
    try:
        info = os.fstat(fd)
    except OSError:  # pragma: no cover - fstat of an open descriptor
        info = None
    if info is None or not stat.S_ISREG(info.st_mode) or info.st_size < RELEASE_MIN:
        os.close(fd)
        return None
    return fd


def release_in_background(fd: int) -> None:
    """Close ``fd`` in a short-lived thread (the replaced file is freed there)."""
    closer = threading.Thread(target=os.close, args=(fd,), name="sealpack-release", daemon=True)
    try:
        closer.start()
    except RuntimeError:  # no thread to spare
        os.close(fd)
