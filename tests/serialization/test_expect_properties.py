"""Typed decoding, by property (issue 13): random annotations, values and mutations.

For a random annotation and a value of it: the value decodes unchanged with
``expect``; a mutated value (wrong type, dtype, shape, extra or missing key,
out-of-set literal, an unexpected registered type) is refused with the path of the
mutation; and no registered type is ever constructed for a refused frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealpack import errors
from sealpack.serialization import Array, Codec
from sealpack.serialization.registry import DataClassDecomposer
from sealpack.serialization.schema import key_segment
from tests.serialization.helpers import assert_same

BUILT: dict[str, int] = {"Point": 0, "Intruder": 0}


@dataclasses.dataclass
class Point:
    x: int
    y: str


@dataclasses.dataclass
class Intruder:
    x: int
    y: str


class _Counting(DataClassDecomposer):
    """The dataclass decomposer, counting every object it builds."""

    def recompose(self, data: Any, manager: Any = None) -> Any:
        BUILT[self.supported_type().__name__] += 1
        return super().recompose(data, manager)


CODEC = Codec(oob_threshold=64)
CODEC.register(_Counting(Point))
CODEC.register(_Counting(Intruder))


class Cfg(TypedDict):
    lr: float
    name: str


KEYS = st.sampled_from(["a", "b", "layer 1", "w"])
# A typed case: (annotation, value, mutate) where mutate(draw) -> (bad value, path) | None.
Case = tuple[Any, Any, Callable[[Any], tuple[Any, str] | None]]


def _leaf(annotation: Any, value: Any, wrong: Any) -> Case:
    return annotation, value, lambda draw: (wrong, "$")


@st.composite
def leaves(draw: Any) -> Case:
    choice = draw(st.integers(0, 7))
    if choice == 0:
        return _leaf(int, draw(st.integers()), "x")
    if choice == 1:
        return _leaf(float, draw(st.floats(allow_nan=False)), 1)
    if choice == 2:
        return _leaf(str, draw(st.text(max_size=80)), b"x")
    if choice == 3:
        return _leaf(Literal["up", "down"], draw(st.sampled_from(["up", "down"])), "sideways")
    if choice == 4:
        point = Point(draw(st.integers(-5, 5)), draw(st.text(max_size=3)))
        return _leaf(Point, point, Intruder(point.x, point.y))
    if choice == 5:
        rows = draw(st.integers(0, 3))
        array = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
        bad = array.astype(np.float64) if draw(st.booleans()) else np.zeros((rows, 4), np.float32)
        return _leaf(Annotated[np.ndarray, Array("float32", (None, 3))], array, bad)
    if choice == 6:
        cfg = {"lr": draw(st.floats(0, 1)), "name": draw(st.text(max_size=5))}
        return Cfg, cfg, lambda draw: _typed_dict_mutation(draw, cfg)
    return _leaf(bool | None, draw(st.sampled_from([True, False, None])), 0)


def _typed_dict_mutation(draw: Any, cfg: dict[str, Any]) -> tuple[Any, str]:
    how = draw(st.integers(0, 2))
    if how == 0:
        return {**cfg, "extra": 1}, "$.extra"
    if how == 1:
        return {"name": cfg["name"]}, "$.lr"
    return {**cfg, "lr": "fast"}, "$.lr"


def _extend(children: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    return st.one_of(_lists(children), _dicts(children), _tuples(children), _optional(children))


@st.composite
def _lists(draw: Any, children: st.SearchStrategy[Case]) -> Case:
    first = draw(children)
    annotation = first[0]
    items = [first] * draw(st.integers(1, 4))

    def mutate(draw: Any) -> tuple[Any, str] | None:
        index = draw(st.integers(0, len(items) - 1))
        inner = items[index][2](draw)
        if inner is None:
            return None
        values = [item[1] for item in items]
        values[index] = inner[0]
        return values, f"$[{index}]" + inner[1][1:]

    return list[annotation], [item[1] for item in items], mutate  # type: ignore[valid-type]


@st.composite
def _dicts(draw: Any, children: st.SearchStrategy[Case]) -> Case:
    first = draw(children)
    annotation = first[0]
    keys = draw(st.lists(KEYS, min_size=1, max_size=3, unique=True))
    cases = [first] * len(keys)

    def mutate(draw: Any) -> tuple[Any, str] | None:
        index = draw(st.integers(0, len(keys) - 1))
        inner = cases[index][2](draw)
        if inner is None:
            return None
        value = {key: case[1] for key, case in zip(keys, cases, strict=True)}
        value[keys[index]] = inner[0]
        return value, "$" + key_segment(keys[index]) + inner[1][1:]

    value = {key: case[1] for key, case in zip(keys, cases, strict=True)}
    return dict[str, annotation], value, mutate  # type: ignore[valid-type]


@st.composite
def _tuples(draw: Any, children: st.SearchStrategy[Case]) -> Case:
    cases = draw(st.lists(children, min_size=1, max_size=3))
    annotation = tuple[tuple(case[0] for case in cases)]  # type: ignore[misc]

    def mutate(draw: Any) -> tuple[Any, str] | None:
        index = draw(st.integers(0, len(cases) - 1))
        inner = cases[index][2](draw)
        if inner is None:
            return None
        values = [case[1] for case in cases]
        values[index] = inner[0]
        return tuple(values), f"$[{index}]" + inner[1][1:]

    return annotation, tuple(case[1] for case in cases), mutate


@st.composite
def _optional(draw: Any, children: st.SearchStrategy[Case]) -> Case:
    annotation, value, mutate = draw(children)
    if value is None:
        return annotation, value, mutate
    return annotation | None, value, mutate


CASES = st.recursive(leaves(), _extend, max_leaves=6)
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@SETTINGS
@given(CASES)
def test_a_matching_value_decodes_unchanged(case: Case) -> None:
    annotation, value, _ = case
    data = CODEC.dumps(value)
    assert_same(CODEC.loads(data, expect=annotation), CODEC.loads(data))


@SETTINGS
@given(CASES, st.data())
def test_a_mutated_value_is_refused_at_its_path(case: Case, data: st.DataObject) -> None:
    annotation, _, mutate = case
    mutation = mutate(data.draw)
    if mutation is None:
        return
    bad, path = mutation
    frame = CODEC.dumps(bad)
    built = dict(BUILT)
    with pytest.raises(errors.SchemaError) as info:
        CODEC.loads(frame, expect=annotation)
    assert str(info.value).startswith(path + ":"), (str(info.value), path)
    assert built == BUILT  # nothing registered was constructed for the refused frame
