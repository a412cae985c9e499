"""Decomposers for optional packages (pydantic, torch); used only when installed.

Neither package is imported by this module at import time. Users register these
explicitly, on both sides, e.g. ``fobs.register(PydanticDecomposer(MyModel))``
or ``fobs.register(TorchTensorDecomposer)``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from sealpack.errors import SerializationTypeError
from sealpack.serialization.registry import Decomposer

__all__ = ["PydanticDecomposer", "TorchTensorDecomposer", "pydantic_available", "torch_available"]


def pydantic_available() -> bool:
    """True when pydantic can be imported."""
    return importlib.util.find_spec("pydantic") is not None


def torch_available() -> bool:
    """True when torch can be imported."""
    return importlib.util.find_spec("torch") is not None


class PydanticDecomposer(Decomposer):
    """A pydantic (v2) BaseModel subclass as its ``model_dump()``, re-validated on decode.

    Args:
        model: the exact BaseModel subclass (register one decomposer per model
            class that is sent at top level; nested models travel as dicts).

    Raises:
        SerializationTypeError: (a TypeError) ``model`` is not a pydantic v2 model class.
    """

    def __init__(self, model: type[Any]) -> None:
        if not (isinstance(model, type) and hasattr(model, "model_validate")):
            raise SerializationTypeError(f"{model!r} is not a pydantic v2 BaseModel subclass")
        self._model = model

    def supported_type(self) -> type[Any]:
        """Returns: the model class."""
        return self._model

    def decompose(self, target: Any, manager: Any = None) -> Any:
        """Returns: ``target.model_dump(mode="python", round_trip=True)`` (a dict)."""
        return target.model_dump(mode="python", round_trip=True)

    def recompose(self, data: Any, manager: Any = None) -> Any:
        """Returns: ``model.model_validate(data)``.

        Raises:
            pydantic.ValidationError: invalid data (the codec turns it into DecodeError).
        """
        return self._model.model_validate(data)


class TorchTensorDecomposer(Decomposer):
    """A CPU ``torch.Tensor`` as a numpy array (zero-copy on encode when contiguous).

    Tensors needing grad, on other devices, or of dtypes numpy lacks (bfloat16)
    are refused on encode with a TypeError.
    """

    def __init__(self) -> None:
        import torch  # the user chose this decomposer, so torch must be installed

        self._torch: Any = torch

    def supported_type(self) -> type[Any]:
        """Returns: ``torch.Tensor`` (exact class: ``torch.nn.Parameter`` is not covered)."""
        tensor: type[Any] = self._torch.Tensor
        return tensor

    def decompose(self, target: Any, manager: Any = None) -> Any:
        """Returns: ``target.numpy()``, a view sharing the tensor's memory.

        Raises:
            TypeError: the tensor is not on the CPU, requires grad, or has a dtype
                numpy lacks (e.g. bfloat16); the codec reports SerializationTypeError.
        """
        if target.device.type != "cpu" or target.requires_grad:
            raise TypeError("only CPU tensors without requires_grad can be serialized")
        return target.numpy()

    def recompose(self, data: Any, manager: Any = None) -> Any:
        """Returns: ``torch.from_numpy(data)`` (copied first when ``data`` is read-only).

        Raises:
            TypeError: ``data`` is not an ndarray (the codec turns it into DecodeError).
        """
        if not isinstance(data, np.ndarray):
            raise TypeError("torch tensor payload must be an array")
        if not data.flags.writeable:
            data = data.copy()
        return self._torch.from_numpy(data)
