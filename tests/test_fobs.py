"""The module-level FOBS API (sealpack.fobs), incl. NVFLARE's documentation example."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Type  # noqa: UP035 - the FOBS example uses typing.Type

import numpy as np
import pytest

from sealpack import errors, fobs


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    fobs.reset()
    yield
    fobs.reset()


# --- NVFLARE's FOBS README example, verbatim apart from the import ---------------


class Simple:
    def __init__(self, num: int, name: str, timestamp: datetime):
        self.num = num
        self.name = name
        self.timestamp = timestamp


class SimpleDecomposer(fobs.Decomposer):
    @staticmethod
    def supported_type() -> Type[Any]:  # noqa: UP006
        return Simple

    def decompose(self, obj) -> Any:  # type: ignore[no-untyped-def, override]
        return [obj.num, obj.name, obj.timestamp]

    def recompose(self, data: Any) -> Simple:  # type: ignore[override]
        return Simple(data[0], data[1], data[2])


def test_fobs_documentation_example_verbatim() -> None:
    fobs.register(SimpleDecomposer)
    data = fobs.dumps(Simple(1, "foo", datetime.now()))
    obj = fobs.loads(data)
    assert obj.num == 1
    assert obj.name == "foo"
    assert isinstance(obj.timestamp, datetime)


class ManagerStyleDecomposer(fobs.Decomposer):
    """The newer FOBS style: decompose/recompose take a manager argument."""

    def supported_type(self) -> Type[Any]:  # noqa: UP006
        return Simple

    def decompose(self, obj: Any, manager: Any) -> Any:  # type: ignore[override]
        assert manager is None
        return [obj.num, obj.name, obj.timestamp]

    def recompose(self, data: Any, manager: Any) -> Simple:  # type: ignore[override]
        return Simple(data[0], data[1], data[2])


def test_manager_style_decomposer_registered_as_instance() -> None:
    fobs.register(ManagerStyleDecomposer())
    when = datetime(2024, 5, 1, 12, 30)
    obj = fobs.loads(fobs.dumps({"s": Simple(7, "bar", when)}))["s"]
    assert (obj.num, obj.name, obj.timestamp) == (7, "bar", when)
    assert fobs.num_decomposers() == 1


def test_duplicate_registration_warns_and_first_stays() -> None:
    fobs.register(SimpleDecomposer)
    with pytest.warns(UserWarning, match="already registered"):
        fobs.register(ManagerStyleDecomposer)
    assert fobs.num_decomposers() == 1


def test_registering_a_builtin_type_warns_and_builtin_stays() -> None:
    class TupleDecomposer(fobs.Decomposer):
        def supported_type(self) -> type:
            return tuple

        def decompose(self, target: Any, manager: Any = None) -> Any:
            return "hijacked"

        def recompose(self, data: Any, manager: Any = None) -> Any:
            return "hijacked"

    with pytest.warns(UserWarning):
        fobs.register(TupleDecomposer)
    assert fobs.loads(fobs.dumps((1, 2))) == (1, 2)


@pytest.mark.parametrize("bad", [object(), 42, Simple, SimpleDecomposer.decompose])
def test_registering_a_non_decomposer_raises_type_error(bad: Any) -> None:
    with pytest.raises(TypeError):
        fobs.register(bad)
    with pytest.raises(errors.SerializationTypeError):
        fobs.register(bad)


def test_unknown_type_on_encode_is_a_type_error_naming_the_fix() -> None:
    with pytest.raises(TypeError, match=r"can not serialize 'Simple' object.*fobs\.register"):
        fobs.dumps(Simple(1, "x", datetime.now()))


def test_reset_forgets_registrations() -> None:
    fobs.register(SimpleDecomposer)
    data = fobs.dumps(Simple(1, "x", datetime(2020, 1, 1)))
    fobs.reset()
    assert fobs.num_decomposers() == 0
    with pytest.raises(errors.UnknownTypeError, match=r"fobs\.register"):
        fobs.loads(data)


@dataclass
class Point:
    x: int
    y: float


class Color(Enum):
    RED = 1
    GREEN = "green"


def test_register_data_classes_and_enum_types() -> None:
    fobs.register_data_classes(Point)
    fobs.register_enum_types(Color)
    value = {"p": Point(1, 2.5), "c": [Color.RED, Color.GREEN]}
    assert fobs.loads(fobs.dumps(value)) == value
    assert fobs.num_decomposers() == 2


def test_dataclasses_and_enums_are_sent_without_registration_like_fobs() -> None:
    value = {"p": Point(1, 2.5), "c": Color.GREEN}
    data = fobs.dumps(value)  # NVFLARE FOBS drop-in: the sender needs no registration
    assert fobs.num_decomposers() == 0
    with pytest.raises(errors.UnknownTypeError, match=r"fobs\.register_data_classes"):
        fobs.loads(data)  # ...but the same process can not decode it by itself
    fobs.register_data_classes(Point)
    with pytest.raises(errors.UnknownTypeError, match=r"test_fobs\.Color.*register_enum_types"):
        fobs.loads(data)
    fobs.register_enum_types(Color)
    assert fobs.loads(data) == value


def test_unregistered_pydantic_model_names_pydantic_decomposer_as_the_fix() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        x: int

    with pytest.raises(TypeError, match=r"fobs\.register\(fobs\.PydanticDecomposer\(.*Model\)\)"):
        fobs.dumps(Model(x=1))
    fobs.register(fobs.PydanticDecomposer(Model))
    assert fobs.loads(fobs.dumps([Model(x=2)])) == [Model(x=2)]
    with pytest.raises(errors.SerializationTypeError, match="not a pydantic"):
        fobs.PydanticDecomposer(Point)


def test_register_data_classes_rejects_non_dataclass() -> None:
    with pytest.raises(TypeError):
        fobs.register_data_classes(Simple)
    with pytest.raises(TypeError):
        fobs.register_enum_types(Point)  # type: ignore[arg-type]


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


def test_decorator_style_serializer_and_deserializer() -> None:
    @fobs.register_serializer(Money)
    def money_to_data(money: Money) -> int:
        return money.cents

    data = fobs.dumps([Money(250)])
    with pytest.raises(errors.UnknownTypeError):
        fobs.loads(data)  # only the serializer is registered so far

    @fobs.register_deserializer(Money)
    def money_from_data(cents: int) -> Money:
        return Money(cents)

    (restored,) = fobs.loads(data)
    assert isinstance(restored, Money) and restored.cents == 250
    assert money_to_data.__name__ == "money_to_data"  # decorators return the function


def test_dump_and_load_streams_give_writable_arrays() -> None:
    model = {"w": np.arange(100_000, dtype=np.float32), "b": np.ones(3)}
    stream = io.BytesIO()
    fobs.dump(model, stream)
    stream.write(b"next frame")
    stream.seek(0)
    restored = fobs.load(stream)
    assert stream.read() == b"next frame"  # load reads exactly one frame
    np.testing.assert_array_equal(restored["w"], model["w"])
    assert restored["w"].flags.writeable


def test_load_truncated_stream_raises_decode_error() -> None:
    data = fobs.dumps({"w": np.arange(100_000)})
    with pytest.raises(errors.DecodeError):
        fobs.load(io.BytesIO(data[:-1]))
    with pytest.raises(errors.DecodeError):
        fobs.load(io.BytesIO(b"XXXX" + data[4:]))


def test_dumps_buffers_joins_to_dumps() -> None:
    value = {"w": np.arange(50_000, dtype=np.float64), "s": "text"}
    parts = fobs.dumps_buffers(value)
    assert all(isinstance(part, memoryview) for part in parts)
    assert b"".join(parts) == fobs.dumps(value)


def test_no_warning_for_single_registration() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fobs.register(SimpleDecomposer)
