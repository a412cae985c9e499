"""Seal to a file on every core: chunks in segments, encrypted, hashed, written.

``seal_to`` used to stream chunk after chunk (envelope.pipeline: the calling thread
encrypts and writes chunk i while one worker hashes chunk i-1), so the calling thread
did two of the three passes (AES-GCM and the copy into the page cache) one after the
other. Here the payload's chunks are grouped into segments of about SEGMENT_BYTES (a
whole number of chunks; 2 MiB stays in a core's L2 cache here) and three passes
overlap over a ring of RING_SLOTS segment buffers (bounded memory, see
:func:`ring_bytes`, whatever the payload size):

1. fill: each chunk encrypted into its fixed place in the segment's buffer (chunk i
   under nonce ``base XOR i``, as everywhere);
2. hash, in order: each segment fed to the payload hasher;
3. emit, in order: ``write(segment)``.

The calling thread and one helper per further core (three threads at most) share the
passes, each taking whatever is ready next (envelope.sharing): a thread per pass left
one of two cores idle for a fifth of the time. The header and the 56-byte prefix are
written first, the signature last (by the calling thread, over the digest). AES-GCM,
BLAKE3 and ``write`` release the GIL, so the passes overlap on the cores there are. The
bytes are those of ``seal()`` (tested for several thread caps). A buffer is reused once
its segment is hashed and written. Any error stops every thread at its next pick; every
thread is joined and the first error is raised in the calling thread, which alone calls
``progress``. Writing to sealpack's own temp file also starts the writeback of each
range early and reserves the file's size up front (envelope.writeback), so the fsync
before the rename has little left.

Used for payloads of SEGMENTED_MIN_CHUNKS chunks or more when more than one thread is
allowed (``SEALPACK_THREADS=1`` keeps the two-thread stream). Measured and not taken
(256 MiB, this 2-core VM): writing through ``O_DIRECT`` (no page-cache copy, but bound by
the disk at ~2.5 GB/s, and a file read right after comes from the disk: +0.06 s),
encrypting into an ``mmap`` of the file (faulting its pages in costs 0.12-0.15 s, more
than the copy it saves), and a second thread that only encrypts (no gain).
"""

from __future__ import annotations

import errno
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sealpack.envelope import parallel, pipeline, sharing, stream, suite, writeback
from sealpack.envelope.header import SIGNATURE_SIZE

__all__ = [
    "SEGMENTED_MIN_CHUNKS",
    "Layout",
    "layout_for",
    "ring_bytes",
    "seal_into",
    "worthwhile",
    "write_all",
]

Buffer = bytes | bytearray | memoryview
Progress = Callable[[int, int], None]
Write = Callable[[memoryview], Any]
SEGMENTED_MIN_CHUNKS = 32
"""Smaller payloads keep the two-thread stream (envelope.pipeline; fewer buffers)."""
SEGMENT_BYTES = 2 << 20
"""About this many plaintext bytes per segment (a whole number of chunks)."""
RING_SLOTS = 4
"""Segment buffers: one being encrypted, one hashed, one written, one spare."""
_TAG = stream.TAG_SIZE


