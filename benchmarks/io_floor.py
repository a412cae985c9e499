"""The file floor of ``seal_to`` / ``unseal_from``: the same file work, no cryptography.

``file-floor`` rows (envelope.py and warm.py) take the raw AES-GCM reference's blob,
made once outside the timing, and

* seal: write it to a new path exactly as ``seal_to(path)`` writes its output
  (``sealpack.envelope.files.temp_file_beside``: a 0600 temp file with early writeback
  and a reserved size, flush, fsync, rename);
* unseal: read that file whole into fresh ``np.empty`` memory (the one copy out of the
  page cache that ``unseal_from`` makes before it hashes and decrypts).

A durable write cannot finish before the disk has the bytes, so the seal row's
``x_raw`` is the most ``seal_to(path)`` could reach on this disk with free encryption;
``targets18.file_floor_targets`` compares the two.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

LIBRARY = "file-floor"
_names = itertools.count()


class Written:
    """A file deleted when the result is dropped, i.e. outside the timing."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __del__(self) -> None:
        self.path.unlink(missing_ok=True)


def durable_write(blob: np.ndarray, folder: Path) -> Written:
    """Write ``blob`` to a new file in ``folder`` the way ``seal_to(path)`` does."""
    from sealpack.envelope import files, writeback

    target = folder / f"floor-{next(_names)}.bin"
    with files.temp_file_beside(target) as sink:
        if isinstance(sink, writeback.WritebackFile):
            sink.preallocate(blob.nbytes)  # as the segmented writer does
        view = memoryview(blob).cast("B")
        for start in range(0, len(view), 2 << 20):  # its segment size
            sink.write(view[start : start + (2 << 20)])
    return Written(target)


def read_back(path: Path) -> np.ndarray:
    """The whole file read into fresh memory (one copy out of the page cache)."""
    size = path.stat().st_size
    out = np.empty(size, dtype=np.uint8)
    view, filled = memoryview(out), 0
    with open(path, "rb", buffering=0) as source:
        while filled < size:
            count = source.readinto(view[filled:])
            if not count:
                raise OSError(f"{path} shrank while it was read")
            filled += count
    return out


Pair = tuple[Callable[[], Written], Callable[[Any], Any]]


def seal_and_open(blob: np.ndarray, folder: Path) -> Pair:
    """The floor's (seal, unseal) pair: write ``blob`` durably; read a written file back."""

    def seal() -> Written:
        return durable_write(blob, folder)

    def unseal(written: Written) -> np.ndarray:
        return read_back(written.path)

    return seal, unseal


def same_size(out: Any, blob: np.ndarray) -> bool:
    """The floor's check: every byte came back."""
    if isinstance(out, Written):
        return os.path.getsize(out.path) == blob.nbytes
    return bool(out.nbytes == blob.nbytes)
