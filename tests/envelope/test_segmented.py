"""seal_to on every core (envelope.segmented): the bytes of seal(), errors, files, memory."""

from __future__ import annotations

import errno
import gc
import io
import itertools
import os
import stat
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sealpack import api, errors
from sealpack.envelope import (
    fileio,
    opener,
    pipeline,
    randomness,
    sealer,
    segmented,
    suite,
)
from sealpack.envelope import writeback as wb
from sealpack.keys import Identity, MemoryPrekeyUsage
from tests.envelope.conftest import NOW, SMALL_CHUNK, FailingWrite, resolver, small_options

# 40 chunks of 1 KiB and a short last one, spread over unequal buffers (chunks that span
# two buffers, an empty buffer) so every kind of chunk source is used.
PLAIN: list[bytes] = [bytes(range(256)) * 61, b"", b"x" * 7001, os.urandom(25_000)]
SIZE = sum(len(p) for p in PLAIN)
STAGE_THREADS = ("sealpack-seal", "sealpack-hash", "sealpack-write", "sealpack-writeback")


def _stage_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in STAGE_THREADS]


def _seeded_rng() -> Callable[[int], bytes]:
    counter = iter(range(10**6))
    return lambda n: bytes(next(counter) % 251 for _ in range(n))


@pytest.fixture
def bob() -> Identity:
    """A classical recipient: its stanza is reproducible from the rng (ML-KEM
    encapsulation draws its own randomness)."""
    return Identity.generate("bob", one_time_prekeys=3, post_quantum=False, now=NOW - 60)


@pytest.fixture
def segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three chunks per segment, so a small payload has many segments and the ring
    of buffers is reused several times."""
    monkeypatch.setattr(pipeline, "GIL_RELEASED", True)
    monkeypatch.setattr(segmented, "SEGMENT_BYTES", 3 * SMALL_CHUNK)
    monkeypatch.setattr(segmented, "SEGMENTED_MIN_CHUNKS", 32)


def _seal_in_memory(alice: Identity, bob: Identity) -> bytes:
    with randomness.reproducible_for_vectors():
        return bytes(
            sealer.seal_buffers(
                PLAIN,
                sender=alice,
                recipients=[bob.bundle()],
                options=small_options(allow_classical=True),
                rng=_seeded_rng(),
                now=NOW,
            )
        )


def _opened(blob: bytes, alice: Identity, bob: Identity) -> bytes | bytearray:
    """What ``bob`` opens from ``alice``'s blob (every check of the opener)."""
    plaintext, _ = opener.open_buffer(
        blob,
        recipient=bob,
        resolve_sender=resolver(alice.bundle()),
        options=opener.OpenOptions(now=NOW),
    )
    return plaintext


def _seal_streamed(alice: Identity, bob: Identity, **kwargs: Any) -> bytes:
    pieces: list[bytes] = []
    written = _seal_through(lambda view: pieces.append(bytes(view)), alice, bob, **kwargs)
    blob = b"".join(pieces)
    assert written == len(blob)
    return blob


def _seal_through(
    write: Callable[[memoryview], Any], alice: Identity, bob: Identity, **kwargs: Any
) -> int:
    """seal_buffers_to(PLAIN) through ``write``, reproducibly (the bytes of seal())."""
    alice.prekey_usage = MemoryPrekeyUsage()
    with randomness.reproducible_for_vectors():
        return sealer.seal_buffers_to(
            PLAIN,
            write,
            sender=alice,
            recipients=[bob.bundle()],
            options=small_options(allow_classical=True),
            rng=_seeded_rng(),
            now=NOW,
            **kwargs,
        )