@dataclass(frozen=True)
class Layout:
    """The chunks of one payload grouped into segments of ``per_segment`` chunks."""

    size: int
    chunk: int
    per_segment: int

    @property
    def chunks(self) -> int:
        return stream.chunk_count(self.size, self.chunk)

    @property
    def segments(self) -> int:
        return -(-self.chunks // self.per_segment)

    def members(self, s: int) -> range:
        """The chunks of segment ``s``."""
        first = s * self.per_segment
        return range(first, min(first + self.per_segment, self.chunks))

    def offset(self, i: int) -> int:
        """Where chunk ``i``'s ciphertext starts, from the start of its segment."""
        return (i % self.per_segment) * (self.chunk + _TAG)

    def chunk_length(self, i: int) -> int:
        """Plaintext length of chunk ``i``."""
        return min(self.chunk, self.size - i * self.chunk)

    def segment_bytes(self, s: int) -> int:
        """Ciphertext bytes of segment ``s``."""
        last = self.members(s)[-1]
        return self.offset(last) + self.chunk_length(last) + _TAG

    def slot_bytes(self) -> int:
        """One ring buffer: a full segment."""
        return self.per_segment * (self.chunk + _TAG)


def layout_for(size: int, chunk: int) -> Layout:
    """Segments of about SEGMENT_BYTES, at most 1/16 of the payload, at least one chunk
    (so the ring stays a fraction of a small payload)."""
    chunks = stream.chunk_count(size, chunk)
    return Layout(size, chunk, max(1, min(SEGMENT_BYTES // chunk, chunks // 16)))


def worthwhile(size: int, chunk: int, workers: int | None = None) -> bool:
    """True when the segmented writer is used: enough chunks, and more than one thread
    allowed (``SEALPACK_THREADS=1`` keeps the two-thread stream)."""
    chunks = stream.chunk_count(size, chunk)
    return (
        pipeline.GIL_RELEASED
        and chunks >= SEGMENTED_MIN_CHUNKS
        and parallel.workers_for(chunks, workers) > 1
    )


class _Ring:
    """``count`` reusable segment buffers (plain bytearrays: the allocator recycles
    them between calls, where fresh anonymous memory costs a page fault per 4 KiB)."""

    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self._views = [memoryview(bytearray(size)) for _ in range(count)]

    def slot(self, s: int) -> memoryview:
        return self._views[s % self.count]


@dataclass
class _Job:
    """Everything the three passes share for one payload."""

    layout: Layout
    encryptor: stream.ChunkEncryptor
    source: parallel._Source
    write: Write
    ring: _Ring
    hasher: suite.PayloadHasher

    def fill(self, s: int, staging: bytearray) -> int:
        """Encrypt the chunks of segment ``s`` into its buffer; the plaintext bytes."""
        layout, slot = self.layout, self.ring.slot(s)
        done = 0
        for i in layout.members(s):
            plain = self.source.chunk(i, staging)
            at = layout.offset(i)
            self.encryptor.encrypt_chunk_into(i, plain, slot[at : at + len(plain) + _TAG])
            done += len(plain)
        return done

    def hash(self, s: int) -> None:
        self.hasher.update(self.ring.slot(s)[: self.layout.segment_bytes(s)])

    def emit(self, s: int) -> None:
        write_all(self.write, self.ring.slot(s)[: self.layout.segment_bytes(s)])

    def work(self) -> sharing.Work:
        return sharing.Work(self.layout.segments, self.ring.count, self.fill, self.hash, self.emit)


def write_all(write: Write, piece: memoryview) -> None:
    """``write(piece)``, again for the rest while a raw file reports a short write.

    A callback that returns nothing (or anything but an int count) took the whole piece. A
    count of 0, or None from a raw file (a non-blocking file that is full), would lose
    bytes without a word: OSError instead, never a blob reported written but short.

    Raises:
        OSError: the write accepted nothing.
    """
    raw = isinstance(getattr(write, "__self__", None), io.RawIOBase)
    while piece:
        count = write(piece)
        if count is None and raw:
            raise OSError(errno.EAGAIN, "the file is non-blocking and full: use a blocking file")
        if not isinstance(count, int) or isinstance(count, bool) or count >= len(piece):
            return  # a callback's return value (True, None, ...) is no byte count
        if count <= 0:
            raise OSError(errno.EIO, f"write accepted {count} of {len(piece)} bytes")
        piece = piece[count:]


def seal_into(
    write: Write,
    header_bytes: bytes,
    encryptor: stream.ChunkEncryptor,
    buffers: Sequence[Buffer],
    sign: Callable[[bytes], bytes],
    *,
    progress: Progress | None = None,
) -> int:
    """Write one sealed blob (header, payload, signature) through ``write``, in order.

    Args:
        write: receives the blob piece by piece, in order (e.g. a file's ``write``).
        header_bytes: the encoded header.
        encryptor: the message's chunk encryptor.
        buffers: the plaintext pieces.
        sign: maps the payload digest to the signature.
        progress: called in this thread with (plaintext bytes done, total).

    Returns:
        The number of bytes written.

    Raises:
        Whatever ``write``, ``progress`` or ``sign`` raise (after every thread ended).
    """
    source = parallel._Source(buffers, encryptor.chunk_size)
    layout = layout_for(source.size, encryptor.chunk_size)
    hasher = suite.payload_hasher()
    total = len(header_bytes) + stream.ciphertext_length(source.size, layout.chunk)
    writeback.preallocate(write, total + SIGNATURE_SIZE)
    lead = header_bytes + encryptor.prefix
    write_all(write, memoryview(lead))
    hasher.update(encryptor.prefix)
    job = _Job(layout, encryptor, source, write, _Ring(RING_SLOTS, layout.slot_bytes()), hasher)
    report = None if progress is None else _partial_progress(progress, source.size)
    sharing.run(job.work(), parallel.workers_for(layout.chunks, None), report)
    signature = sign(hasher.digest())
    write_all(write, memoryview(signature))
    if progress is not None:
        progress(source.size, source.size)
    return total + len(signature)


def _partial_progress(progress: Progress, total: int) -> Callable[[int], None]:
    """Progress short of ``total``: the total is reported once, after the signature."""

    def report(done: int) -> None:
        if done < total:
            progress(done, total)

    return report


def ring_bytes(layout: Layout) -> int:
    """The buffer memory :func:`seal_into` holds for ``layout`` (tests, docs)."""
    return RING_SLOTS * layout.slot_bytes()
