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
    # msgpack pre-sizes up to ~10k list slots for each of up to 1024 nested containers
    # before noticing the input ends (~80 MiB); the decoder's skip pass refuses such
    # unbacked claims first, so what remains is the objects a complete 1 MB body holds.
    _rejected_within(lambda: W_CODEC.loads(frame), 32 * MB)


@pytest.mark.parametrize("claim", [100, 1000, 5000, 10_000, 10**7])
@pytest.mark.parametrize("lead", [b"\xdd", b"\xdf"])
def test_small_nested_claims_in_a_codec_frame_are_cheap(claim: int, lead: bytes) -> None:
    """~5 KB of nested array32/map32 headers used to cost up to ~80 MiB inside msgpack."""
    frame = _codec_frame((lead + struct.pack(">I", claim)) * 1000)
    _rejected_within(lambda: W_CODEC.loads(frame), MB)


def _header_blob(core: bytes, stanzas: bytes = b"") -> bytes:
    return (
        b"".join(
            (
                hdr.MAGIC,
                b"\x01",
                struct.pack(">I", len(core)),
                core,
                struct.pack(">I", len(stanzas)),
            )
        )
        + stanzas
    )


def _nested(claim: int, size: int, lead: bytes = b"\xdd") -> bytes:
    return (lead + struct.pack(">I", claim)) * (size // 5)


# The header is a few copies of its own bytes at most: msgpack never pre-sizes a
# container (sealpack.envelope.sections walks them), so a hostile header costs about
# what it weighs, whatever its nested array32/map32 headers claim.
HOSTILE_HEADERS = {
    "1 MB nested array32 claiming 2^20": (_header_blob(_nested(1 << 20, MB)), 8 * MB),
    "1 MB nested array32 claiming 10 000": (_header_blob(_nested(10_000, MB)), 8 * MB),
    "1 MB nested array32 claiming 1000": (_header_blob(_nested(1000, MB)), 8 * MB),
    "1 MB nested map32 claiming 1000": (_header_blob(_nested(1000, MB, b"\xdf")), 8 * MB),
    "1 MB nested fixarrays": (_header_blob(b"\x91" * (MB - 64)), 8 * MB),
    "5 KB nested array32 claiming 10 000": (_header_blob(_nested(10_000, 5000)), MB),
    "5 KB nested array32 claiming 5000": (_header_blob(_nested(5000, 5000)), MB),
    "5 KB nested array32 claiming 1000": (_header_blob(_nested(1000, 5000)), MB),
    "5 KB nested array32 claiming 100": (_header_blob(_nested(100, 5000)), MB),
    "5 KB nested array32 stanzas": (_header_blob(b"\x80", _nested(4096, 5000)), MB),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_HEADERS))
def test_hostile_envelope_header_costs_what_it_weighs(name: str) -> None:
    blob, limit = HOSTILE_HEADERS[name]
    _rejected_within(lambda: api.inspect(blob), limit)
    _rejected_within(lambda: W.open(blob + b"\x00" * 64), limit)
    _rejected_within(
        lambda: api.unseal_from(
            io.BytesIO(blob), recipient=W.bob, senders=[W.alice.bundle()], now=NOW
        ),
        limit,
    )
