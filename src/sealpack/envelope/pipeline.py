"""Hash payload ciphertext in one worker thread while the caller encrypts the next chunk.

This is the *streaming* path (``seal_to``: bounded memory, chunk after chunk); the
in-memory paths use envelope.parallel instead. Sealing is encrypt(chunk i) then
hash(ciphertext i) with the payload digest of the suite (BLAKE3 in format v2). From
cryptography 50.0.0 on, ``AESGCM.encrypt_into`` releases the GIL, and so does the
``blake3`` package's ``update``, so a single worker that hashes chunk i-1 while the
calling thread encrypts chunk i overlaps the two passes on two cores. The worker
takes the pieces from a bounded queue in the order given, so the digest is the same
bytes as hashing inline; an exception in the worker is raised in the caller at the
next call, and the worker is always joined (``with`` block), also on errors.

Small payloads (fewer than :data:`PIPELINE_MIN_CHUNKS` chunks) and older
cryptography releases (which hold the GIL, so a thread only adds overhead) hash
inline with the same interface.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol

import cryptography

from sealpack.envelope import stream, suite

__all__ = [
    "GIL_RELEASED",
    "PIPELINE_MIN_CHUNKS",
    "InlineDigester",
    "StagingPool",
    "ThreadedDigester",
    "digester_for",
    "encrypt_streaming",
]

Buffer = bytes | bytearray | memoryview
Recycle = Callable[[], None]
PIPELINE_MIN_CHUNKS = 4
"""Below this many chunks a worker thread costs more than it saves."""
QUEUE_DEPTH = 2


def _gil_released(version: str) -> bool:
    """True for cryptography >= 50.0.0 (hashing and AEAD calls run without the GIL)."""
    major = version.split(".", 1)[0]
    return major.isdigit() and int(major) >= 50


GIL_RELEASED = _gil_released(cryptography.__version__)


class _Hasher(Protocol):
    def update(self, data: Buffer) -> None: ...  # pragma: no cover

    def digest(self) -> bytes: ...  # pragma: no cover


class InlineDigester:
    """Hashes each piece at once, in the calling thread."""

    def __init__(self, hasher: _Hasher) -> None:
        self._hasher = hasher

    def update(self, piece: memoryview, recycle: Recycle | None = None) -> None:
        """Hash ``piece`` now, then ``recycle()``."""
        self._hasher.update(piece)
        if recycle is not None:
            recycle()

    def finish(self) -> bytes:
        """Return the digest."""
        return self._hasher.digest()

    def __enter__(self) -> InlineDigester:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None


class ThreadedDigester:
    """Hashes pieces in one worker thread, in submission order, through a bounded queue."""

    def __init__(self, hasher: _Hasher, depth: int = QUEUE_DEPTH) -> None:
        self._hasher = hasher
        self._queue: queue.Queue[tuple[memoryview, Recycle | None] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="sealpack-hash", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            piece, recycle = item
            if self._error is None:
                try:
                    self._hasher.update(piece)
                except BaseException as error:  # handed to the caller's thread
                    self._error = error
            if recycle is not None:
                recycle()

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            raise self._error

    def update(self, piece: memoryview, recycle: Recycle | None = None) -> None:
        """Queue ``piece`` for hashing (blocks while the queue is full).

        Raises:
            The exception the worker met while hashing an earlier piece.
        """
        self._raise_worker_error()
        self._queue.put((piece, recycle))

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def finish(self) -> bytes:
        """Wait until every queued piece is hashed; return the digest.

        Raises:
            The exception the worker met while hashing.
        """
        self._stop()
        self._raise_worker_error()
        return self._hasher.digest()

    def __enter__(self) -> ThreadedDigester:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop()


def digester_for(hasher: _Hasher, chunks: int) -> InlineDigester | ThreadedDigester:
    """A threaded digester for payloads of PIPELINE_MIN_CHUNKS chunks or more.

    Args:
        hasher: receives every piece in order (e.g. ``suite.PayloadHasher()``).
        chunks: the number of chunks the payload has.

    Returns:
        A context manager with ``update(piece, recycle)`` and ``finish()``.
    """
    if GIL_RELEASED and chunks >= PIPELINE_MIN_CHUNKS:
        return ThreadedDigester(hasher)
    return InlineDigester(hasher)


class StagingPool:
    """Reusable chunk buffers for streaming output: a buffer returns once it is hashed.

    Buffers are made on demand, at most ``count``; with inline hashing every buffer
    comes back at once, so only one is ever made.
    """

    def __init__(self, count: int, size: int) -> None:
        self._free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        self._spare = count
        self._size = size

    def take(self, length: int) -> tuple[memoryview, Recycle]:
        """A free buffer cut to ``length`` (waits for one if all are in use), and the
        callable that gives it back."""
        try:
            buffer = self._free.get_nowait()
        except queue.Empty:
            if self._spare:
                self._spare -= 1
                buffer = memoryview(bytearray(self._size))
            else:
                buffer = self._free.get()
        return buffer[:length], lambda: self._free.put(buffer)


def encrypt_streaming(
    buffers: Sequence[Buffer],
    encryptor: stream.ChunkEncryptor,
    size: int,
    emit: Callable[[memoryview], None],
    progress: Callable[[int, int], None] | None,
) -> bytes:
    """Encrypt the payload chunk after chunk, hand each piece to ``emit``, hash it.

    Memory stays at a few chunk buffers (a :class:`StagingPool`). Hashing runs in a
    worker thread for large payloads: it hashes chunk i-1 while this thread encrypts
    chunk i; the digest is identical to hashing inline.

    Args:
        buffers: the plaintext pieces, ``size`` bytes in all.
        encryptor: the payload's chunk encryptor.
        size: the plaintext length.
        emit: receives the salt-and-commitment prefix, then each sealed chunk, in order.
        progress: called with (bytes done, size) after each chunk, or None.

    Returns:
        The payload digest (the suite's hash of everything emitted).
    """
    staging = StagingPool(QUEUE_DEPTH + 1, encryptor.chunk_size + stream.TAG_SIZE)
    chunks = stream.chunk_count(size, encryptor.chunk_size)
    with digester_for(suite.payload_hasher(), chunks) as digester:
        prefix, recycle = staging.take(stream.PREFIX_SIZE)
        prefix[:] = encryptor.prefix
        emit(prefix)
        digester.update(prefix, recycle)
        done = 0
        for index, chunk in enumerate(stream.iter_plaintext_chunks(buffers, encryptor.chunk_size)):
            target, recycle = staging.take(len(chunk) + stream.TAG_SIZE)
            encryptor.encrypt_chunk_into(index, chunk, target)
            emit(target)
            digester.update(target, recycle)
            done += len(chunk)
            if progress is not None:
                progress(done, size)
        return digester.finish()
