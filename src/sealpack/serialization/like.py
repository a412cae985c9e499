"""``sealpack.like(reference)``: an expectation with the structure of a reference object."""

from __future__ import annotations

from typing import Any

import numpy as np

from sealpack.serialization.expect import MAPPINGS, compile_expect
from sealpack.serialization.registry import type_name
from sealpack.serialization.schema import Array, Spec
from sealpack.serialization.schema_nodes import Fields, Items, NumpyScalar, Registered
from sealpack.serialization.wire import Ext

__all__ = ["like"]

LIST = -1


def like(reference: Any) -> Spec:
    """An expectation of the same structure as ``reference``.

    Same keys (dicts), same lengths (lists, tuples), same dtypes and shapes
    (numpy arrays, torch tensors), same types elsewhere. An aggregator passes its
    global model: ``unseal(blob, ..., expect=sealpack.like(global_model))``.

    Args:
        reference: an object the codec can encode.

    Returns:
        The expectation, usable as ``expect=`` on every decoding entry point.

    Raises:
        TypeError: a dict key that is not a plain value (str, int, float, bool,
            bytes, None), or a type sealpack cannot check.
    """
    kind = type(reference)
    if isinstance(reference, np.ndarray):
        return Array(dtype=reference.dtype, shape=reference.shape)
    if kind in MAPPINGS:
        plain = (str, int, float, bool, bytes, type(None))
        if not all(type(key) in plain for key in reference):
            raise TypeError("like(): dict keys must be str, int, float, bool, bytes or None")
        fields = {key: like(value) for key, value in reference.items()}
        return Fields(f"{kind.__name__} like the reference", MAPPINGS[kind], fields, set(fields))
    if kind is list or kind is tuple:
        items = [like(item) for item in reference]
        return Items(
            f"{kind.__name__} like the reference", LIST if kind is list else int(Ext.TUPLE), items
        )
    if isinstance(reference, np.generic):
        return NumpyScalar(reference.dtype)
    if type_name(kind) == "torch.Tensor":
        array = reference.detach().cpu().numpy()
        return Registered("torch.Tensor", "torch.Tensor", like(array))
    return compile_expect(kind)