@pytest.mark.usefixtures("segments")
@pytest.mark.parametrize("threads", ["2", "3", "5"])
def test_segmented_bytes_equal_seal_whatever_the_thread_cap(
    alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    expected = _seal_in_memory(alice, bob)
    monkeypatch.setenv("SEALPACK_THREADS", threads)
    calls: list[int] = []
    original = segmented.seal_into
    monkeypatch.setattr(
        segmented, "seal_into", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    blob = _seal_streamed(alice, bob)
    assert calls, "the segmented writer was not used"
    assert blob == expected
    assert _opened(blob, alice, bob) == b"".join(PLAIN)
    assert not _stage_threads()


def test_layout_covers_every_chunk_once() -> None:
    for size in (0, 1, SMALL_CHUNK, 17 * SMALL_CHUNK, 17 * SMALL_CHUNK + 5, 64 * SMALL_CHUNK):
        layout = segmented.layout_for(size, SMALL_CHUNK)
        members = [i for s in range(layout.segments) for i in layout.members(s)]
        assert members == list(range(layout.chunks))
        ciphertext = sum(layout.segment_bytes(s) for s in range(layout.segments))
        assert ciphertext == size + suite_tag_bytes(layout.chunks)
        assert all(layout.segment_bytes(s) <= layout.slot_bytes() for s in range(layout.segments))


def suite_tag_bytes(chunks: int) -> int:
    return 16 * chunks


def test_ring_memory_is_bounded_whatever_the_payload() -> None:
    """Four segments of at most 2 MiB, and a small part of a small payload."""
    for size in (32 << 20, 256 << 20, 1 << 40):
        layout = segmented.layout_for(size, suite.DEFAULT_CHUNK_SIZE)
        assert segmented.ring_bytes(layout) <= min(9 << 20, size // 3)


@pytest.mark.usefixtures("segments")
def test_one_thread_keeps_the_stream(
    alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEALPACK_THREADS=1: no segmented writer, the same bytes from the old stream."""
    expected = _seal_in_memory(alice, bob)
    monkeypatch.setenv("SEALPACK_THREADS", "1")
    monkeypatch.setattr(segmented, "seal_into", None)  # would fail if called
    assert _seal_streamed(alice, bob) == expected


@pytest.mark.usefixtures("segments")
@pytest.mark.parametrize("fail_at", [1, 2, 7, 15])
def test_failing_write_propagates_and_joins_every_thread(
    alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    monkeypatch.setenv("SEALPACK_THREADS", "3")
    write = FailingWrite(fail_at)
    with pytest.raises(OSError, match="disk full"):
        sealer.seal_buffers_to(
            PLAIN,
            write,
            sender=alice,
            recipients=[bob.bundle()],
            options=small_options(allow_classical=True),
            now=NOW,
        )
    assert write.calls == fail_at  # nothing written after the failure
    assert not _stage_threads()


class _FailingHasher:
    def __init__(self) -> None:
        self.calls = 0

    def update(self, data: object) -> None:
        self.calls += 1
        if self.calls == 4:
            raise RuntimeError("hash failed")

    def digest(self) -> bytes:
        raise AssertionError("never reached")


@pytest.mark.usefixtures("segments")
def test_failing_hash_propagates(
    alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suite, "payload_hasher", _FailingHasher)
    written: list[int] = []
    with pytest.raises(RuntimeError, match="hash failed"):
        sealer.seal_buffers_to(
            PLAIN,
            lambda v: written.append(len(v)),
            sender=alice,
            recipients=[bob.bundle()],
            options=small_options(allow_classical=True),
            now=NOW,
        )
    # The lead, and at most the two segments hashed before plus one ring of buffers
    # filled ahead of the hash (writes need not wait for the hash of their segment).
    assert len(written) <= 1 + 2 + segmented.RING_SLOTS
    assert not _stage_threads()


@pytest.mark.usefixtures("segments")
def test_progress_from_the_calling_thread_monotonic_and_complete(
    alice: Identity, bob: Identity
) -> None:
    seen: list[tuple[int, int]] = []
    caller = threading.get_ident()

    def progress(done: int, total: int) -> None:
        assert threading.get_ident() == caller
        seen.append((done, total))

    _seal_streamed(alice, bob, progress=progress)
    assert seen[-1] == (SIZE, SIZE)
    assert seen.count((SIZE, SIZE)) == 1  # once, after the signature (as the stream path)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert {t for _, t in seen} == {SIZE}


def _seal_to(target: Any, alice: Identity, bob: Identity, **kwargs: Any) -> None:
    """What api.seal_frame_to does, with 1 KiB chunks."""
    with fileio.atomic_output(target) as sink:
        sealer.seal_buffers_to(
            PLAIN,
            sink.write,
            sender=alice,
            recipients=[bob.bundle()],
            options=small_options(allow_classical=True),
            now=NOW,
            **kwargs,
        )


@pytest.mark.usefixtures("segments")
def test_seal_to_path_failure_leaves_no_file(
    alice: Identity, bob: Identity, tmp_path: Path
) -> None:
    target = tmp_path / "model.sealed"
    target.write_bytes(b"previous")

    def progress(done: int, total: int) -> None:
        if done > SIZE // 2:
            raise errors.SealArgumentError("stop")

    with pytest.raises(errors.SealArgumentError):
        _seal_to(target, alice, bob, progress=progress)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.sealed"]
    assert not _stage_threads()


@pytest.mark.usefixtures("segments")
def test_seal_to_path_is_fsynced_before_rename_and_written_back_early(
    alice: Identity, bob: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    ranges: list[tuple[int, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(
        os, "replace", lambda a, b: (events.append("rename"), real_replace(a, b))[1]
    )
    monkeypatch.setattr(wb, "WRITEBACK_STEP", 4096)
    monkeypatch.setattr(wb, "start_writeback", lambda fd, at, n: ranges.append((at, n)))
    reserved: list[tuple[int, int, int]] = []
    monkeypatch.setattr(wb, "_FALLOCATE", lambda fd, mode, at, n: reserved.append((mode, at, n)))
    target = tmp_path / "model.sealed"
    _seal_to(target, alice, bob)
    # the folder's fsync makes the rename itself survive a power cut
    assert events == ["fsync", "rename", "fsync folder"]
    blob = target.read_bytes()
    assert reserved == [(0, 0, len(blob))]
    assert not _stage_threads()  # the writeback helper ended before the file closed
    assert ranges[0][0] == 0 and len(ranges) > 8
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(ranges))
    assert len(blob) - 4096 - SMALL_CHUNK < ranges[-1][0] + ranges[-1][1] <= len(blob)
    assert _opened(blob, alice, bob) == b"".join(PLAIN)


@pytest.mark.usefixtures("segments")
def test_no_writeback_hint_nor_reservation_for_a_callers_file(
    alice: Identity, bob: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranges: list[tuple[int, int]] = []
    monkeypatch.setattr(wb, "start_writeback", lambda fd, at, n: ranges.append((at, n)))
    monkeypatch.setattr(wb, "_FALLOCATE", lambda *a: ranges.append((-1, -1)))
    with (tmp_path / "own").open("wb") as sink:
        _seal_to(sink, alice, bob)
    assert ranges == []
    assert (tmp_path / "own").stat().st_size > SIZE


def test_seal_to_peak_memory_is_the_ring_not_the_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """48 MiB model, default 1 MiB chunks, two threads: the segmented writer holds four
    2 MiB segments and a chunk of staging per thread, nothing of the payload's size."""
    monkeypatch.setenv("SEALPACK_THREADS", "2")
    monkeypatch.setattr(pipeline, "GIL_RELEASED", True)
    used: list[int] = []
    original = segmented.seal_into
    monkeypatch.setattr(segmented, "seal_into", lambda *a, **k: used.append(1) or original(*a, **k))
    alice = Identity.generate("alice", one_time_prekeys=0)
    reader = Identity.generate("reader", one_time_prekeys=0)
    model = {f"w{i}": np.full((12 << 20) // 4, i, dtype=np.float32) for i in range(4)}
    gc.collect()
    tracemalloc.start()
    try:
        api.seal_to(model, tmp_path / "m.sealed", sender=alice, recipients=[reader.bundle()])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert used
    assert peak < 14 << 20
    opened = api.unseal_from(tmp_path / "m.sealed", recipient=reader, senders=[alice.bundle()])
    assert all(np.array_equal(opened[k], v) for k, v in model.items())


def test_a_large_replaced_file_is_freed_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old file stays readable through the held descriptor until the rename is
    done, then the descriptor is closed by the release thread; small files and
    non-files are never held."""
    monkeypatch.setattr(wb, "RELEASE_MIN", 4096)
    target = tmp_path / "model.sealed"
    target.write_bytes(b"old" * 4096)
    released: list[bytes] = []
    real_release = wb.release_in_background

    def release(fd: int) -> None:
        released.append(os.pread(fd, 3, 0))  # still the old file's bytes
        real_release(fd)

    monkeypatch.setattr(wb, "release_in_background", release)
    with fileio.atomic_output(target) as sink:
        sink.write(b"new")
    assert target.read_bytes() == b"new"
    assert released == [b"old"]
    (tmp_path / "small").write_bytes(b"x")
    assert wb.hold_replaced(tmp_path / "small") is None
    assert wb.hold_replaced(tmp_path / "missing") is None
    (tmp_path / "link").symlink_to(target)
    assert wb.hold_replaced(tmp_path / "link") is None
    os.mkfifo(tmp_path / "fifo")
    assert wb.hold_replaced(tmp_path / "fifo") is None


class _TrickleRaw(io.RawIOBase):
    """A raw file that takes at most 100 bytes a call (a pipe, a socket, a signal)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        taken = memoryview(data).cast("B")[:100]
        self.data += taken
        return len(taken)


@pytest.mark.usefixtures("segments")
@pytest.mark.parametrize("threads", ["1", "2"])
def test_short_writes_of_a_raw_file_give_the_bytes_of_seal(
    alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    """The stream path (one thread) ignored the count a raw file returns: every short
    write lost bytes, and seal_to reported the full length. Now every piece is written
    whole, on both paths."""
    expected = _seal_in_memory(alice, bob)
    monkeypatch.setenv("SEALPACK_THREADS", threads)
    raw = _TrickleRaw()
    assert _seal_through(raw.write, alice, bob) == len(expected)
    assert bytes(raw.data) == expected


@pytest.mark.usefixtures("segments")
@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_full_non_blocking_file_is_an_error_never_a_short_blob(
    alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    """A raw file on a non-blocking pipe nobody reads returns None once the pipe is full;
    that was taken as 'all written': a short blob and success."""
    monkeypatch.setenv("SEALPACK_THREADS", threads)
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    fcntl = pytest.importorskip("fcntl")
    fcntl.fcntl(writer, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)  # a small pipe
    try:
        with io.FileIO(writer, "wb", closefd=False) as raw, pytest.raises(OSError) as caught:
            _seal_through(raw.write, alice, bob)
        assert caught.value.errno == errno.EAGAIN
    finally:
        os.close(reader)
        os.close(writer)
    assert not _stage_threads()


@pytest.mark.usefixtures("segments")
def test_a_write_that_accepts_nothing_is_an_error(
    alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPACK_THREADS", "2")
    calls = 0

    def write(view: memoryview) -> int:
        nonlocal calls
        calls += 1
        return 0 if calls == 3 else len(view)

    with pytest.raises(OSError, match="accepted 0 of"):
        _seal_through(write, alice, bob)
    assert not _stage_threads()


@pytest.mark.usefixtures("segments")
def test_a_failed_seal_releases_the_callers_buffers_at_once(
    alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raised error's traceback held the scheduler's frame, which held the error: a
    cycle kept the ring and memoryviews of the payload until a GC pass, so the caller's
    bytearray could not be resized after catching the error."""
    monkeypatch.setenv("SEALPACK_THREADS", "2")
    payload = bytearray(os.urandom(60 * SMALL_CHUNK))
    write = FailingWrite(4)
    gc.disable()
    try:
        with pytest.raises(OSError, match="disk full"):
            sealer.seal_buffers_to(
                [payload],
                write,
                sender=alice,
                recipients=[bob.bundle()],
                options=small_options(allow_classical=True),
                now=NOW,
            )
        payload.extend(b"x")  # BufferError while a view of it is alive
    finally:
        gc.enable()
    assert len(payload) == 60 * SMALL_CHUNK + 1


@pytest.mark.usefixtures("segments")
@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_callback_returning_true_is_no_byte_count(
    alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    """``True`` is an int (1): taken as a count, every piece but its first byte was
    written a second time."""
    expected = _seal_in_memory(alice, bob)
    monkeypatch.setenv("SEALPACK_THREADS", threads)
    pieces: list[bytes] = []
    _seal_through(lambda view: pieces.append(bytes(view)) or True, alice, bob)
    assert b"".join(pieces) == expected
