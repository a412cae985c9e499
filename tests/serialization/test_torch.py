"""The optional torch decomposer: CPU tensors round-trip; what it cannot carry is refused."""

from __future__ import annotations

import numpy as np
import pytest

from sealpack import errors
from sealpack.serialization import Codec
from sealpack.serialization.optional import TorchTensorDecomposer

torch = pytest.importorskip("torch")


@pytest.fixture()
def codec() -> Codec:
    codec = Codec()
    codec.register(TorchTensorDecomposer())
    return codec


@pytest.mark.parametrize(
    "dtype", ["float32", "float64", "float16", "int8", "int64", "uint8", "bool", "complex64"]
)
def test_tensor_of_each_numpy_dtype_round_trips(codec: Codec, dtype: str) -> None:
    tensor = torch.from_numpy((np.arange(24) % 3).astype(dtype).reshape(2, 3, 4))
    decoded = codec.loads(bytearray(codec.dumps({"w": tensor})))["w"]
    assert isinstance(decoded, torch.Tensor)
    assert decoded.dtype == tensor.dtype and decoded.shape == tensor.shape
    assert torch.equal(decoded, tensor)


def test_large_tensor_is_a_writable_view_into_the_received_buffer(codec: Codec) -> None:
    tensor = torch.arange(100_000, dtype=torch.float32)
    frame = bytearray(codec.dumps(tensor))
    decoded = codec.loads(frame)
    marker = -7.25  # not a value of the tensor

    def markers_in_frame() -> int:
        aligned = bytes(frame[: len(frame) // 4 * 4])
        return int(np.count_nonzero(np.frombuffer(aligned, dtype=np.float32) == marker))

    before = markers_in_frame()
    decoded[0] = marker
    assert torch.equal(decoded[1:], tensor[1:])
    assert markers_in_frame() == before + 1


def test_non_contiguous_tensor_round_trips(codec: Codec) -> None:
    tensor = torch.arange(64, dtype=torch.float32).reshape(8, 8).t()[::2]
    assert torch.equal(codec.loads(codec.dumps(tensor)), tensor)


def test_tensor_requiring_grad_is_refused_on_encode(codec: Codec) -> None:
    with pytest.raises(TypeError):
        codec.dumps(torch.ones(3, requires_grad=True))


def test_unregistered_receiver_refuses_tensors(codec: Codec) -> None:
    frame = codec.dumps(torch.ones(3))
    with pytest.raises(errors.UnknownTypeError):
        Codec().loads(frame)
