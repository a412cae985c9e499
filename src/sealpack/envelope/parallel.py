"""The in-memory payload on every core: chunk ranges in worker threads, then the digest.

C2SP chunked encryption fixes where every chunk goes (chunk i is encrypted under the
nonce ``base XOR i`` into ``PREFIX + i * (chunk + 16)``), so chunk ranges can be
encrypted or decrypted by independent threads and the output is the same bytes
whatever the thread count. From cryptography 50 on, ``encrypt_into`` and
``decrypt_into`` release the GIL, and BLAKE3 hashes with its own threads
(``max_threads``), so:

* sealing = encrypt ranges on ``workers`` threads, then one BLAKE3 call over the
  whole payload ciphertext with ``workers`` threads;
* opening = the same BLAKE3 call first (the signature is checked before any key
  agreement), then decrypt ranges on ``workers`` threads.

No extra memory beyond the output and one chunk of staging per thread (for chunks
that span two of the codec's buffers). The caller's thread does the first range and
calls ``progress``; an error in any range (a chunk that fails authentication, a
progress callback that raises) stops the others at their next chunk, every thread is
joined, and the first error is raised. Payloads of fewer than
:data:`PARALLEL_MIN_CHUNKS` chunks run in the calling thread alone.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable, Sequence

import blake3

from sealpack.envelope import header as hdr
from sealpack.envelope import pipeline, stream

__all__ = [
    "PARALLEL_MIN_CHUNKS",
    "Ranges",
    "decrypt_chunks",
    "default_workers",
    "encrypt_chunks",
    "fill_blob",
    "payload_digest",
    "workers_for",
]

Buffer = bytes | bytearray | memoryview
Progress = Callable[[int, int], None]
PARALLEL_MIN_CHUNKS = 8
"""Below this many chunks one thread does everything (a thread start costs ~100 us)."""
MAX_WORKERS = 8
_SMALL_DIGEST = 1 << 20
"""Payloads shorter than this many bytes hash in one call (no thread decision)."""


def default_workers() -> int:
    """The number of threads for one payload: the usable cores, at most MAX_WORKERS.

    ``SEALPACK_THREADS`` (an int >= 1) overrides it, e.g. 1 in a process that already
    runs one sealing per core.
    """
    configured = os.environ.get("SEALPACK_THREADS", "")
    if configured.isdigit() and int(configured) >= 1:
        return min(int(configured), MAX_WORKERS)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def workers_for(chunks: int, workers: int | None) -> int:
    """Threads for a payload of ``chunks`` chunks: 1 below PARALLEL_MIN_CHUNKS or when
    cryptography holds the GIL, else ``workers`` (default :func:`default_workers`)."""
    if not pipeline.GIL_RELEASED or chunks < PARALLEL_MIN_CHUNKS:
        return 1
    wanted = default_workers() if workers is None else max(1, workers)
    return min(wanted, chunks)


def payload_digest(payload: Buffer, *, workers: int | None = None) -> bytes:
    """The format-v2 payload digest (BLAKE3-256) of a payload held in memory.

    Same bytes as ``suite.payload_digest`` (tests check it); BLAKE3 splits the work
    over ``workers`` threads for large inputs and releases the GIL.
    """
    view = memoryview(payload).cast("B")
    if len(view) < _SMALL_DIGEST:  # one call, no thread decision (issue 18)
        return blake3.blake3(view).digest()
    threads = workers_for(len(view) >> 20, workers)
    hasher = blake3.blake3(max_threads=threads) if threads > 1 else blake3.blake3()
    hasher.update(view)
    return hasher.digest(length=32)


class Ranges:
    """Runs ``job(lo, hi)`` over contiguous chunk ranges on several threads."""

    def __init__(self, chunks: int, workers: int) -> None:
        step = -(-chunks // workers)
        self.bounds = [(lo, min(lo + step, chunks)) for lo in range(0, chunks, step)]
        self.stopped = False
        """Set once any range failed; the others end at their next chunk."""
        self.errors: list[BaseException] = []
        self.done = 0
        self._lock = threading.Lock()

    def count(self, length: int) -> int:
        """Add ``length`` finished bytes; return the total so far."""
        with self._lock:
            self.done += length
            return self.done

    def _guarded(self, job: Callable[[int, int], None], lo: int, hi: int) -> None:
        try:
            job(lo, hi)
        except BaseException as error:  # handed to the caller's thread
            self.errors.append(error)
            self.stopped = True

    def run(self, job: Callable[[int, int], None]) -> None:
        """Run every range (the first in this thread); raise the first error."""
        if len(self.bounds) == 1:  # small payloads: no thread, no bookkeeping
            job(*self.bounds[0])
            return
        threads = [
            threading.Thread(target=self._guarded, args=(job, lo, hi), name="sealpack-chunks")
            for lo, hi in self.bounds[1:]
        ]
        started: list[threading.Thread] = []
        try:
            for thread in threads:
                thread.start()
                started.append(thread)
            self._guarded(job, *self.bounds[0])
        except BaseException:  # a thread could not start: stop the others, then raise
            self.stopped = True
            raise
        finally:
            for thread in started:
                thread.join()
        if self.errors:
            raise self.errors[0]


class _Source:
    """Chunk ``i`` of the concatenation of ``buffers``, a view when it lies in one."""

    def __init__(self, buffers: Sequence[Buffer], chunk_size: int) -> None:
        self.views = [memoryview(b).cast("B") for b in buffers]
        self.views = [v for v in self.views if len(v)]
        self.starts: list[int] = []
        position = 0
        for view in self.views:
            self.starts.append(position)
            position += len(view)
        self.size = position
        self.chunk_size = chunk_size

    def chunk(self, index: int, staging: bytearray) -> memoryview:
        """Chunk ``index``; one that spans buffers is copied into ``staging`` (grown to a
        full chunk on first use, so a small payload allocates nothing)."""
        start = index * self.chunk_size
        length = min(self.chunk_size, self.size - start)
        if length == 0:
            return memoryview(b"")
        which = bisect.bisect_right(self.starts, start) - 1
        offset = start - self.starts[which]
        view = self.views[which]
        if offset + length <= len(view):
            return view[offset : offset + length]
        if not staging:
            staging.extend(bytes(self.chunk_size))
        filled = 0
        while filled < length:
            view = self.views[which]
            take = min(length - filled, len(view) - offset)
            staging[filled : filled + take] = view[offset : offset + take]
            filled += take
            which, offset = which + 1, 0
        return memoryview(staging)[:length]


def _chunk_place(index: int, chunk_size: int) -> int:
    return stream.PREFIX_SIZE + index * (chunk_size + stream.TAG_SIZE)


def encrypt_chunks(
    encryptor: stream.ChunkEncryptor,
    buffers: Sequence[Buffer],
    payload: memoryview,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> None:
    """Write salt, commitment and every encrypted chunk of ``buffers`` into ``payload``.

    Args:
        encryptor: the message's chunk encryptor.
        buffers: the plaintext pieces.
        payload: exactly ``ciphertext_length(size, chunk_size)`` writable bytes.
        progress: called in this thread with (bytes done, total).
        workers: threads (default :func:`default_workers`).
    """
    chunk_size = encryptor.chunk_size
    source = _Source(buffers, chunk_size)
    chunks = stream.chunk_count(source.size, chunk_size)
    payload[: stream.PREFIX_SIZE] = encryptor.prefix
    ranges = Ranges(chunks, workers_for(chunks, workers))
    caller = threading.get_ident()

    def job(lo: int, hi: int) -> None:
        staging = bytearray()
        for index in range(lo, hi):
            if ranges.stopped:
                return
            plain = source.chunk(index, staging)
            place = _chunk_place(index, chunk_size)
            target = payload[place : place + len(plain) + stream.TAG_SIZE]
            encryptor.encrypt_chunk_into(index, plain, target)
            done = ranges.count(len(plain))
            if progress is not None and threading.get_ident() == caller:
                progress(done, source.size)

    ranges.run(job)
    if progress is not None and len(ranges.bounds) > 1:
        progress(source.size, source.size)


def decrypt_chunks(
    decryptor: stream.ChunkDecryptor,
    payload: memoryview,
    out: memoryview,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> None:
    """Authenticate and decrypt every chunk of ``payload`` (prefix included) into ``out``.

    Raises:
        TamperedError: a chunk fails authentication (nothing of ``out`` may be used).
    """
    chunk_size = decryptor.chunk_size
    size = len(out)
    chunks = stream.chunk_count(size, chunk_size)
    if chunks == 1:  # small payloads (issue 18): no ranges, no closure
        end = stream.PREFIX_SIZE + size + stream.TAG_SIZE
        decryptor.decrypt_chunk_into(0, payload[stream.PREFIX_SIZE : end], out)
        if progress is not None:
            progress(size, size)
        return
    ranges = Ranges(chunks, workers_for(chunks, workers))
    caller = threading.get_ident()

    def job(lo: int, hi: int) -> None:
        for index in range(lo, hi):
            if ranges.stopped:
                return
            start = index * chunk_size
            length = min(chunk_size, size - start)
            place = _chunk_place(index, chunk_size)
            piece = payload[place : place + length + stream.TAG_SIZE]
            decryptor.decrypt_chunk_into(index, piece, out[start : start + length])
            done = ranges.count(length)
            if progress is not None and threading.get_ident() == caller:
                progress(done, size)

    ranges.run(job)
    if progress is not None and len(ranges.bounds) > 1:
        progress(size, size)


def fill_blob(
    blob: memoryview,
    header_bytes: bytes,
    encryptor: stream.ChunkEncryptor,
    buffers: Sequence[Buffer],
    sign: Callable[[bytes], bytes],
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> None:
    """Write a whole sealed blob into ``blob``: header, encrypted payload, signature.

    Args:
        blob: exactly header + ciphertext + signature bytes long, writable.
        header_bytes: the encoded header.
        encryptor: the message's chunk encryptor.
        buffers: the plaintext pieces.
        sign: maps the payload digest to the signature (the last bytes of ``blob``).
        progress: called in this thread with (bytes done, total).
        workers: threads (default :func:`default_workers`).
    """
    start = len(header_bytes)
    blob[:start] = header_bytes
    signature_at = len(blob) - hdr.SIGNATURE_SIZE
    payload = blob[start:signature_at]
    encrypt_chunks(encryptor, buffers, payload, progress=progress, workers=workers)
    blob[signature_at:] = sign(payload_digest(payload, workers=workers))
