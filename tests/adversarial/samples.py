"""Real samples to mutate (sealed blobs, codec frames, bundle JSON) and re-signing helpers.

The identities are created once per process with a fixed clock. Recipients used by
the campaigns hold no one-time prekeys, so a rejected blob changes no state.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from sealpack import api
from sealpack.envelope import header as hdr
from sealpack.envelope import opener, sealer, suite
from sealpack.keys import Identity, KeyBundle
from sealpack.serialization import Codec

NOW = 1_800_000_000
SMALL_CHUNK = 1024


@dataclass(frozen=True)
class Point:
    """A dataclass the sender registers (and some receivers do not)."""

    x: int
    y: float


class Colour(enum.Enum):
    RED = 1
    BLUE = "blue"


class World:
    """Alice sends; Bob and Carol receive (no one-time prekeys); Mallory attacks."""

    def __init__(self) -> None:
        self.alice = Identity.generate("alice", one_time_prekeys=0, now=NOW - 60)
        self.bob = Identity.generate("bob", one_time_prekeys=0, now=NOW - 60)
        self.carol = Identity.generate("carol", one_time_prekeys=0, now=NOW - 60)
        self.mallory = Identity.generate("mallory", one_time_prekeys=0, now=NOW - 60)

    def seal(self, obj: object, *recipients: Identity, sender: Identity | None = None) -> bytes:
        """Seal the codec frame of ``obj`` with 1 KiB chunks (several chunks for a few KiB)."""
        options = sealer.SealOptions(
            metadata={"round": 3, "tag": "sample"},
            chunk_size=SMALL_CHUNK,
        )
        return bytes(
            sealer.seal_buffers(
                codec().dumps_buffers(obj),
                sender=sender or self.alice,
                recipients=[r.bundle() for r in recipients or (self.bob, self.carol)],
                options=options,
                now=NOW,
            )
        )

    def open(self, blob: bytes, recipient: Identity | None = None) -> Any:
        """Open through the public API as Bob (default), trusting Alice only."""
        return api.unseal(
            blob,
            recipient=recipient or self.bob,
            senders=[self.alice.bundle()],
            codec=codec(),
            now=NOW,
        )


_WORLD: World | None = None


def world() -> World:
    """The process-wide World (key generation is paid once)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = World()
    return _WORLD


def codec(*, register: bool = True, oob_threshold: int = 64) -> Codec:
    """A codec with small out-of-band threshold (so small samples use buffers)."""
    result = Codec(oob_threshold=oob_threshold)
    if register:
        result.register_data_classes(Point)
        result.register_enum_types(Colour)
    return result


def sample_objects() -> list[Any]:
    """Objects that exercise every part of the codec frame."""
    return [
        {"weights": np.arange(40, dtype=np.float32).reshape(5, 8), "bias": np.zeros(3)},
        [1, -2, 2**70, 1.5, "text", b"raw", None, True, complex(1, 2)],
        (
            {1, 2},
            frozenset({"a"}),
            OrderedDict(a=1),
            bytearray(b"xy" * 40),
            memoryview(b"z" * 70),
        ),
        {
            "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
            "d": dt.date(2020, 1, 1),
            "t": dt.time(1, 2),
            "td": dt.timedelta(days=1, seconds=3),
            "dec": decimal.Decimal("1.25"),
            "id": uuid.UUID(int=7),
        },
        [Point(1, 2.5), Colour.BLUE, np.float64(3.0), np.int8(-1), "s" * 100],
    ]


def sample_frames() -> list[bytes]:
    """Codec frames of the sample objects (some with out-of-band buffers)."""
    return [codec().dumps(obj) for obj in sample_objects()]


def sample_bundle_json() -> str:
    """A bundle with two one-time prekeys, as published."""
    identity = Identity.generate("dana", one_time_prekeys=2, now=NOW - 60)
    return identity.bundle().to_json()


# --- re-signing: field-level changes that still carry the sender's signature -----


def split(blob: bytes) -> tuple[hdr.Header, bytes, bytes]:
    """Return (parsed header, payload, signature) of a well-formed blob."""
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    return header, blob[len(header.header_bytes) : -hdr.SIGNATURE_SIZE], blob[-64:]


def raw_sections(header: hdr.Header) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The core map and the stanza list, as plain msgpack values."""
    core = msgpack.unpackb(header.core_bytes, raw=False)
    stanzas = [msgpack.unpackb(hdr.encode_stanza(s), raw=False) for s in header.stanzas]
    return core, stanzas


def frame_header(core: Any, stanzas: Any, *, version: int = hdr.VERSION) -> bytes:
    """Frame arbitrary core/stanza values exactly as the envelope does."""
    core_bytes = msgpack.packb(core, use_bin_type=True)
    stanza_bytes = _stanza_section(stanzas)
    return b"".join(
        (
            hdr.MAGIC,
            bytes([version]),
            len(core_bytes).to_bytes(4, "big"),
            core_bytes,
            len(stanza_bytes).to_bytes(4, "big"),
            stanza_bytes,
        )
    )


def _stanza_section(stanzas: Any) -> bytes:
    """The stanza section (envelope.md section 4) for arbitrary stanza values: the
    directory takes each map's ``recipient`` (16 zero bytes where it has none)."""
    if not isinstance(stanzas, list):
        return msgpack.packb(stanzas, use_bin_type=True)  # not a section at all
    ids = [s.get("recipient") if isinstance(s, dict) else None for s in stanzas]
    ids = [kid if isinstance(kid, bytes) and len(kid) == 16 else bytes(16) for kid in ids]
    return hdr.frame_stanzas(ids, [msgpack.packb(s, use_bin_type=True) for s in stanzas])


def sign_blob(header_bytes: bytes, payload: bytes, signer: Identity) -> bytes:
    """Assemble header || payload || signature by ``signer`` (as a sender would)."""
    hasher = suite.PayloadHasher()
    hasher.update(payload)
    signed = suite.signed_message(header_bytes, hasher.digest())
    return header_bytes + payload + signer._sign_envelope(signed)


def resender(bundle: KeyBundle) -> opener.SenderResolver:
    """A resolver trusting exactly ``bundle``."""
    return api.sender_resolver([bundle])
