"""Unseekable inputs (pipes) are spooled to an anonymous temp file, bounded by the header."""

from __future__ import annotations

import gc
import io
import os
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sealpack import api, errors
from sealpack.envelope import fileio
from sealpack.envelope import header as hdr
from sealpack.keys import Identity
from sealpack.serialization import Codec
from tests.envelope.conftest import NOW

MiB = 1 << 20


class PipeLike(io.RawIOBase):
    """A non-seekable stream that hands out at most ``step`` bytes per read, like a pipe."""

    def __init__(self, data: bytes, step: int = 997) -> None:
        self._data = memoryview(data)
        self._position = 0
        self._step = step
        self.reads = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        self.reads += 1
        piece = self._data[self._position : self._position + min(len(buffer), self._step)]
        buffer[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)

    @property
    def consumed(self) -> int:
        return self._position


def _people() -> tuple[Identity, Identity]:
    return (
        Identity.generate("alice", one_time_prekeys=0, now=NOW - 60),
        Identity.generate("bob", one_time_prekeys=1, now=NOW - 60),
    )


def _kwargs(alice: Identity, bob: Identity) -> dict[str, Any]:
    return {"recipient": bob, "senders": [alice.bundle()], "now": NOW}


def test_unseal_from_a_pipe_like_stream() -> None:
    alice, bob = _people()
    obj = {"weights": np.arange(5000, dtype=np.float32), "round": 3}
    blob = api.seal(obj, sender=alice, recipients=[bob.bundle()], now=NOW)
    source = PipeLike(blob)
    opened = api.unseal_from(source, **_kwargs(alice, bob))
    assert np.array_equal(opened["weights"], obj["weights"]) and opened["round"] == 3
    assert source.consumed == len(blob) and source.reads > len(blob) // 997


def test_unseal_from_a_real_pipe() -> None:
    alice, bob = _people()
    blob = api.seal({"x": list(range(3000))}, sender=alice, recipients=[bob.bundle()], now=NOW)
    read_end, write_end = os.pipe()

    def write() -> None:
        with os.fdopen(write_end, "wb") as sink:
            sink.write(blob)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with os.fdopen(read_end, "rb") as source:
            assert not source.seekable()
            assert api.unseal_from(source, **_kwargs(alice, bob)) == {"x": list(range(3000))}
    finally:
        writer.join()


def test_spooling_keeps_the_blob_out_of_memory(tmp_path: Path) -> None:
    alice, bob = _people()
    codec = Codec()
    model = {"w": np.ones(2 * MiB, dtype=np.float32)}  # an 8 MiB payload
    blob = api.seal(model, sender=alice, recipients=[bob.bundle()], codec=codec, now=NOW)
    source = PipeLike(blob, step=64 * 1024)
    target = tmp_path / "frame"
    gc.collect()
    tracemalloc.start()
    try:
        api.unseal_frame_to(source, target, **_kwargs(alice, bob))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB: the stream was read into memory"
    assert np.array_equal(codec.loads(target.read_bytes())["w"], model["w"])


@pytest.mark.parametrize("change", ["truncated", "trailing", "empty", "not a blob"])
def test_broken_streams_are_tampered(change: str) -> None:
    alice, bob = _people()
    blob = api.seal({"x": 1}, sender=alice, recipients=[bob.bundle()], now=NOW)
    data = {
        "truncated": blob[:-1],
        "trailing": blob + b"\x00",
        "empty": b"",
        "not a blob": b"hello world, this is not sealed" * 10,
    }[change]
    with pytest.raises(errors.TamperedError):
        api.unseal_from(PipeLike(data), **_kwargs(alice, bob))
    assert api.unseal_from(PipeLike(blob), **_kwargs(alice, bob)) == {"x": 1}


def test_declared_payload_over_the_limit_is_refused_before_copying() -> None:
    alice, bob = _people()
    blob = api.seal(
        {"w": np.zeros(4096, dtype=np.uint8)}, sender=alice, recipients=[bob.bundle()], now=NOW
    )
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    source = PipeLike(blob)
    limits = hdr.EnvelopeLimits(max_payload_size=1024)
    with pytest.raises(errors.LimitExceededError), fileio.seekable_input(source, limits):
        pass  # pragma: no cover - never reached
    assert source.consumed == len(header.header_bytes)


def test_spool_blob_copies_exactly_one_blob() -> None:
    alice, bob = _people()
    blob = api.seal({"x": 1}, sender=alice, recipients=[bob.bundle()], now=NOW)
    sink = io.BytesIO()
    assert fileio.spool_blob(PipeLike(blob, step=5), sink, hdr.EnvelopeLimits()) == len(blob)
    assert sink.getvalue() == blob


def test_bad_clock_skew_is_refused_before_reading() -> None:
    alice, bob = _people()
    blob = api.seal({"x": 1}, sender=alice, recipients=[bob.bundle()], now=NOW)
    source = PipeLike(blob)
    with pytest.raises(errors.SealArgumentError):
        api.unseal_from(source, clock_skew=-5, **_kwargs(alice, bob))
    assert source.consumed == 0


def test_inspect_reads_only_the_header_of_a_stream() -> None:
    alice, bob = _people()
    blob = api.seal({"x": 1}, sender=alice, recipients=[bob.bundle()], now=NOW)
    source = PipeLike(blob)
    info = api.inspect(source)
    assert info.recipients[0].one_time_prekey_id == 1
    assert source.consumed == len(hdr.parse_header(blob, hdr.EnvelopeLimits()).header_bytes)


def test_seekable_streams_and_paths_are_not_spooled(tmp_path: Path) -> None:
    stream = io.BytesIO(b"abc")
    with fileio.seekable_input(stream) as source:
        assert source is stream
    path = tmp_path / "blob"
    path.write_bytes(b"abc")
    with fileio.seekable_input(path) as source:
        assert source.read() == b"abc"
