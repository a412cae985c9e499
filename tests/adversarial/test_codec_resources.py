"""Codec resource bounds (issues 19.1-19.3, 10.6): time and memory per input byte.

Times are compared with a same-size control frame decoded in the same process (a
generous factor, never an absolute speed); memory is measured with tracemalloc.
"""

from __future__ import annotations

import contextlib
import enum
import io
import struct
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np
import pytest

from sealpack import errors, fobs
from sealpack.serialization import Codec, DecodeLimits
from sealpack.serialization.hashguard import MAX_SHARED_HASH
from sealpack.serialization.wire import Ext
from tests.serialization.helpers import ext, raw_frame

MB = 1 << 20
P = (1 << 61) - 1  # Python's numeric hash modulus: k * P + c all hash to c
N = 12_000
CODEC = Codec()


def _bigint(value: int) -> msgpack.ExtType:
    return ext(Ext.BIGINT, value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True), True)


def _decimal(value: int) -> msgpack.ExtType:
    return ext(Ext.DECIMAL, str(value).encode(), True)


def _uuid(value: int) -> msgpack.ExtType:
    return ext(Ext.UUID, value.to_bytes(16, "big"), True)


def _complex(real: float, imag: float) -> msgpack.ExtType:
    return ext(Ext.COMPLEX, struct.pack("<dd", real, imag), True)


def _tuple(item: Any) -> msgpack.ExtType:
    return ext(Ext.TUPLE, [item])


# Each kind: (element maker, colliding values, control values of the same wire size).
BIG = 1 << 80
KINDS: dict[str, tuple[Callable[[int], Any], list[int], list[int]]] = {
    "bigint": (_bigint, [BIG * P + k * P for k in range(N)], [BIG * P + k for k in range(N)]),
    "decimal": (_decimal, [BIG * P + k * P for k in range(N)], [BIG * P + k for k in range(N)]),
    "uuid": (_uuid, [5 + k * P for k in range(1, N + 1)], [5 + k for k in range(1, N + 1)]),
    "tuple of bigint": (
        lambda v: _tuple(_bigint(v)),
        [BIG * P + k * P for k in range(N)],
        [BIG * P + k for k in range(N)],
    ),
    # hash(complex(a, b)) = hash(a) + 1000003 * hash(b): complex(1000003 i, -i) all hash 0
    "complex": (
        lambda i: _complex(1000003.0 * abs(i), -float(i)),
        list(range(2, N + 2)),
        [-i for i in range(2, N + 2)],
    ),
}


def _frames(kind: str, container: str) -> tuple[bytes, bytes]:
    make, hostile, control = KINDS[kind]

    def frame(values: list[int]) -> bytes:
        items = [make(value) for value in values]
        if container == "dict":
            return raw_frame(dict(zip(items, range(len(items)), strict=True)))
        code = Ext.SET if container == "set" else Ext.FROZENSET
        return raw_frame(ext(code, items))

    return frame(hostile), frame(control)


