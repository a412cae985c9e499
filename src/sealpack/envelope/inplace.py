"""Open a sealed file in one read: the payload ciphertext becomes the plaintext in place.

``unseal_from`` used to read a file twice (hash, then decrypt and re-hash) because the
signature must be checked before any key agreement and memory must stay near one
payload. Here the payload ciphertext is read once into a huge-page-advised
``bytearray`` and hashed as it is read (:func:`read_hashed`: a worker hashes block i
while the caller reads block i+1), and, after the signature and the key commitment
passed, decrypted *into the same buffer*
(:func:`decrypt_in_place`): chunk ``i``'s plaintext goes to ``i * C``, which lies
before its ciphertext at ``56 + i * (C + 16)``, so each chunk is decrypted into a
scratch chunk and moved down. Peak memory stays one payload plus a few chunks; the
file is read once; no second digest is needed (nothing is re-read).

Chunk ``i``'s plaintext lands ``56 + 16 * i`` bytes below its ciphertext, so it
overwrites ciphertext of chunks before ``i`` only (and the head of its own, already
read). Worker threads take contiguous chunk ranges; each worker but the first holds its
first chunk's plaintext back until the previous worker has read its last ciphertext
chunk, then writes it. The chunks after a range's first must still land above the
previous range's ciphertext: ``(lo + 1) * C >= 56 + lo * (C + 16)``, i.e.
``C >= 56 + 16 * lo`` for every range start ``lo`` (:func:`_ranges_can_overlap_safely`);
otherwise (small chunks, or payloads of tens of thousands of chunks) one thread does
it all. So the result is the same bytes as one thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import IO

from sealpack import errors
from sealpack.envelope import buffers, parallel, pipeline, stream, suite

__all__ = ["decrypt_in_place", "read_hashed", "read_payload"]

Progress = Callable[[int, int], None]
READ_BLOCK = 4 << 20
"""read_hashed reads (and hashes) this many bytes at a time."""
MAX_THREADS = 2
"""Each thread holds two chunks (scratch and its held first chunk), so the extra memory
is at most 3 chunks whatever the machine; two threads already saturate memory here."""


def read_payload(source: IO[bytes], length: int) -> bytearray:
    """Read exactly ``length`` payload bytes from ``source`` into a fresh buffer.

    Raises:
        TamperedError: the file ends early.
    """
    payload = buffers.plain_bytearray(length)
    with memoryview(payload) as view:
        _read_into(source, view)
    return payload


def _read_into(source: IO[bytes], view: memoryview) -> None:
    filled = 0
    while filled < len(view):
        count = source.readinto(view[filled:])  # type: ignore[attr-defined]
        if not count:
            raise errors.TamperedError()
        filled += count


def read_hashed(source: IO[bytes], length: int) -> tuple[bytearray, bytes]:
    """:func:`read_payload`, hashing block i in a worker thread while block i+1 is read
    (envelope.pipeline), so the digest costs little more than the read.

    Returns:
        The payload ciphertext and its payload digest (BLAKE3-256).

    Raises:
        TamperedError: the file ends early.
    """
    payload = buffers.plain_bytearray(length)
    blocks = -(-length // READ_BLOCK)
    hashing = pipeline.digester_for(suite.payload_hasher(), blocks)
    with memoryview(payload) as view, hashing as digester:
        for start in range(0, length, READ_BLOCK):
            block = view[start : start + READ_BLOCK]
            _read_into(source, block)
            digester.update(block)
        digest = digester.finish()
    return payload, digest


class _Handoff:
    """Per range: 'this range has read its last ciphertext chunk'; stop on any error."""

    def __init__(self, ranges: int) -> None:
        self.read_done = [threading.Event() for _ in range(ranges)]
        self.stopped = False

    def fail(self) -> None:
        self.stopped = True
        for event in self.read_done:
            event.set()


def decrypt_in_place(
    decryptor: stream.ChunkDecryptor,
    payload: bytearray,
    size: int,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> bytearray:
    """Authenticate and decrypt ``payload`` (prefix included) into its own first ``size`` bytes.

    Args:
        decryptor: made from a *copy* of the payload's 56-byte prefix.
        payload: exactly ``ciphertext_length(size, chunk)`` bytes; reused as the output.
        size: the plaintext size.
        progress: called in this thread with (bytes done, total).
        workers: threads (default :func:`parallel.default_workers`, at most MAX_THREADS).

    Returns:
        ``payload`` itself, shortened to ``size`` bytes of plaintext.

    Raises:
        TamperedError: a chunk fails authentication (``payload`` is then garbage).
    """
    chunk_size = decryptor.chunk_size
    chunks = stream.chunk_count(size, chunk_size)
    threads = min(parallel.workers_for(chunks, workers), MAX_THREADS)
    ranges = parallel.Ranges(chunks, threads)
    if not _ranges_can_overlap_safely(ranges, chunk_size):
        ranges = parallel.Ranges(chunks, 1)
    handoff = _Handoff(len(ranges.bounds))
    caller = threading.get_ident()
    with memoryview(payload) as view:

        def job(lo: int, hi: int) -> None:
            try:
                _decrypt_range(decryptor, view, size, lo, hi, handoff, ranges, report)
            except BaseException:
                handoff.fail()
                raise

        def report(done: int) -> None:
            if progress is not None and threading.get_ident() == caller:
                progress(done, size)

        ranges.run(job)
    del payload[size:]
    if progress is not None and len(ranges.bounds) > 1:
        progress(size, size)
    return payload


def _ranges_can_overlap_safely(ranges: parallel.Ranges, chunk_size: int) -> bool:
    """True when no range writes (beyond its held first chunk) over ciphertext the range
    before it has still to read: ``C >= 56 + 16 * lo`` for every later range start."""
    return all(
        chunk_size >= stream.PREFIX_SIZE + stream.TAG_SIZE * lo for lo, _ in ranges.bounds[1:]
    )


def _decrypt_range(
    decryptor: stream.ChunkDecryptor,
    view: memoryview,
    size: int,
    lo: int,
    hi: int,
    handoff: _Handoff,
    ranges: parallel.Ranges,
    report: Callable[[int], None],
) -> None:
    """Decrypt chunks lo..hi-1 into place; hold chunk lo back unless this is range 0."""
    chunk_size = decryptor.chunk_size
    which = next(n for n, bound in enumerate(ranges.bounds) if bound[0] == lo)
    scratch = memoryview(bytearray(chunk_size))
    held: tuple[memoryview, int, int] | None = None
    for index in range(lo, hi):
        if handoff.stopped:
            return
        start = index * chunk_size
        length = min(chunk_size, size - start)
        place = stream.PREFIX_SIZE + index * (chunk_size + stream.TAG_SIZE)
        if index == lo and which > 0:
            held = (memoryview(bytearray(chunk_size))[:length], start, length)
            decryptor.decrypt_chunk_into(
                index, view[place : place + length + stream.TAG_SIZE], held[0]
            )
        else:
            target = scratch[:length]
            decryptor.decrypt_chunk_into(
                index, view[place : place + length + stream.TAG_SIZE], target
            )
            view[start : start + length] = target
        report(ranges.count(length))
    handoff.read_done[which].set()
    if held is not None:
        handoff.read_done[which - 1].wait()
        if handoff.stopped:
            return
        plain, start, length = held
        view[start : start + length] = plain
