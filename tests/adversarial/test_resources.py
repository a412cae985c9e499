"""Resource bounds: huge claims are refused before allocating; 1 MB hostile input is cheap.

Memory is measured with tracemalloc (Python allocations, which include msgpack's and
numpy's); the bounds are generous multiples of what the code needs, not speed claims.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgpack
import pytest

from sealpack import api, errors
from sealpack.envelope import header as hdr
from sealpack.serialization.frame import build_frame
from sealpack.serialization.wire import PACK_OPTIONS, Ext
from tests.adversarial.harness import reject
from tests.adversarial.samples import (
    NOW,
    codec,
    frame_header,
    raw_sections,
    sign_blob,
    split,
    world,
)

MB = 1 << 20
W = world()
BLOB = W.seal({"x": 1}, W.bob)
W_CODEC = codec()


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Yield a one-element list that holds the traced peak (bytes) after the block."""
    result = [0]
    tracemalloc.start()
    try:
        yield result
    finally:
        result[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def _rejected_within(call: Callable[[], object], limit: int) -> int:
    with peak_memory() as peak:
        reject(call)
    assert peak[0] < limit, f"peak {peak[0] / MB:.1f} MiB exceeds {limit / MB:.0f} MiB"
    return peak[0]


def _claiming(**changes: Any) -> bytes:
    header, payload, _ = split(BLOB)
    core, stanzas = raw_sections(header)
    core.update(changes)
    return sign_blob(frame_header(core, stanzas), payload, W.alice)


def test_blob_claiming_a_terabyte_payload_is_refused_before_allocating() -> None:
    huge = _claiming(size=1 << 40)  # exactly the limit: parsed, then the length is wrong
    _rejected_within(lambda: W.open(huge), 4 * MB)
    _rejected_within(
        lambda: api.unseal_from(
            io.BytesIO(huge), recipient=W.bob, senders=[W.alice.bundle()], now=NOW
        ),
        4 * MB,
    )
    over = _claiming(size=(1 << 40) + 1)
    with peak_memory() as peak:
        reject(lambda: W.open(over), errors.LimitExceededError)
    assert peak[0] < 4 * MB


def test_a_million_recipients_are_refused_before_allocating() -> None:
    header = split(BLOB)[0]
    core, stanzas = raw_sections(header)
    # An array header claiming 1,000,000 stanzas followed by just one.
    claimed = b"\xdd" + struct.pack(">I", 1_000_000) + msgpack.packb(stanzas[0])
    core_bytes = msgpack.packb(core, use_bin_type=True)
    lying = b"".join(
        (
            hdr.MAGIC,
            b"\x01",
            struct.pack(">I", len(core_bytes)),
            core_bytes,
            struct.pack(">I", len(claimed)),
            claimed,
        )
    )
    _rejected_within(lambda: W.open(lying + b"\x00" * 64), 4 * MB)
    # Really many stanzas (5000, under the 1 MiB header limit): the count limit refuses.
    many = [{**stanzas[0], "recipient": i.to_bytes(16, "big")} for i in range(5000)]
    blob = frame_header(core, many) + b"\x00" * 64
    error = _rejected_within(lambda: W.open(blob), 16 * MB)
    assert error > 0
    reject(lambda: W.open(blob), errors.LimitExceededError)


def _codec_frame(body: bytes, types: bytes = b"\x90") -> bytes:
    return b"".join(build_frame(types, body, []))


def _one_megabyte_frames() -> dict[str, bytes]:
    n = MB
    custom = msgpack.packb(msgpack.ExtType(Ext.CUSTOM, b"\x00"))
    return {
        "nested fixarrays": _codec_frame(b"\x91" * n),
        "nested array32 claiming 10M": _codec_frame(
            (b"\xdd" + struct.pack(">I", 10**7)) * (n // 5)
        ),
        "nested maps": _codec_frame(b"\x81\xc0" * (n // 2)),
        "array of bad custom values": _codec_frame(
            b"\xdd" + struct.pack(">I", n // len(custom)) + custom * (n // len(custom))
        ),
        "type table of 1 MB": _codec_frame(b"\xc0", types=msgpack.packb(["t" * 1000] * 1000)),
        "ndarray claiming 2^62 elements": _codec_frame(
            msgpack.packb(
                msgpack.ExtType(
                    Ext.NDARRAY,
                    msgpack.packb(
                        ["<f8", [2**31, 2**31], False, b"\x00" * (n - 100)], **PACK_OPTIONS
                    ),
                ),
                **PACK_OPTIONS,
            )
        ),
        "random-looking bytes": _codec_frame(bytes(range(256)) * (n // 256)),
    }


FRAMES = _one_megabyte_frames()


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_one_megabyte_hostile_frame_is_bounded(name: str) -> None:
    frame = FRAMES[name]
    assert 0.95 * MB <= len(frame) < MB + 4096
    # ~83 MB is msgpack's own worst case: it pre-sizes up to ~10k list slots for each of
    # up to 1024 nested containers before noticing the input ends (see SECURITY.md).
    _rejected_within(lambda: W_CODEC.loads(frame), 128 * MB)


def test_one_megabyte_hostile_envelope_header_is_bounded() -> None:
    core = (b"\xdd" + struct.pack(">I", 1 << 20)) * (MB // 5)
    blob = hdr.MAGIC + b"\x01" + struct.pack(">I", len(core)) + core + struct.pack(">I", 0)
    _rejected_within(lambda: api.inspect(blob), 128 * MB)
    flat = b"\x91" * (MB - 64)
    blob = hdr.MAGIC + b"\x01" + struct.pack(">I", len(flat)) + flat + struct.pack(">I", 0)
    _rejected_within(lambda: W.open(blob), 8 * MB)