def _best_time(call: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):  # CPU time: other processes on the machine do not inflate it
        start = time.process_time()
        with contextlib.suppress(errors.SealpackError):
            call()
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize("container", ["set", "frozenset", "dict"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_hash_flooding_costs_what_a_same_size_control_costs(kind: str, container: str) -> None:
    """12,000 colliding elements took seconds (quadratic); now refused before building."""
    hostile, control = _frames(kind, container)
    assert 0.8 < len(hostile) / len(control) < 1.25
    assert CODEC.loads(control)  # the control is valid and decodes
    with pytest.raises(errors.LimitExceededError, match="share a hash value"):
        CODEC.loads(hostile)
    hostile_time = _best_time(lambda: CODEC.loads(hostile))
    control_time = _best_time(lambda: CODEC.loads(control))
    assert hostile_time < 10 * control_time, (hostile_time, control_time)


def test_a_few_colliding_values_are_honest_data() -> None:
    honest = {-1, -2, 0, P, 2 * P, *range(3, 40)}  # -1/-2 and 0/P/2P collide in Python
    assert CODEC.loads(CODEC.dumps(honest)) == honest
    at_bound = {BIG * P + k * P for k in range(MAX_SHARED_HASH)} | set(range(1, 100))
    assert CODEC.loads(CODEC.dumps(at_bound)) == at_bound
    over = at_bound | {BIG * P + MAX_SHARED_HASH * P}
    with pytest.raises(errors.LimitExceededError):
        CODEC.loads(CODEC.dumps(over))
    keys = {(BIG * P + k * P,): k for k in range(MAX_SHARED_HASH + 1)}
    with pytest.raises(errors.LimitExceededError):
        CODEC.loads(CODEC.dumps(keys))


def _peak(call: Callable[[], object]) -> tuple[int, BaseException | None]:
    tracemalloc.start()
    caught: BaseException | None = None
    try:
        call()
    except Exception as error:  # the test inspects what was raised
        caught = error
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, caught


@pytest.mark.parametrize("dtype", ["|S0", "<U0", ">U0", "|V0"])
def test_zero_itemsize_string_dtypes_are_refused(dtype: str) -> None:
    """A 60-byte frame used to decode to a 256 MiB array (numpy widens S0 to S1)."""
    frame = raw_frame(ext(Ext.NDARRAY, [dtype, [1 << 28], False, b""]))
    assert len(frame) < 128
    peak, caught = _peak(lambda: CODEC.loads(frame))
    assert isinstance(caught, errors.DecodeError), caught
    assert "no item size" in str(caught)
    assert peak < MB


def test_zero_itemsize_structured_arrays_count_as_items() -> None:
    empty_struct = {"names": [], "formats": [], "offsets": [], "itemsize": 0}
    frame = raw_frame(ext(Ext.NDARRAY, [empty_struct, [1 << 31], False, b""]))
    peak, caught = _peak(lambda: CODEC.loads(frame))
    assert isinstance(caught, errors.LimitExceededError), caught
    assert peak < MB
    small = raw_frame(ext(Ext.NDARRAY, [empty_struct, [3], False, b""]))
    assert CODEC.loads(small).shape == (3,)
    tight = Codec(limits=DecodeLimits(max_items=10))
    with pytest.raises(errors.LimitExceededError):
        tight.loads(raw_frame(ext(Ext.NDARRAY, [empty_struct, [11], False, b""])))


def test_array_elements_count_against_their_limit() -> None:
    tight = Codec(limits=DecodeLimits(max_array_elements=100))
    assert tight.loads(tight.dumps([np.zeros(60, np.float32)]))[0].shape == (60,)
    with pytest.raises(errors.LimitExceededError, match="array elements"):
        tight.loads(tight.dumps([np.zeros(60, np.float32), np.zeros(41, np.uint8)]))


def test_empty_numpy_bytes_scalar_still_round_trips() -> None:
    value = np.bytes_(b"")
    decoded = CODEC.loads(CODEC.dumps(value))
    assert type(decoded) is np.bytes_ and decoded == value


class Perm(enum.IntFlag):
    R = 4
    W = 2
    X = 1


class Color(enum.Flag):
    RED = 1
    BLUE = 4


@pytest.mark.parametrize("flag", [Perm, Color])
def test_flag_values_outside_declared_bits_are_refused_without_caching(flag: Any) -> None:
    codec = Codec()
    codec.register_enum_types(flag)
    name = f"{flag.__module__}.{flag.__qualname__}"
    members = list(flag.__members__.values())
    combined = members[0] | members[-1]
    assert codec.loads(codec.dumps(combined)) == combined
    before = dict(flag._value2member_map_)
    for value in [8, 16, 1 << 40, -1, 2**63, 1.0, "1", *range(64, 1064)]:
        frame = raw_frame(ext(Ext.CUSTOM, [0, value]), types=[name])
        with pytest.raises(errors.DecodeError):
            codec.loads(frame)
    assert flag._value2member_map_ == before


def test_load_of_a_header_claiming_a_gibibyte_allocates_what_arrived() -> None:
    header = struct.pack("<4sBBHQQQQ", b"SPKC", 1, 0, 0, 1, 1, 0, 1 << 30)
    assert len(header) == 40
    more = header + b"\x00" * (3 * MB)  # 3 MiB that really arrived, then the end
    for load in (CODEC.load, fobs.load):
        peak, caught = _peak(lambda load=load: load(io.BytesIO(header)))
        assert isinstance(caught, errors.DecodeError), caught
        assert peak < MB, peak
        peak, caught = _peak(lambda load=load: load(io.BytesIO(more)))
        assert isinstance(caught, errors.DecodeError), caught
        assert peak < 16 * MB, peak


def test_load_beyond_the_size_limit_is_a_limit_error() -> None:
    header = struct.pack("<4sBBHQQQQ", b"SPKC", 1, 0, 0, 1, 1, 0, (1 << 40) + 1)
    with pytest.raises(errors.LimitExceededError):
        CODEC.load(io.BytesIO(header))


class _Trickle(io.RawIOBase):
    """A stream that hands out at most ``step`` bytes per read, as a pipe would."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._at : self._at + size]
        self._at += len(chunk)
        return chunk


def test_load_reads_a_trickling_stream_and_stops_after_the_frame() -> None:
    value = {"w": np.arange(300_000, dtype=np.float32), "t": "x" * 70_000}
    frame = CODEC.dumps(value)
    stream = _Trickle(frame + b"NEXT", 4093)
    decoded = CODEC.load(stream)
    assert decoded["w"].flags.writeable and np.array_equal(decoded["w"], value["w"])
    assert decoded["t"] == value["t"]
    assert stream.read(4) == b"NEXT"


def test_load_of_a_text_stream_is_a_decode_error() -> None:
    with pytest.raises(errors.DecodeError, match="binary stream"):
        CODEC.load(io.StringIO("SPKC" * 20))  # type: ignore[arg-type]


def _floats_sharing_one_hash() -> list[float]:
    """The ~200 distinct floats whose hash is one value (a mantissa rotated mod 2**61-1)."""
    target = sum(1 << bit for bit in (0, 10, 20, 30, 40, 50))
    found = set()
    for shift in range(61):
        mantissa = ((target >> shift) | (target << (61 - shift))) & P
        if mantissa & 1 and mantissa < 1 << 53:
            for exponent in range(shift - 61 * 18, 1024, 61):
                value = float(mantissa) * 2.0**exponent if exponent >= -1000 else 0.0
                if value and value != float("inf") and hash(value) == target:
                    found.add(value)
    return sorted(found)


def test_float_keys_msgpack_builds_cost_a_bounded_factor() -> None:
    """Maps with plain keys are built by msgpack itself; at most ~200 floats (and ~12
    ints) share a hash value, so the worst 1 MB frame costs a constant factor more than
    a same-size control, never quadratic time."""
    colliding = _floats_sharing_one_hash()
    assert 150 < len(colliding) < 250
    keys = iter(range(1, 1 << 30))
    hostile = CODEC.dumps([dict.fromkeys(colliding, 0) for _ in range(500)])
    control = CODEC.dumps([{next(keys) * 0.5: 0 for _ in colliding} for _ in range(500)])
    assert abs(len(hostile) - len(control)) < len(control) // 10
    hostile_time = _best_time(lambda: CODEC.loads(hostile))
    control_time = _best_time(lambda: CODEC.loads(control))
    assert hostile_time < 25 * control_time, (hostile_time, control_time)
