"""One-read file opening: ciphertext decrypted into its own buffer, any thread count."""

from __future__ import annotations

import io
import threading
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpack import errors
from sealpack.envelope import inplace, parallel, stream, suite

CHUNK = 1024
KEY = bytes(range(32, 64))
CONTEXT = b"in place"
SALT = bytes(range(24))


@pytest.fixture(autouse=True)
def _always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges even for small payloads, and more than two of them (the hand-over chain)."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_CHUNKS", 1)
    monkeypatch.setattr(inplace, "MAX_THREADS", 8)
    monkeypatch.setattr(parallel.pipeline, "GIL_RELEASED", True)


def _sealed(data: bytes) -> bytes:
    return stream.encrypt(KEY, data, context=CONTEXT, chunk_size=CHUNK, rng=lambda n: SALT)


def _open(blob: bytes, size: int, workers: int) -> bytearray:
    payload = inplace.read_payload(io.BytesIO(blob), len(blob))
    decryptor = stream.ChunkDecryptor(
        KEY, bytes(payload[: stream.PREFIX_SIZE]), context=CONTEXT, chunk_size=CHUNK
    )
    return inplace.decrypt_in_place(decryptor, payload, size, workers=workers)


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=12 * CHUNK + 9), workers=st.integers(min_value=1, max_value=6))
def test_in_place_result_is_the_plaintext_whatever_the_thread_count(
    data: bytes, workers: int
) -> None:
    opened = _open(_sealed(data), len(data), workers)
    assert type(opened) is bytearray
    assert opened == data


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_a_flipped_bit_in_any_chunk_is_refused(workers: int) -> None:
    data = bytes(i % 199 for i in range(9 * CHUNK + 100))
    blob = _sealed(data)
    for index in range(stream.chunk_count(len(data), CHUNK)):
        tampered = bytearray(blob)
        tampered[stream.PREFIX_SIZE + index * (CHUNK + stream.TAG_SIZE) + 5] ^= 0x40
        with pytest.raises(errors.TamperedError):
            _open(bytes(tampered), len(data), workers)
        assert not [t for t in threading.enumerate() if t.name == "sealpack-chunks"]


def test_a_short_file_is_tampering() -> None:
    blob = _sealed(b"x" * 3000)
    with pytest.raises(errors.TamperedError):
        inplace.read_payload(io.BytesIO(blob[:-1]), len(blob))


def test_memory_is_the_payload_and_three_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inplace, "MAX_THREADS", 2)  # the shipped cap
    big = 64 * 1024
    data = bytes(40 * big + 3)
    blob = stream.encrypt(KEY, data, context=CONTEXT, chunk_size=big, rng=lambda n: SALT)
    payload = inplace.read_payload(io.BytesIO(blob), len(blob))
    decryptor = stream.ChunkDecryptor(
        KEY, bytes(payload[: stream.PREFIX_SIZE]), context=CONTEXT, chunk_size=big
    )
    tracemalloc.start()
    try:
        inplace.decrypt_in_place(decryptor, payload, len(data), workers=8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert payload == data
    assert peak < 4 * big  # 2 threads at most: a scratch each and one held chunk


def test_progress_reaches_the_total() -> None:
    data = bytes(7 * CHUNK + 1)
    payload = inplace.read_payload(io.BytesIO(_sealed(data)), len(_sealed(data)))
    decryptor = stream.ChunkDecryptor(
        KEY, bytes(payload[: stream.PREFIX_SIZE]), context=CONTEXT, chunk_size=CHUNK
    )
    seen: list[tuple[int, int]] = []
    inplace.decrypt_in_place(
        decryptor, payload, len(data), workers=3, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (len(data), len(data))


class _Trickle(io.RawIOBase):
    """A readable file that returns at most 700 bytes per read (short reads)."""

    def __init__(self, data: bytes) -> None:
        self._source = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._source.readinto(memoryview(buffer)[:700])


@pytest.mark.parametrize("length", [0, 1, 4095, 4096, 4097, 5 * 4096 + 17])
def test_read_hashed_reads_and_hashes_like_the_two_passes(
    monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    monkeypatch.setattr(inplace, "READ_BLOCK", 4096)
    monkeypatch.setattr(parallel.pipeline, "PIPELINE_MIN_CHUNKS", 1)  # the hash thread
    data = bytes(i * 7 % 251 for i in range(length)) + b"trailer"
    for source in (io.BytesIO(data), _Trickle(data)):
        payload, digest = inplace.read_hashed(source, length)  # type: ignore[arg-type]
        assert payload == data[:length]
        assert digest == suite.payload_digest(data[:length])
        assert source.read(7) == b"trailer"
    assert not [t for t in threading.enumerate() if t.name == "sealpack-hash"]


def test_read_hashed_refuses_a_short_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inplace, "READ_BLOCK", 4096)
    monkeypatch.setattr(parallel.pipeline, "PIPELINE_MIN_CHUNKS", 1)
    with pytest.raises(errors.TamperedError):
        inplace.read_hashed(io.BytesIO(bytes(3 * 4096)), 3 * 4096 + 1)
    assert not [t for t in threading.enumerate() if t.name == "sealpack-hash"]
