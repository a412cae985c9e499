"""Chunk ranges on several threads: same bytes as one thread, every tamper refused, bounded."""

from __future__ import annotations

import itertools
import threading
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpack import errors
from sealpack.envelope import parallel, stream, suite

CHUNK = 1024
KEY = bytes(range(32))
CONTEXT = b"test context"
SALT = bytes(24)


@pytest.fixture(autouse=True)
def _always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split even small payloads into ranges, whatever the cryptography release."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_CHUNKS", 1)
    monkeypatch.setattr(parallel.pipeline, "GIL_RELEASED", True)


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sealpack-chunks"]


def _pieces(data: bytes, cuts: list[int]) -> list[memoryview]:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [memoryview(data)[a:b] for a, b in itertools.pairwise(bounds)]


def _encrypt(pieces: list[memoryview], workers: int) -> bytes:
    size = sum(len(p) for p in pieces)
    encryptor = stream.ChunkEncryptor(KEY, context=CONTEXT, chunk_size=CHUNK, salt=SALT)
    out = bytearray(stream.ciphertext_length(size, CHUNK))
    parallel.encrypt_chunks(encryptor, pieces, memoryview(out), workers=workers)
    return bytes(out)


def _reference(data: bytes) -> bytes:
    return stream.encrypt(KEY, data, context=CONTEXT, chunk_size=CHUNK, rng=lambda n: SALT)


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=9 * CHUNK + 7),
    cuts=st.lists(st.integers(min_value=0, max_value=10 * CHUNK), max_size=6),
    workers=st.integers(min_value=1, max_value=5),
)
def test_encryption_is_the_same_bytes_whatever_the_thread_count(
    data: bytes, cuts: list[int], workers: int
) -> None:
    assert _encrypt(_pieces(data, cuts), workers) == _reference(data)


@pytest.mark.parametrize("size", [0, CHUNK - 1, CHUNK, 7 * CHUNK, 7 * CHUNK + 3])
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_decryption_matches_and_chunks_land_in_place(size: int, workers: int) -> None:
    data = bytes(i * 7 % 251 for i in range(size))
    blob = _reference(data)
    out = bytearray(size)
    decryptor = stream.ChunkDecryptor(
        KEY, blob[: stream.PREFIX_SIZE], context=CONTEXT, chunk_size=CHUNK
    )
    parallel.decrypt_chunks(decryptor, memoryview(blob), memoryview(out), workers=workers)
    assert bytes(out) == data


@pytest.mark.parametrize("workers", [2, 3])
def test_a_flipped_bit_in_any_chunk_is_refused_and_every_thread_joined(workers: int) -> None:
    data = bytes(range(256)) * (6 * CHUNK // 256) + b"tail"
    blob = _reference(data)
    chunks = stream.chunk_count(len(data), CHUNK)
    for index in range(chunks):
        place = stream.PREFIX_SIZE + index * (CHUNK + stream.TAG_SIZE)
        tampered = bytearray(blob)
        tampered[place + 3] ^= 1
        decryptor = stream.ChunkDecryptor(
            KEY, blob[: stream.PREFIX_SIZE], context=CONTEXT, chunk_size=CHUNK
        )
        with pytest.raises(errors.TamperedError):
            parallel.decrypt_chunks(
                decryptor, memoryview(tampered), memoryview(bytearray(len(data))), workers=workers
            )
        assert not _workers()


def test_swapped_chunks_are_refused() -> None:
    data = b"a" * CHUNK + b"b" * CHUNK + b"c" * 10
    blob = bytearray(_reference(data))
    first = slice(stream.PREFIX_SIZE, stream.PREFIX_SIZE + CHUNK + stream.TAG_SIZE)
    second = slice(first.stop, first.stop + CHUNK + stream.TAG_SIZE)
    blob[first], blob[second] = blob[second], blob[first]
    decryptor = stream.ChunkDecryptor(
        KEY, blob[: stream.PREFIX_SIZE], context=CONTEXT, chunk_size=CHUNK
    )
    with pytest.raises(errors.TamperedError):
        parallel.decrypt_chunks(
            decryptor, memoryview(blob), memoryview(bytearray(len(data))), workers=2
        )


def test_progress_reaches_the_total_and_a_failing_callback_stops_every_thread() -> None:
    data = bytes(10 * CHUNK + 5)
    seen: list[tuple[int, int]] = []
    encryptor = stream.ChunkEncryptor(KEY, context=CONTEXT, chunk_size=CHUNK, salt=SALT)
    out = memoryview(bytearray(stream.ciphertext_length(len(data), CHUNK)))
    parallel.encrypt_chunks(
        encryptor, [data], out, workers=3, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    def stop(done: int, total: int) -> None:
        raise errors.SealArgumentError("stop")

    with pytest.raises(errors.SealArgumentError, match="stop"):
        parallel.encrypt_chunks(encryptor, [data], out, workers=3, progress=stop)
    assert not _workers()


def test_worker_errors_reach_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    encryptor = stream.ChunkEncryptor(KEY, context=CONTEXT, chunk_size=CHUNK, salt=SALT)
    original = stream.ChunkEncryptor.encrypt_chunk_into

    def failing(self: stream.ChunkEncryptor, index: int, plain: object, out: memoryview) -> None:
        if index == 7:
            raise RuntimeError("chunk 7 failed")
        original(self, index, plain, out)  # type: ignore[arg-type]

    monkeypatch.setattr(stream.ChunkEncryptor, "encrypt_chunk_into", failing)
    data = bytes(9 * CHUNK)
    out = memoryview(bytearray(stream.ciphertext_length(len(data), CHUNK)))
    with pytest.raises(RuntimeError, match="chunk 7"):
        parallel.encrypt_chunks(encryptor, [data], out, workers=2)
    assert not _workers()


@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 3 << 20])
def test_parallel_digest_is_the_suite_digest(workers: int, size: int) -> None:
    data = bytes(i % 253 for i in range(size)) if size < 1 << 20 else b"\x5a" * size
    assert parallel.payload_digest(data, workers=workers) == suite.payload_digest(data)


def _peak(function: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_one_staging_chunk_per_thread() -> None:
    big = 64 * 1024
    pieces = [bytes(10 * big + 17), bytes(3 * big + 5)]  # a chunk spans the two pieces
    size = sum(len(p) for p in pieces)
    encryptor = stream.ChunkEncryptor(KEY, context=CONTEXT, chunk_size=big, salt=SALT)
    out = memoryview(bytearray(stream.ciphertext_length(size, big)))
    peak = _peak(lambda: parallel.encrypt_chunks(encryptor, pieces, out, workers=2))
    assert peak < 3 * big  # 2 staging chunks, not a copy of the 850 KiB payload


def test_default_workers_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALPACK_THREADS", "1")
    assert parallel.default_workers() == 1
    monkeypatch.setenv("SEALPACK_THREADS", "64")
    assert parallel.default_workers() == parallel.MAX_WORKERS
    monkeypatch.setenv("SEALPACK_THREADS", "zero")
    assert parallel.default_workers() >= 1
