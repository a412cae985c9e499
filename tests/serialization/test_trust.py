"""Receiver-side trust, registration rules, cycles, depth and shared references."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import pytest

from sealpack import errors
from sealpack.serialization import Codec, DecodeLimits, Decomposer, PydanticDecomposer


@dataclasses.dataclass
class Config:
    lr: float
    layers: list[int]


@dataclasses.dataclass(frozen=True, slots=True)
class Frozen:
    name: str
    inner: Config


class Mode(enum.Enum):
    TRAIN = "train"
    EVAL = "eval"


class Perm(enum.Flag):
    R = 1
    W = 2


@pytest.mark.parametrize(
    ("value", "register", "first_missing"),
    [
        (Config(0.1, [1]), "register_data_classes", "Config"),
        (Frozen("f", Config(0.2, [])), "register_data_classes", "Config"),  # inner first
        (Mode.TRAIN, "register_enum_types", "Mode"),
        (Perm.R | Perm.W, "register_enum_types", "Perm"),
    ],
)
def test_unregistered_dataclass_or_enum_encodes_but_same_codec_refuses_to_decode(
    value: Any, register: str, first_missing: str
) -> None:
    codec = Codec()
    data = codec.dumps({"v": value})  # FOBS drop-in: no registration needed to send
    assert codec.num_decomposers() == 0  # ...and encoding registered nothing
    with pytest.raises(errors.UnknownTypeError, match=register) as info:
        codec.loads(data)
    assert f"test_trust.{first_missing}'" in str(info.value)
    getattr(codec, register)(type(value), *([Config] if type(value) is Frozen else []))
    assert codec.loads(data) == {"v": value}


def test_implicit_encoding_has_the_same_wire_form_as_registered_encoding() -> None:
    implicit, registered = Codec(), Codec()
    registered.register_data_classes(Frozen, Config)
    registered.register_enum_types(Mode)
    value = [Frozen("a", Config(1.0, [2])), Mode.EVAL, Config(3.0, [])]
    assert implicit.dumps(value) == registered.dumps(value)
    assert registered.loads(implicit.dumps(value)) == value


def test_encoding_an_unregistered_dataclass_does_not_make_it_decodable_later() -> None:
    codec = Codec()
    first = codec.dumps(Config(0.1, [1]))
    codec.dumps([Config(0.2, [2]), Mode.TRAIN])  # encode again, and other types
    for data in (first, codec.dumps(Mode.EVAL)):
        with pytest.raises(errors.UnknownTypeError):
            codec.loads(data)


def test_other_unknown_classes_still_raise_on_encode_naming_the_fix() -> None:
    class Plain:
        pass

    with pytest.raises(errors.SerializationTypeError, match=r"fobs\.register\(") as info:
        Codec().dumps([Plain()])
    assert isinstance(info.value, TypeError)
    assert "can not serialize 'test_other_unknown_classes" in str(info.value)


def test_unregistered_dataclass_with_an_unknown_field_type_raises_on_encode() -> None:
    with pytest.raises(errors.SerializationTypeError):
        Codec().dumps(Config(0.1, [object()]))  # type: ignore[list-item]


def test_encoding_a_dataclass_does_not_make_it_decodable() -> None:
    sender, receiver = Codec(), Codec()
    sender.register_data_classes(Config)
    data = sender.dumps({"cfg": Config(0.1, [1, 2])})
    with pytest.raises(errors.UnknownTypeError, match="register"):
        receiver.loads(data)
    receiver.register_data_classes(Config)
    assert receiver.loads(data) == {"cfg": Config(0.1, [1, 2])}


def test_frozen_slots_dataclasses_and_enums_round_trip_when_registered() -> None:
    codec = Codec()
    codec.register_data_classes(Config, Frozen)
    codec.register_enum_types(Mode, Perm)
    value = [Frozen("a", Config(1e-3, [])), Mode.EVAL, Perm.R | Perm.W]
    assert codec.loads(codec.dumps(value)) == value


def test_dataclass_frame_with_wrong_fields_is_rejected() -> None:
    sender, receiver = Codec(), Codec()

    @sender.register_serializer(Config)
    def fake(config: Config) -> Any:
        return {"lr": 1.0, "__class__": "os.system"}

    receiver.register_data_classes(Config)
    with pytest.raises(errors.DecodeError):
        receiver.loads(sender.dumps(Config(1.0, [])))


def test_enum_frame_with_unknown_value_is_rejected() -> None:
    sender, receiver = Codec(), Codec()
    sender.register_serializer(Mode)(lambda mode: "sudo")
    receiver.register_enum_types(Mode)
    with pytest.raises(errors.DecodeError):
        receiver.loads(sender.dumps(Mode.TRAIN))


def test_recompose_exceptions_become_decode_errors() -> None:
    class Boom:
        pass

    class BoomDecomposer(Decomposer):
        def supported_type(self) -> type:
            return Boom

        def decompose(self, target: Any, manager: Any = None) -> Any:
            return 1

        def recompose(self, data: Any, manager: Any = None) -> Any:
            raise KeyError("bad data")

    codec = Codec()
    codec.register(BoomDecomposer)
    with pytest.raises(errors.DecodeError):
        codec.loads(codec.dumps(Boom()))


def test_subclass_of_registered_type_is_not_encoded_with_the_base_decomposer() -> None:
    class Plain:
        pass

    class PlainChild(Plain):
        pass

    class PlainDecomposer(Decomposer):
        def supported_type(self) -> type:
            return Plain

        def decompose(self, target: Any, manager: Any = None) -> Any:
            return None

        def recompose(self, data: Any, manager: Any = None) -> Any:
            return Plain()

    @dataclasses.dataclass
    class Child(Config):
        extra: int = 0

    codec = Codec()
    codec.register(PlainDecomposer)
    codec.register_data_classes(Config)
    with pytest.raises(errors.SerializationTypeError):
        codec.dumps(PlainChild())
    data = codec.dumps(Child(1.0, [], 3))  # a dataclass: encoded under its own name
    with pytest.raises(errors.UnknownTypeError, match="Child"):
        codec.loads(data)


@pytest.mark.parametrize("kind", ["list", "dict", "tuple-list", "custom", "ordered"])
def test_cycles_raise_cycle_error(kind: str) -> None:
    codec = Codec()
    value: Any
    if kind == "list":
        value = [1]
        value.append(value)
    elif kind == "dict":
        value = {"a": {}}
        value["a"]["back"] = value
    elif kind == "tuple-list":
        inner: list[Any] = []
        value = (inner,)
        inner.append(value)
    elif kind == "custom":
        codec.register_data_classes(Config)
        value = Config(0.0, [])
        value.layers.append(value)  # type: ignore[arg-type]
    else:
        from collections import OrderedDict

        value = OrderedDict()
        value["self"] = [value]
    with pytest.raises(errors.CycleError, match="cycle"):
        codec.dumps(value)


def test_shared_references_are_duplicated() -> None:
    codec = Codec()
    shared = [1, 2]
    first, second = codec.loads(codec.dumps([shared, shared]))
    assert first == second == shared
    assert first is not second


def test_nesting_beyond_max_depth_is_refused_on_encode() -> None:
    value: Any = []
    for _ in range(300):
        value = [value]
    with pytest.raises(errors.LimitExceededError):
        Codec().dumps(value)


def test_deep_nesting_within_raised_limit_round_trips() -> None:
    codec = Codec(limits=DecodeLimits(max_depth=1500))
    value: Any = 0
    for index in range(1200):
        value = (value,) if index % 2 else [value]
    restored = codec.loads(codec.dumps(value))
    for index in reversed(range(1200)):  # compared iteratively: == would need a deep stack
        assert type(restored) is (tuple if index % 2 else list) and len(restored) == 1
        restored = restored[0]
    assert restored == 0


def test_pydantic_models_round_trip_when_registered() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Inner(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        when: Any

    class Outer(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        name: str
        inner: Inner

    import datetime as dt

    codec = Codec()
    value = Outer(name="x", inner=Inner(when=dt.date(2024, 1, 1)))
    with pytest.raises(
        errors.SerializationTypeError,
        match=r"fobs\.register\(fobs\.PydanticDecomposer\(.*Outer\)\)",
    ):
        codec.dumps(value)
    codec.register(PydanticDecomposer(Outer))
    assert codec.loads(codec.dumps(value)) == value


def test_torch_tensors_round_trip_when_registered() -> None:
    torch = pytest.importorskip("torch")
    from sealpack.serialization import TorchTensorDecomposer

    codec = Codec()
    codec.register(TorchTensorDecomposer)
    tensor = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert torch.equal(codec.loads(bytearray(codec.dumps(tensor))), tensor)


def test_codecs_have_independent_registries() -> None:
    first, second = Codec(), Codec()
    first.register_data_classes(Config)
    assert first.num_decomposers() == 1 and second.num_decomposers() == 0


def test_decomposer_class_needing_arguments_must_be_registered_as_instance() -> None:
    class Wrapper:
        pass

    class NeedsArgs(Decomposer):
        def __init__(self, scale: int) -> None:
            self.scale = scale

        def supported_type(self) -> type:
            return Wrapper

        def decompose(self, target: Any, manager: Any = None) -> Any:
            return self.scale

        def recompose(self, data: Any, manager: Any = None) -> Any:
            return Wrapper()

    codec = Codec()
    with pytest.raises(TypeError, match="register an instance"):
        codec.register(NeedsArgs)
    codec.register(NeedsArgs(3))
    assert type(codec.loads(codec.dumps(Wrapper()))) is Wrapper


def test_empty_shaped_zero_itemsize_arrays_do_not_allocate() -> None:
    import numpy as np

    codec = Codec()
    value = np.zeros((5, 0, 7), dtype=[])
    restored = codec.loads(codec.dumps(value))
    assert restored.shape == (5, 0, 7) and restored.dtype == value.dtype
