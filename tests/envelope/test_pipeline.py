"""The hash pipeline: same digest and bytes as inline hashing, errors propagate, no leaks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors
from sealpack.envelope import opener, parallel, pipeline, randomness, sealer, suite
from sealpack.keys import Identity, KeyBundle, MemoryPrekeyUsage
from tests.envelope.conftest import NOW, FailingWrite, resolver, small_options

PLAIN: list[bytes | memoryview] = [
    b"head" * 300,
    memoryview(bytes(range(256)) * 20),
    b"",
    b"tail" * 333,
]


def _payload_digest(pieces: list[bytes]) -> bytes:
    """The format-v2 payload digest (BLAKE3-256) of the joined pieces, in one call."""
    return suite.payload_digest(b"".join(pieces))


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sealpack-hash"]


def _seeded() -> Iterator[int]:
    return iter(range(10**6))


@pytest.fixture
def threaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the worker thread for every payload, whatever the cryptography release."""
    monkeypatch.setattr(pipeline, "GIL_RELEASED", True)
    monkeypatch.setattr(pipeline, "PIPELINE_MIN_CHUNKS", 1)


class _FailingHasher:
    """Raises on the n-th update."""

    def __init__(self, fail_at: int) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("hash failed")

    def digest(self) -> bytes:
        return b"never"


@given(st.lists(st.binary(max_size=5000), max_size=12), st.integers(1, 3))
def test_threaded_digest_equals_inline(pieces: list[bytes], depth: int) -> None:
    recycled: list[int] = []
    with pipeline.ThreadedDigester(suite.PayloadHasher(), depth) as digester:
        for index, piece in enumerate(pieces):
            digester.update(memoryview(piece), lambda i=index: recycled.append(i))  # type: ignore[misc]
        digest = digester.finish()
    assert digest == _payload_digest(pieces)
    assert recycled == list(range(len(pieces)))  # every piece given back, in order
    assert not _workers()


def test_worker_error_reaches_the_caller_and_the_worker_ends() -> None:
    recycled: list[int] = []
    failing = pipeline.ThreadedDigester(_FailingHasher(fail_at=2), depth=1)
    with pytest.raises(RuntimeError, match="hash failed"), failing as digester:
        for index in range(50):
            digester.update(memoryview(b"x" * 4096), lambda i=index: recycled.append(i))  # type: ignore[misc]
        digester.finish()
    assert not _workers()
    assert recycled == sorted(recycled) and len(recycled) >= 2  # buffers still come back


def test_caller_error_stops_the_worker() -> None:
    with pytest.raises(KeyError), pipeline.ThreadedDigester(suite.PayloadHasher()) as digester:
        digester.update(memoryview(b"y" * 10000))
        raise KeyError("caller failed")
    assert not _workers()


def test_digester_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "GIL_RELEASED", True)
    small = pipeline.digester_for(suite.PayloadHasher(), pipeline.PIPELINE_MIN_CHUNKS - 1)
    assert isinstance(small, pipeline.InlineDigester)
    with pipeline.digester_for(suite.PayloadHasher(), pipeline.PIPELINE_MIN_CHUNKS) as large:
        assert isinstance(large, pipeline.ThreadedDigester)
        large.finish()
    monkeypatch.setattr(pipeline, "GIL_RELEASED", False)
    old = pipeline.digester_for(suite.PayloadHasher(), 10**6)
    assert isinstance(old, pipeline.InlineDigester)


@pytest.mark.parametrize(
    ("version", "released"),
    [
        ("50.0.0", True),
        ("50.0.2", True),
        ("51.1", True),
        ("49.0.0", False),
        ("47.0.0", False),
        ("dev", False),
    ],
)
def test_gil_release_starts_with_cryptography_50(version: str, released: bool) -> None:
    assert pipeline._gil_released(version) is released


