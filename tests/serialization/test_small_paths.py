"""The small-object paths (issue 18): the fast encoder, the body hook and the capped parse.

Each must give exactly what the general path gives (bytes on encode, values and errors on
decode) and keep every limit; the hostile cases are ones these paths could get wrong.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
import tracemalloc
import uuid
from decimal import Decimal
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpack import errors
from sealpack.serialization import Codec, DecodeLimits
from sealpack.serialization import encoder as encoder_module
from sealpack.serialization.fast_encode import FAST_DEPTH
from sealpack.serialization.unpacking import PRESIZE_BUDGET, UNPROVEN_SECTION
from sealpack.serialization.wire import Ext
from tests.serialization.helpers import assert_same, ext, raw_body_frame, raw_frame

MB = 1 << 20
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.integers(-(2**70), 2**70),  # beyond 64 bits: msgpack raises, the general path runs
    st.text(max_size=8),  # lone surrogates included: the strict packer raises
    st.binary(max_size=8),
)
values = st.one_of(
    st.datetimes(timezones=st.none() | st.just(dt.timezone.utc)),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.complex_numbers(allow_nan=False),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
)
hashable = st.one_of(leaves, st.tuples(leaves), st.frozensets(st.integers(), max_size=3))
objects = st.recursive(
    leaves | values,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=4), inner, max_size=5),
        st.dictionaries(hashable, inner, max_size=3),
        st.tuples(inner, inner),
        st.lists(st.tuples(leaves, leaves), max_size=4),
        st.sets(st.integers(), max_size=4),
    ),
    max_leaves=30,
)


def _general(codec: Codec, obj: Any) -> bytes:
    return b"".join(codec._dumps_general(obj))


@settings(max_examples=300, deadline=None)
@given(objects)
def test_fast_encoder_gives_the_general_encoders_bytes(obj: Any) -> None:
    codec = Codec(oob_threshold=64)
    frame = codec.dumps(obj)
    assert frame == _general(codec, obj)
    assert b"".join(codec.dumps_buffers(obj)) == frame
    assert_same(codec.loads(frame), obj)


def test_a_small_message_never_reaches_the_general_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    message = {
        "round": 17,
        "metrics": {f"m{i}": i * 0.25 for i in range(60)},
        "pairs": [(i, f"p{i}") for i in range(20)],
        "keyed": {(1, "a"): {1, 2}, frozenset({3}): None},
        "sent": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        "more": [dt.date(2026, 1, 2), uuid.UUID(int=7), Decimal("1.5"), 2j, ((1, 2), [3])],
    }
    expected = Codec().dumps(message)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the general encoder ran")

    monkeypatch.setattr(encoder_module.Encoder, "__init__", refuse)
    assert Codec().dumps(message) == expected


class Color(enum.Enum):
    RED = "red"


class Key(str, enum.Enum):
    A = "a"


class Level(enum.IntEnum):
    LOW = 1


@pytest.mark.parametrize(
    "obj",
    [
        [bytearray(b"ab")],  # msgpack would pack these three as bin: they are ext 5 / 6
        {"k": memoryview(b"ab")},
        {memoryview(b"ab"): 1},
        [Level.LOW, np.float64(0.5), Key.A],  # subclasses of int, float, str
        {Key.A: 1, "b": Color.RED},
        [True, 1, 1.0, None],
    ],
)
def test_what_msgpack_would_pack_as_is_keeps_its_codec_encoding(obj: Any) -> None:
    sender, receiver = Codec(), Codec()
    receiver.register_enum_types(Color, Key, Level)
    frame = sender.dumps(obj)
    assert frame == _general(sender, obj)
    assert_same(receiver.loads(frame), obj)


@pytest.mark.parametrize(
    "obj", [[msgpack.ExtType(7, b"\x92\x00\x00")], {"t": msgpack.Timestamp(0)}, {1: object()}]
)
def test_msgpack_own_types_are_refused_on_the_fast_path_too(obj: Any) -> None:
    with pytest.raises(errors.SerializationTypeError):
        Codec().dumps(obj)


def test_nesting_beyond_the_fast_depth_and_cycles_take_the_general_path() -> None:
    deep: Any = [1, (2, "x")]
    for _ in range(FAST_DEPTH + 5):
        deep = {"k": [deep]}
    codec = Codec()
    assert codec.dumps(deep) == _general(codec, deep)
    assert codec.loads(codec.dumps(deep)) == deep
    loop: list[Any] = [1]
    loop.append({"again": loop})
    with pytest.raises(errors.CycleError):
        codec.dumps(loop)
    shallow = Codec(limits=DecodeLimits(max_depth=3))
    assert shallow.loads(shallow.dumps([[(1, 2)]])) == [[(1, 2)]]
    for too_deep in ([[[(1, 2)]]], [[[[]]]], {"a": {"b": {"c": {}}}}, [[[{1, 2}]]]):
        with pytest.raises(errors.LimitExceededError):
            shallow.dumps(too_deep)


def test_large_inline_values_still_go_out_of_band() -> None:
    codec = Codec(oob_threshold=1024)
    big = {"blob": b"x" * 2000, "text": "y" * 2000, "small": [1, 2]}
    parts = codec.dumps_buffers(big)
    assert len(parts) > 1  # the fast path's body reached the threshold: buffers were used
    assert_same(codec.loads(b"".join(parts)), big)


def _peak_of_refused(frame: bytes) -> int:
    """Peak traced bytes while the codec refuses ``frame`` (DecodeError)."""
    tracemalloc.start()
    try:
        with pytest.raises(errors.DecodeError):
            Codec().loads(frame)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_unproven_array_claims_in_a_small_body_cost_little_memory() -> None:
    """Without the cap (and no skip pass) these 1.8 KB would pre-size 600 lists of 1700."""
    body = b"\xdc" + (1700).to_bytes(2, "big")
    frame = raw_body_frame(body * 600)
    assert 512 < len(body * 600) <= UNPROVEN_SECTION
    peak = _peak_of_refused(frame)
    assert peak < PRESIZE_BUDGET * 8 // 2, peak  # far below 600 * 1700 * 8 = 8 MB


@pytest.mark.parametrize("size", [1020, 2040])
def test_claims_just_under_the_cap_stay_within_the_presize_budget(size: int) -> None:
    cap = PRESIZE_BUDGET // ((1024 if size <= 1024 else 2048) // 3)
    frame = raw_body_frame((b"\xdc" + cap.to_bytes(2, "big")) * (size // 3))
    peak = _peak_of_refused(frame)
    assert peak < PRESIZE_BUDGET * 8 + MB, peak


def test_a_small_body_with_a_long_array_is_parsed_again_from_scratch() -> None:
    """The capped parse fails at the long array, after building five tuples and five sets:
    the careful parse must count their items once, not twice."""
    root = [[(1, 2)] * 5 + [{1, 2}] * 5, [0] * 1500]
    frame = raw_frame([[ext(Ext.TUPLE, [1, 2])] * 5 + [ext(Ext.SET, [1, 2])] * 5, [0] * 1500])
    items = 2 + 10 + 10 * 2 + 1500
    assert Codec(limits=DecodeLimits(max_items=items)).loads(frame) == root
    with pytest.raises(errors.LimitExceededError):
        Codec(limits=DecodeLimits(max_items=items - 1)).loads(frame)


@pytest.mark.parametrize(
    "payload",
    [
        [2024, 1, 1, 0, 0, 0, 0, 2, None],  # fold 2
        [True, 1, 1, 0, 0, 0, 0, 0, None],  # a bool is not an int
        [2024, 1, 1, 0, 0, 0, 0, 0, 1.5],  # tz not an int
        [2024, 1, 1, 0, 0, 0, 0, 0],  # eight fields
        [2024, 1, 1, 0, 0, 0, 0, 0, None, 0],  # ten fields
        [2024, 1, 1, 0, 0, 0, 0, 0, ext(Ext.TUPLE, [0])],  # an ext for the tz
    ],
)
def test_malformed_datetimes_are_refused_wherever_they_are(payload: list[Any]) -> None:
    bad = ext(Ext.DATETIME, payload)
    for root in (bad, [1, bad], {"when": bad}):
        with pytest.raises(errors.DecodeError):
            Codec().loads(raw_frame(root))


def test_tuples_holding_containers_count_their_depth() -> None:
    codec = Codec(limits=DecodeLimits(max_depth=2))
    assert codec.loads(raw_frame([ext(Ext.TUPLE, [1, "a"])])) == [(1, "a")]
    for payload in ([[1], 2], [{"a": 1}, 2], [ext(Ext.TUPLE, [1]), 2]):
        with pytest.raises(errors.LimitExceededError):
            codec.loads(raw_frame([ext(Ext.TUPLE, payload)]))
        assert Codec().loads(raw_frame([ext(Ext.TUPLE, payload)]))[0][1] == 2


def test_a_tuple_payload_with_trailing_bytes_or_bad_utf8_takes_the_general_path() -> None:
    trailing = msgpack.ExtType(int(Ext.TUPLE), msgpack.packb([1, 2]) + b"\xc0")
    with pytest.raises(errors.DecodeError):
        Codec().loads(raw_frame([trailing]))
    surrogate = msgpack.ExtType(int(Ext.TUPLE), b"\x91\xa3\xed\xa0\x80")  # "\ud800"
    assert Codec().loads(raw_frame([surrogate])) == [("\ud800",)]


def test_concurrent_small_messages_decode_independently() -> None:
    codec = Codec()
    frames = {n: codec.dumps({"n": n, "pairs": [(n, i) for i in range(n)]}) for n in range(8)}
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(300):
                value = codec.loads(frames[n])
                assert value == {"n": n, "pairs": [(n, i) for i in range(n)]}
                assert codec.dumps(value) == frames[n]
        except BaseException as error:  # reported to the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in frames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


@pytest.mark.parametrize("size", [100, 600, 1500, 3000])  # each way of parsing a body
def test_a_body_with_trailing_bytes_is_refused(size: int) -> None:
    value = {"text": "x" * size}
    good = raw_frame(value)
    codec = Codec()
    for trailing in (b"\xc0", b"\x91", b"\x00" * 3):
        body = msgpack.packb(value) + trailing
        with pytest.raises(errors.DecodeError):
            codec.loads(raw_body_frame(body))
        assert codec.loads(good) == value  # nothing left behind for the next frame


def test_typed_decoding_of_lists_of_pairs_and_optionals_names_the_bad_item() -> None:
    from sealpack.errors import SchemaError

    codec = Codec()
    spec = dict[str, list[tuple[int, str]]]
    flags = dict[str, list[bool | None]]
    good = {"pairs": [(i, f"p{i}") for i in range(20)]}
    assert codec.loads(codec.dumps(good), expect=spec) == good
    assert codec.loads(codec.dumps({"f": [True, None] * 10}), expect=flags)
    cases = [
        ({"pairs": [(1, "a"), (2, 3)]}, spec, "$.pairs[1][1]: expected str, got int"),
        ({"pairs": [(1, "a"), (2, "b", 3)]}, spec, "$.pairs[1]: expected 2 items, got 3"),
        ({"pairs": [(1, "a"), [2, "b"]]}, spec, "$.pairs[1]: expected tuple[int, str]"),
        ({"f": [True, None, 0]}, flags, "$.f[2]: expected bool | None, got int"),
    ]
    for bad, expect, message in cases:
        with pytest.raises(SchemaError) as caught:
            codec.loads(codec.dumps(bad), expect=expect)
        assert str(caught.value).startswith(message), str(caught.value)


def test_a_copied_structured_array_carries_no_stale_memory_in_its_padding() -> None:
    """A non-contiguous structured array is copied before sending; its padding bytes
    used to be whatever the heap held (here: freed 0xAB bytes), sent to the peer."""
    padded = np.dtype(
        {"names": ["x", "y"], "formats": ["<u2", "<i8"], "offsets": [0, 8], "itemsize": 24}
    )
    base = np.zeros((8, 8), dtype=padded)
    base["x"], base["y"] = 7, -3
    strided = base[:, ::2]
    codec = Codec(oob_threshold=0)
    frames = set()
    for _ in range(10):
        stale = np.full(strided.size * padded.itemsize, 0xAB, dtype=np.uint8)
        del stale  # the copy's memory likely comes from here
        frames.add(codec.dumps(strided))
    assert len(frames) == 1
    frame = frames.pop()
    assert b"\xab\xab" not in frame
    assert_same(codec.loads(frame), np.ascontiguousarray(strided))
