"""Typed decoding (issue 13): every supported annotation, its paths and its refusals."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import enum
import io
import uuid
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, ForwardRef, Literal, NamedTuple, Optional, TypedDict, Union

import numpy as np
import numpy.typing as npt
import pytest

try:
    from typing import NotRequired, Required
except ImportError:  # Python 3.10
    from typing_extensions import NotRequired, Required

from sealpack import errors, fobs
from sealpack.serialization import Array, Codec, Decomposer, like
from tests.serialization.helpers import assert_same

CODEC = Codec(oob_threshold=64)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Perm(enum.IntFlag):
    R = 4
    W = 2


@dataclasses.dataclass
class Point:
    x: int
    y: float


@dataclasses.dataclass
class Node:
    name: str
    children: list[Node]


class Row(TypedDict):
    id: int
    tags: list[str]


class Partial(TypedDict, total=False):
    id: int
    note: str


class Pair(NamedTuple):
    left: int
    right: str


class Counted:
    """A registered (non-dataclass) type whose constructions are counted."""

    built = 0

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Counted) and other.value == self.value


class CountedDecomposer(Decomposer):
    def supported_type(self) -> type[Any]:
        return Counted

    def decompose(self, target: Any, manager: Any = None) -> Any:
        return target.value

    def recompose(self, data: Any, manager: Any = None) -> Any:
        Counted.built += 1
        return Counted(data)


CODEC.register_data_classes(Point, Node)
CODEC.register_enum_types(Color, Perm)
CODEC.register(CountedDecomposer)


def roundtrip(value: Any, expect: Any) -> Any:
    """Decode with ``expect``; it must equal the decode without it."""
    data = CODEC.dumps(value)
    decoded = CODEC.loads(data, expect=expect)
    assert_same(decoded, CODEC.loads(data))
    return decoded


def refused(value: Any, expect: Any) -> str:
    with pytest.raises(errors.SchemaError) as info:
        CODEC.loads(CODEC.dumps(value), expect=expect)
    assert isinstance(info.value, errors.DecodeError)
    return str(info.value)


MATCHING = [
    (1, int),
    (2**80, int),
    (1.5, float),
    (True, bool),
    (None, None),
    (None, type(None)),
    ("s", str),
    ("x" * 100, str),  # out-of-band
    (b"b", bytes),
    (b"b" * 100, bytes),
    (bytearray(b"ab"), bytearray),
    (bytearray(100), bytearray),
    (1 + 2j, complex),
    (dt.datetime(2024, 1, 2), dt.datetime),
    (dt.date(2024, 1, 2), dt.date),
    (dt.time(1, 2), dt.time),
    (dt.timedelta(3), dt.timedelta),
    (Decimal("1.5"), Decimal),
    (uuid.UUID(int=7), uuid.UUID),
    (argparse.Namespace(a=1), argparse.Namespace),
    ([1, 2], list[int]),
    ([1, "a"], list[int | str]),
    ([1, 2], list),
    ({"a": 1.0}, dict[str, float]),
    ({(1, 2): "x"}, dict[tuple[int, int], str]),
    ((1, "a"), tuple[int, str]),
    ((1, 2, 3), tuple[int, ...]),
    ((), tuple[()]),
    ({1, 2}, set[int]),
    (frozenset({"a"}), frozenset[str]),
    (OrderedDict(a=1), OrderedDict[str, int]),
    (None, Optional[int]),  # noqa: UP045 (typing.Optional is what is tested)
    (3, Optional[int]),  # noqa: UP045 (typing.Optional is what is tested)
    ("b", Literal["a", "b"]),
    (Color.RED, Literal[Color.RED]),
    ({"anything": [object.__class__.__name__]}, Any),
    (Color.BLUE, Color),
    (Perm.R | Perm.W, Perm),
    (Point(1, 2.0), Point),
    (Node("a", [Node("b", [])]), Node),
    ({"id": 1, "tags": ["t"]}, Row),
    ({"note": "n"}, Partial),
    ((1, "a"), Pair),
    (Counted(3), Counted),
    (np.zeros((2, 3), np.float32), np.ndarray),
    (np.zeros((2, 3), np.float32), Array(dtype="float32", shape=(None, 3))),
    (np.zeros((2, 3), np.float32), Annotated[np.ndarray, Array("float32", (2, 3))]),
    (np.zeros(4, np.int16), npt.NDArray[np.int16]),
    (np.zeros(1000, np.float64), Array(dtype=np.float64)),  # out-of-band
    (np.float32(1), np.float32),
    (np.str_("abc"), np.str_),
]


@pytest.mark.parametrize(("value", "expect"), MATCHING, ids=lambda item: repr(item)[:40])
def test_matching_values_decode_unchanged(value: Any, expect: Any) -> None:
    roundtrip(value, expect)


REFUSED = [
    (1, str, "$: expected str, got int"),
    (True, int, "$: expected int, got bool"),
    (1, float, "$: expected float, got int"),
    ("x" * 100, bytes, "$: expected bytes, got str"),
    (dt.datetime(2024, 1, 2), dt.date, "$: expected date, got datetime"),
    ([1, "a"], list[int], "$[1]: expected int, got str"),
    ({"a": 1.0, "b b": "x"}, dict[str, float], "$['b b']: expected float, got str"),
    ({1: 1.0}, dict[str, float], "$[0]: expected str, got int"),
    ((1, "a"), tuple[int, int], "$[1]: expected int, got str"),
    ((1, 2, 3), tuple[int, int], "$: expected 2 items, got 3"),
    ([1, 2], tuple[int, ...], "$: expected tuple[int, ...], got list"),
    ({1, "a"}, set[int], "expected int, got str"),
    ({"a": 1}, OrderedDict[str, int], "$: expected OrderedDict[str, int], got dict"),
    ("c", Literal["a", "b"], "$: expected Literal['a', 'b'], got a value of type str"),
    (Color.BLUE, Literal[Color.RED], "$: expected Literal[<Color.RED: 'red'>]"),
    ("x", Optional[int], "$: expected int | None, got str"),  # noqa: UP045 (typing.Optional is what is tested)
    ([1.5], Optional[list[int]], "$[0]: expected int, got float"),  # noqa: UP045 (typing.Optional is what is tested)
    (Color.RED, Perm, "$: expected Perm, got registered type"),
    (Point(1, 2), Point, "$.y: expected float, got int"),
    (Node("a", [Node("b", [Point(1, 2.0)])]), Node, "$.children[0].children[0]: expected Node"),
    ({"id": 1}, Row, "$.tags: expected list[str], got nothing (missing key)"),
    ({"id": 1, "tags": [], "x": 0}, Row, "$.x: unexpected key"),
    ({"id": "1"}, Partial, "$.id: expected int, got str"),
    ((1, 2), Pair, "$[1]: expected str, got int"),
    ([1, "a"], Pair, "$: expected Pair, got list"),
    (Point(1, 2.0), Counted, "$: expected Counted, got registered type"),
    (np.zeros((2, 3)), Array("float32", (None, 3)), "$: expected float32[*, 3], got float64[2, 3]"),
    (np.zeros((2, 4), np.float32), Array("float32", (None, 3)), "got float32[2, 4]"),
    (np.zeros(4, np.int32), npt.NDArray[np.int16], "$: expected int16, got int32[4]"),
    (np.float64(1), np.float32, "$: expected numpy float32 scalar, got numpy float64 scalar"),
    ([np.zeros(2)], list[int], "$[0]: expected int, got float64[2]"),
]


@pytest.mark.parametrize(("value", "expect", "message"), REFUSED, ids=lambda item: repr(item)[:40])
def test_mismatches_name_the_path(value: Any, expect: Any, message: str) -> None:
    assert message in refused(value, expect)


def test_the_aggregator_case_with_like() -> None:
    model = {"layers": [{"weight": np.zeros((128, 64), np.float32)} for _ in range(4)]}
    roundtrip(model, like(model))
    update = {"layers": [{"weight": np.ones((128, 64), np.float32)} for _ in range(4)]}
    update["layers"][3]["weight"] = np.ones((128, 64))
    message = refused(update, like(model))
    assert message == "$.layers[3].weight: expected float32[128, 64], got float64[128, 64]"
    assert "$.layers: expected 4 items, got 3" in refused(
        {"layers": model["layers"][:3]}, like(model)
    )
    extra = {**model, "bias": np.zeros(3, np.float32)}
    assert "$.bias: unexpected key" in refused(extra, like(model))
    assert "$.layers[0].weight: expected float32[128, 64], got float32[64, 128]" in refused(
        {"layers": [{"weight": np.zeros((64, 128), np.float32)}] * 4}, like(model)
    )


def test_like_of_scalars_tuples_and_registered_types() -> None:
    reference = (1, "a", [2.0], Point(1, 2.0), np.float32(1), None)
    roundtrip(reference, like(reference))
    assert "$[1]: expected str, got int" in refused(
        (1, 2, [2.0], Point(1, 2.0), np.float32(1), None), like(reference)
    )
    with pytest.raises(TypeError, match="dict keys"):
        like({(1, 2): 3})


def test_nothing_registered_is_built_when_the_frame_does_not_match() -> None:
    before = Counted.built
    refused({"a": Counted(1), "b": Counted(2), "c": "not an int"}, dict[str, Counted])
    refused([Counted(1), Point(1, 2.0)], list[Counted])
    assert Counted.built == before
    roundtrip({"a": Counted(1)}, dict[str, Counted])
    assert Counted.built == before + 2  # the checked decode and the plain one


def test_expect_none_and_streams() -> None:
    data = CODEC.dumps({"a": 1})
    assert CODEC.loads(data, expect=None) == {"a": 1}
    assert CODEC.load(io.BytesIO(data), expect=dict[str, int]) == {"a": 1}
    with pytest.raises(errors.SchemaError):
        CODEC.load(io.BytesIO(data), expect=dict[str, str])
    assert fobs.loads(fobs.dumps([1.0]), expect=list[float]) == [1.0]
    with pytest.raises(errors.SchemaError):
        fobs.load(io.BytesIO(fobs.dumps([1.0])), expect=list[int])


@pytest.mark.parametrize(
    "annotation",
    [Callable[[int], int], 3, "int", Union[int, ForwardRef("Foo")]],  # noqa: UP007
)
def test_unsupported_annotations_are_a_type_error(annotation: Any) -> None:
    with pytest.raises(TypeError, match="unsupported annotation"):
        CODEC.loads(CODEC.dumps(1), expect=annotation)


def test_malformed_frames_stay_decode_errors_under_expect() -> None:
    with pytest.raises(errors.DecodeError):
        CODEC.loads(b"SPKC" + bytes(36), expect=int)


def test_array_spec_validates_its_arguments() -> None:
    with pytest.raises(TypeError):
        Array(shape=(-1,))
    assert "float32[*, 64]" in repr(Array("float32", (None, 64)))


class Marked(TypedDict, total=False):
    id: Required[int]
    note: NotRequired[str]


def test_typed_dict_requiredness_markers() -> None:
    roundtrip({"id": 1}, Marked)
    assert "$.id: expected int, got nothing (missing key)" in refused({"note": "n"}, Marked)
    assert "$.note: expected str, got int" in refused({"id": 1, "note": 2}, Marked)


def test_pydantic_models_are_matched_by_name_and_validated() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Reading(pydantic.BaseModel):
        value: float

    codec = Codec()
    codec.register(fobs.PydanticDecomposer(Reading))
    data = codec.dumps([Reading(value=1.5)])
    assert codec.loads(data, expect=list[Reading]) == [Reading(value=1.5)]
    with pytest.raises(errors.SchemaError, match=r"\$\[0\]: expected Point"):
        codec.loads(data, expect=list[Point])


def test_like_a_torch_tensor_checks_dtype_and_shape() -> None:
    torch = pytest.importorskip("torch")
    codec = Codec()
    codec.register(fobs.TorchTensorDecomposer)
    reference = {"w": torch.zeros(3, 4)}
    decoded = codec.loads(codec.dumps({"w": torch.ones(3, 4)}), expect=like(reference))
    assert torch.equal(decoded["w"], torch.ones(3, 4))
    with pytest.raises(errors.SchemaError, match=r"\$\.w: expected float32\[3, 4\]"):
        codec.loads(codec.dumps({"w": torch.ones(4, 3)}), expect=like(reference))


def test_eagerly_built_leaves_are_checked_like_deferred_ones() -> None:
    """Small flat tuples/sets/datetimes are built while parsing; big ones later."""
    small, big = (1, "a"), tuple(range(200))
    roundtrip([small, big], list[tuple[int, ...] | tuple[int, str]])
    assert "$[1][1]: expected str, got int" in refused([small, (2, 3)], list[tuple[int, str]])
    assert "$[1]: expected 2 items, got 200" in refused([small, big], list[tuple[int, str]])
    assert "expected int, got str" in refused({"x", "y"}, set[int])
    assert "expected int, got str" in refused(set(map(str, range(300))), set[int])
    assert "$: expected date, got datetime" in refused(dt.datetime(2020, 1, 1), dt.date)


@dataclasses.dataclass
class Packed:
    a: int
    b: int


class PackedDecomposer(Decomposer):
    """A dataclass with a decomposer of its own: its data is a list, not a field map."""

    def supported_type(self) -> type[Any]:
        return Packed

    def decompose(self, target: Any, manager: Any = None) -> Any:
        return [target.a, target.b]

    def recompose(self, data: Any, manager: Any = None) -> Any:
        return Packed(*data)


class Level(enum.Enum):
    LOW = 1


class LevelByName(Decomposer):
    def supported_type(self) -> type[Any]:
        return Level

    def decompose(self, target: Any, manager: Any = None) -> Any:
        return target.name

    def recompose(self, data: Any, manager: Any = None) -> Any:
        return Level[data]


def test_classes_with_their_own_decomposer_are_matched_by_name_only() -> None:
    codec = Codec()
    codec.register(PackedDecomposer)
    codec.register(LevelByName)
    value = [Packed(1, 2), Level.LOW]
    assert codec.loads(codec.dumps(value), expect=list[Packed | Level]) == value
    with pytest.raises(errors.SchemaError, match=r"\$\[1\]: expected Packed"):
        codec.loads(codec.dumps(value), expect=list[Packed])