def test_staging_pool_makes_at_most_count_buffers() -> None:
    pool = pipeline.StagingPool(2, 64)
    first, give_first = pool.take(10)
    second, give_second = pool.take(64)
    assert len(first) == 10 and len(second) == 64
    taken: list[memoryview] = []
    waiter = threading.Thread(target=lambda: taken.append(pool.take(5)[0]))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not taken  # both buffers in use: the third take waits
    give_first()
    waiter.join(5)
    assert taken and taken[0].obj is first.obj  # it got the recycled buffer
    give_second()


def _seal_both(alice: Identity, bob: Identity) -> tuple[bytearray, bytes]:
    """Seal PLAIN in memory and streaming, both from the same seeded rng.

    ``bob`` is classical: ML-KEM encapsulation draws its own randomness, so only an
    X3DH stanza is reproducible byte for byte.
    """
    seeds = [_seeded(), _seeded()]

    def rng_of(seed: Iterator[int]) -> Callable[[int], bytes]:
        return lambda n: bytes([next(seed) % 256]) * n

    recipients = [bob.bundle()]
    alice.prekey_usage = MemoryPrekeyUsage()  # every seal picks the same one-time prekey
    with randomness.reproducible_for_vectors():  # the same seeded rng on purpose
        return _seal_twice(alice, recipients, seeds, rng_of)


def _seal_twice(
    alice: Identity,
    recipients: list[KeyBundle],
    seeds: list[Iterator[int]],
    rng_of: Callable[[Iterator[int]], Callable[[int], bytes]],
) -> tuple[bytearray, bytes]:
    in_memory = sealer.seal_buffers(
        PLAIN,
        sender=alice,
        recipients=recipients,
        options=small_options(allow_classical=True),
        rng=rng_of(seeds[0]),
        now=NOW,
    )
    pieces: list[bytes] = []
    alice.prekey_usage = MemoryPrekeyUsage()
    sealer.seal_buffers_to(
        PLAIN,
        lambda v: pieces.append(bytes(v)),
        sender=alice,
        recipients=recipients,
        options=small_options(allow_classical=True),
        rng=rng_of(seeds[1]),
        now=NOW,
    )
    return in_memory, b"".join(pieces)


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_threaded_seal_is_byte_identical_to_inline(
    alice: Identity, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    bob = Identity.generate("bob", one_time_prekeys=3, post_quantum=False, now=NOW - 60)
    monkeypatch.setattr(pipeline, "GIL_RELEASED", False)
    inline_blob, inline_stream = _seal_both(alice, bob)
    monkeypatch.setattr(pipeline, "GIL_RELEASED", True)
    monkeypatch.setattr(pipeline, "PIPELINE_MIN_CHUNKS", 1)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_CHUNKS", 1)  # chunk ranges on `threads`
    monkeypatch.setenv("SEALPACK_THREADS", threads)
    threaded_blob, threaded_stream = _seal_both(alice, bob)
    assert inline_blob == inline_stream == threaded_blob == threaded_stream
    plaintext, _ = opener.open_buffer(
        threaded_blob,
        recipient=bob,
        resolve_sender=resolver(alice.bundle()),
        options=opener.OpenOptions(now=NOW),
    )
    assert plaintext == b"".join(bytes(p) for p in PLAIN)
    assert not _workers()


@pytest.mark.usefixtures("threaded")
def test_failing_writer_propagates_without_leaking(alice: Identity, bob: Identity) -> None:
    write = FailingWrite(4)
    with pytest.raises(OSError, match="disk full"):
        sealer.seal_buffers_to(
            PLAIN, write, sender=alice, recipients=[bob.bundle()], options=small_options(), now=NOW
        )
    assert not _workers()


@pytest.mark.usefixtures("threaded")
def test_failing_progress_propagates_without_leaking(alice: Identity, bob: Identity) -> None:
    def progress(done: int, total: int) -> None:
        if done > 2000:
            raise errors.SealArgumentError("stop")

    with pytest.raises(errors.SealArgumentError):
        sealer.seal_buffers(
            PLAIN,
            sender=alice,
            recipients=[bob.bundle()],
            options=small_options(),
            now=NOW,
            progress=progress,
        )
    assert not _workers()
