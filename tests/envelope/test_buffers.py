"""Huge-page-advised output buffers: real bytes / bytearray, fully written, never partial."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sealpack
from sealpack.envelope import buffers
from sealpack.keys import Identity, MemoryReplayGuard


@pytest.fixture(params=["advised", "plain"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test on the C-API path (small threshold) and on the plain fallback."""
    if request.param == "advised":
        if not buffers.HUGE_PAGES:
            pytest.skip("huge-page advice needs CPython on Linux")
        monkeypatch.setattr(buffers, "ADVISE_MIN", 1)
    else:
        monkeypatch.setattr(buffers, "HUGE_PAGES", False)
    return str(request.param)


@pytest.mark.parametrize("size", [1, 4095, 4096, 3 * 4096 + 17, 1 << 20])
def test_blob_bytes_is_real_bytes_with_what_fill_wrote(mode: str, size: int) -> None:
    pattern = bytes(i * 31 % 256 for i in range(size))

    def fill(view: memoryview) -> None:
        assert len(view) == size and not view.readonly
        view[:] = pattern

    blob = buffers.blob_bytes(size, fill)
    assert type(blob) is bytes
    assert blob == pattern
    assert hash(blob) == hash(pattern)
    assert blob[-1:] == pattern[-1:]


def test_a_failing_fill_returns_nothing(mode: str) -> None:
    def fill(view: memoryview) -> None:
        view[:4] = b"half"
        raise ValueError("fill failed")

    with pytest.raises(ValueError, match="fill failed"):
        buffers.blob_bytes(8192, fill)


@pytest.mark.parametrize("size", [0, 1, 5000, 1 << 20])
def test_plain_bytearray_is_a_writable_bytearray_of_the_size(mode: str, size: int) -> None:
    out = buffers.plain_bytearray(size)
    assert type(out) is bytearray and len(out) == size
    out[:] = b"\x01" * size
    assert out.count(1) == size


def test_large_seal_returns_real_bytes_that_open(tmp_path: Path) -> None:
    """Above ADVISE_MIN the public seal() fills a bytes object in place (no copy)."""
    alice = Identity.generate("alice", one_time_prekeys=0)
    bob = Identity.generate("bob", one_time_prekeys=0)
    model = {"w": np.arange((buffers.ADVISE_MIN + (1 << 20)) // 4, dtype=np.float32)}
    blob = sealpack.seal(model, sender=alice, recipients=[bob.bundle()])
    assert type(blob) is bytes and len(blob) > buffers.ADVISE_MIN
    assert hash(blob) == hash(bytes(blob))
    opened = sealpack.unseal(blob, recipient=bob, senders=[alice.bundle()])
    assert np.array_equal(opened["w"], model["w"]) and opened["w"].flags.writeable
    path = tmp_path / "model.sealed"
    path.write_bytes(blob)
    bob.replay_guard = MemoryReplayGuard()  # the same blob again, from the file
    from_file = sealpack.unseal_from(path, recipient=bob, senders=[alice.bundle()])
    assert np.array_equal(from_file["w"], model["w"])
