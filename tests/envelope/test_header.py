"""Header encoding: round trips, limits, hostile input."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors
from sealpack.envelope import header as hdr

LIMITS = hdr.EnvelopeLimits()
OK = (errors.TamperedError, errors.LimitExceededError, errors.UnsupportedVersionError)

metadata_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def stanzas(draw: st.DrawFn) -> hdr.Stanza:
    hybrid = draw(st.booleans())
    return hdr.Stanza(
        draw(st.binary(min_size=16, max_size=16)),
        draw(st.integers(0, 2**32 - 1)),
        draw(st.none() | st.integers(0, 2**32 - 1)),
        draw(st.integers(0, 2**32 - 1)) if hybrid else None,
        draw(st.binary(min_size=32, max_size=32)),
        draw(st.binary(min_size=1088, max_size=1088)) if hybrid else None,
        draw(st.binary(min_size=48, max_size=48)),
    )


cores = st.builds(
    hdr.Core,
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 2**39),
    st.just(2**40 - 1),
    st.text(max_size=30),
    st.dictionaries(st.text(max_size=8), metadata_values, max_size=5),
    st.integers(0, 2**40),
    st.sampled_from([1 << 10, 1 << 14, 1 << 20, 1 << 24]),
)


def _normalize(value: Any) -> Any:
    return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False)


@given(cores, st.lists(stanzas(), min_size=1, max_size=5, unique_by=lambda s: s.recipient_key_id))
def test_round_trip(core: hdr.Core, items: list[hdr.Stanza]) -> None:
    core_bytes = hdr.encode_core(core)
    blob = hdr.encode_header(core_bytes, items)
    parsed = hdr.parse_header(blob + b"payload follows", LIMITS)
    assert parsed.header_bytes == blob
    assert parsed.core_bytes == core_bytes
    assert parsed.stanzas == tuple(items)
    assert parsed.stanza_count == len(items)
    again = hdr.parse_header(blob, LIMITS)  # each stanza alone, by its key id
    assert [again.stanza_for(s.recipient_key_id) for s in reversed(items)] == items[::-1]
    named = {s.recipient_key_id for s in items}
    absent = next(bytes([i]) * 16 for i in range(6) if bytes([i]) * 16 not in named)
    assert again.stanza_for(absent) is None
    assert parsed.core.metadata == _normalize(dict(core.metadata))
    assert (parsed.core.sender_key, parsed.core.size, parsed.core.chunk_size) == (
        core.sender_key,
        core.size,
        core.chunk_size,
    )


def _sample() -> bytes:
    core = hdr.Core(bytes(32), bytes(16), 10, 20, "t", {"a": [1, 2]}, 100, 1024)
    stanza = hdr.Stanza(bytes(16), 1, None, 1, bytes(32), bytes(1088), bytes(48))
    return hdr.encode_header(hdr.encode_core(core), [stanza])


@given(st.data())
def test_truncation_fails_cleanly(data: st.DataObject) -> None:
    blob = _sample()
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(errors.TamperedError):
        hdr.parse_header(blob[:cut], LIMITS)


@given(st.data())
def test_bit_flips_never_escape(data: st.DataObject) -> None:
    blob = bytearray(_sample())
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    with contextlib.suppress(OK):
        hdr.parse_header(bytes(blob), LIMITS)


@given(st.binary(max_size=300))
def test_garbage_never_escapes(garbage: bytes) -> None:
    for blob in (garbage, b"SEALPACK\x02" + garbage):
        with pytest.raises(OK):
            hdr.parse_header(blob, LIMITS)


def test_magic_version_and_claimed_sizes() -> None:
    blob = _sample()
    with pytest.raises(errors.TamperedError):
        hdr.parse_header(b"NOTSEALS" + blob[8:], LIMITS)
    with pytest.raises(errors.UnsupportedVersionError, match="version 3"):
        hdr.parse_header(blob[:8] + b"\x03" + blob[9:], LIMITS)
    huge = blob[:9] + struct.pack(">I", 2**32 - 1) + blob[13:]
    with pytest.raises(errors.LimitExceededError):
        hdr.parse_header(huge, LIMITS)
    small_limits = hdr.EnvelopeLimits(max_header_size=50)
    with pytest.raises(errors.LimitExceededError):
        hdr.parse_header(blob, small_limits)


def _with_core(core_map: Any, stanza_list: Any = None) -> bytes:
    core_bytes = msgpack.packb(core_map, use_bin_type=True)
    records = (
        stanza_list
        if stanza_list is not None
        else [
            {
                "recipient": bytes(16),
                "spk": 1,
                "opk": None,
                "pqpk": 1,
                "ek": bytes(32),
                "kem_ct": bytes(1088),
                "wrapped_key": bytes(48),
            }
        ]
    )
    stanza_bytes = _section(records)
    return (
        b"SEALPACK\x02"
        + struct.pack(">I", len(core_bytes))
        + core_bytes
        + struct.pack(">I", len(stanza_bytes))
        + stanza_bytes
    )


def _section(records: list[Any]) -> bytes:
    """Frame stanza maps as the envelope does (the directory takes each map's recipient)."""
    ids = [
        r["recipient"] if isinstance(r, dict) and len(r.get("recipient", b"")) == 16 else bytes(16)
        for r in records
    ]
    return hdr.frame_stanzas(ids, [msgpack.packb(r, use_bin_type=True) for r in records])


def _core_map(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sender": bytes(32),
        "message_id": bytes(16),
        "created": 1,
        "expires": 2,
        "content_type": "x",
        "metadata": {},
        "size": 5,
        "chunk_size": 1024,
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    "changes",
    [
        {"sender": bytes(31)},
        {"sender": "x" * 32},
        {"message_id": bytes(17)},
        {"created": -1},
        {"created": True},
        {"expires": 0, "created": 5},
        {"created": 2**40},
        {"expires": 2**40},
        {"expires": 2**63 - 1},
        {"size": 1.5},
        {"content_type": b"bytes"},
        {"content_type": "x" * 300},
        {"metadata": [1]},
        {"metadata": {"x": float("nan")}},
    ],
)
def test_wrong_types_and_values_are_tampering(changes: dict[str, Any]) -> None:
    with pytest.raises(errors.TamperedError):
        hdr.parse_header(_with_core(_core_map(**changes)), LIMITS)


@pytest.mark.parametrize(
    "changes",
    [{"chunk_size": 1000}, {"chunk_size": 512}, {"chunk_size": 1 << 25}, {"size": 1 << 41}],
)
def test_chunking_and_size_limits(changes: dict[str, Any]) -> None:
    with pytest.raises(errors.LimitExceededError):
        hdr.parse_header(_with_core(_core_map(**changes)), LIMITS)


def test_key_set_and_order_are_exact() -> None:
    extra = _core_map()
    extra["extra"] = 1
    missing = _core_map()
    del missing["size"]
    reordered = dict(reversed(list(_core_map().items())))
    for core_map in (extra, missing, reordered, [1, 2], "x"):
        with pytest.raises(errors.TamperedError):
            hdr.parse_header(_with_core(core_map), LIMITS)


GOOD_STANZA = {
    "recipient": bytes(16),
    "spk": 1,
    "opk": 2,
    "pqpk": 3,
    "ek": bytes(32),
    "kem_ct": bytes(1088),
    "wrapped_key": bytes(48),
}
CLASSICAL_STANZA = {**GOOD_STANZA, "pqpk": None, "kem_ct": None}


def test_stanza_problems() -> None:
    """A malformed stanza is tampering when it is decoded (alone, or with all of them)."""
    good, classical = GOOD_STANZA, CLASSICAL_STANZA
    assert not hdr.parse_header(_with_core(_core_map(), [classical]), LIMITS).stanzas[0].hybrid
    assert hdr.parse_header(_with_core(_core_map(), [good]), LIMITS).stanzas[0].hybrid
    for stanza in (
        {**good, "spk": -1},
        {**good, "opk": "1"},
        {**good, "pqpk": 2**32},
        {**good, "kem_ct": None},  # pqpk without a KEM ciphertext
        {**classical, "kem_ct": bytes(1088)},  # a KEM ciphertext without pqpk
        {**good, "kem_ct": bytes(1087)},
        {k: v for k, v in good.items() if k != "kem_ct"},  # the version-1 key set
        {**good, "wrapped_key": bytes(47)},
        {**good, "x": 1},
        dict(reversed(list(good.items()))),
        {**good, "ek": [1]},
        {**good, "ek": {"a": 1}},
        {**good, "ek": msgpack.ExtType(1, b"x")},
        [1, 2, 3],
        "recipient",
    ):
        header = hdr.parse_header(_with_core(_core_map(), [stanza]), LIMITS)  # directory only
        with pytest.raises(errors.TamperedError):
            header.stanza_for(bytes(16))
        with pytest.raises(errors.TamperedError):
            _ = header.stanzas
    for stanza_list in ([], [good, good]):  # no stanza; one id twice
        with pytest.raises(errors.TamperedError):
            hdr.parse_header(_with_core(_core_map(), stanza_list), LIMITS)
    many = [{**good, "recipient": i.to_bytes(16, "big")} for i in range(5)]
    with pytest.raises(errors.LimitExceededError):
        hdr.parse_header(_with_core(_core_map(), many), hdr.EnvelopeLimits(max_recipients=4))


def test_deep_or_large_metadata() -> None:
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(errors.LimitExceededError):
        hdr.parse_header(_with_core(_core_map(metadata={"d": deep})), LIMITS)
    very_deep = b"\x91" * 5000 + b"\x01"  # msgpack arrays nested 5000 deep
    core = msgpack.packb(_core_map(), use_bin_type=True).replace(
        b"\xa8metadata\x80", b"\xa8metadata\x81\xa1d" + very_deep
    )
    stanzas_part = _with_core(_core_map())[13 + len(msgpack.packb(_core_map())) :]
    blob = b"SEALPACK\x02" + struct.pack(">I", len(core)) + core + stanzas_part
    with pytest.raises(OK):
        hdr.parse_header(blob, LIMITS)
    with pytest.raises(errors.LimitExceededError):
        hdr.check_metadata({"x": "y" * 100}, hdr.EnvelopeLimits(max_metadata_size=50))
    with pytest.raises(errors.SerializationTypeError):
        hdr.check_metadata({"x": object()}, LIMITS)
    with pytest.raises(errors.SerializationTypeError):
        hdr.check_metadata({1: "x"}, LIMITS)  # type: ignore[dict-item]


def test_ext_types_rejected() -> None:
    core = _core_map(metadata={"x": msgpack.ExtType(5, b"abc")})
    with pytest.raises(errors.TamperedError):
        hdr.parse_header(_with_core(core), LIMITS)


def test_version_1_is_a_clean_cut() -> None:
    """Format version 1 (sealpack 0.1) is refused with a message that says what to do."""
    blob = _sample()
    with pytest.raises(
        errors.UnsupportedVersionError, match=r"version 1 \(sealpack 0.1\).*upgrade"
    ):
        hdr.parse_header(blob[:8] + b"\x01" + blob[9:], LIMITS)


def test_duplicate_map_keys_are_refused() -> None:
    """A map repeating a key (core, metadata or stanza) is tampering (envelope.md section 2)."""
    packed = msgpack.packb(_core_map(), use_bin_type=True)
    # core: fixmap of 8 -> 9 pairs, "size" given twice (the second would win in msgpack)
    doubled = b"\x89" + packed[1:] + msgpack.packb("size") + msgpack.packb(6)
    blob = _with_core(_core_map())
    tail = blob[13 + len(packed) :]
    with pytest.raises(errors.TamperedError):
        hdr.parse_header(b"SEALPACK\x02" + struct.pack(">I", len(doubled)) + doubled + tail, LIMITS)
    meta = packed.replace(b"\xa8metadata\x80", b"\xa8metadata\x82\xa1a\x01\xa1a\x02")
    with pytest.raises(errors.TamperedError):
        hdr.parse_header(b"SEALPACK\x02" + struct.pack(">I", len(meta)) + meta + tail, LIMITS)


def test_non_minimal_integers_are_accepted_as_their_value() -> None:
    """Non-minimal msgpack encodings are accepted (envelope.md section 2): the signature
    covers the exact bytes, which are never re-encoded."""
    packed = msgpack.packb(_core_map(), use_bin_type=True)
    wide = packed.replace(b"\xa7created\x01", b"\xa7created\xcf" + (1).to_bytes(8, "big"))
    assert wide != packed
    tail = _with_core(_core_map())[13 + len(packed) :]
    parsed = hdr.parse_header(b"SEALPACK\x02" + struct.pack(">I", len(wide)) + wide + tail, LIMITS)
    assert parsed.core.created == 1
    assert parsed.core_bytes == wide
