"""Convert Flower RecordDicts to plain codec-friendly values and back.

The plain form is ``{"records": [(name, kind, body), ...]}`` with ``kind`` one of
``"arrays"``, ``"metrics"``, ``"configs"`` (record order is kept). An ArrayRecord
body is a list of ``(key, value)`` pairs whose value is a numpy array (Flower's
``numpy.ndarray`` serialization type) or, for any other serialization type,
``{"dtype", "shape", "stype", "data"}`` carried verbatim. Metric and config
bodies are dicts of scalars and lists of scalars. Arrays travel as numpy arrays,
so the sealpack codec carries them out of band without copies. Tuples, not lists,
so the receiver's typed decoding (:mod:`.schema`) can check each position.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from sealpack.integrations.flower.errors import RefusedMessageError

__all__ = ["plain_to_recorddict", "recorddict_to_plain"]

_NUMPY_STYPE = "numpy.ndarray"


def recorddict_to_plain(content: RecordDict) -> dict[str, Any]:
    """Turn a RecordDict into nested lists/dicts of numpy arrays and scalars.

    Args:
        content: The Flower RecordDict to convert.

    Returns:
        The plain form described in the module docstring.

    Raises:
        RefusedMessageError: A record of an unknown kind.
    """
    records: list[tuple[str, str, Any]] = []
    for name, record in content.items():
        if isinstance(record, ArrayRecord):
            body: Any = [(key, _array_to_plain(array)) for key, array in record.items()]
            records.append((name, "arrays", body))
        elif isinstance(record, MetricRecord):
            records.append((name, "metrics", dict(record)))
        elif isinstance(record, ConfigRecord):
            records.append((name, "configs", dict(record)))
        else:
            raise RefusedMessageError(f"unsupported record type {type(record).__name__!r}")
    return {"records": records}


def plain_to_recorddict(plain: object) -> RecordDict:
    """Rebuild a RecordDict from its plain form, validating every part.

    Args:
        plain: A value produced by :func:`recorddict_to_plain` (after a codec round trip).

    Returns:
        The equivalent RecordDict.

    Raises:
        RefusedMessageError: The value does not have the plain form's shape.
    """
    if not isinstance(plain, dict) or not isinstance(plain.get("records"), list):
        raise RefusedMessageError("sealed content is not a Flower RecordDict")
    content = RecordDict()
    for entry in plain["records"]:
        if not (isinstance(entry, list | tuple) and len(entry) == 3):
            raise RefusedMessageError("malformed record entry in sealed content")
        name, kind, body = entry
        if not isinstance(name, str) or name in content:
            raise RefusedMessageError("malformed or duplicate record name in sealed content")
        try:
            content[name] = _record_from_plain(kind, body)
        except (TypeError, ValueError, KeyError) as exc:
            raise RefusedMessageError(f"invalid {kind!s:.20} record {name!r:.60}") from exc
    return content


def _record_from_plain(kind: object, body: object) -> ArrayRecord | MetricRecord | ConfigRecord:
    if kind == "arrays" and isinstance(body, list | tuple):
        arrays: dict[str, Array] = {}
        for pair in body:
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise ValueError("array entry is not a pair")
            key, value = pair
            if not isinstance(key, str) or key in arrays:
                raise ValueError("bad array key")
            arrays[key] = _array_from_plain(value)
        return ArrayRecord(array_dict=arrays)
    if kind == "metrics" and isinstance(body, dict):
        return MetricRecord(_within_flower_ints(body))
    if kind == "configs" and isinstance(body, dict):
        return ConfigRecord(_within_flower_ints(body))
    raise ValueError("unknown record kind")


_INT_RANGE = range(-(2**63), 2**64)
"""The integers Flower's own serialization carries (sint64 / uint64); the codec carries
any size, and a node's 10**400 crashed FedAvg's metric averaging (OverflowError)."""


def _within_flower_ints(body: dict[Any, Any]) -> dict[Any, Any]:
    """``body`` when every integer in it (or in a list value) is one Flower can carry."""
    for value in body.values():
        for item in value if isinstance(value, list) else (value,):
            if type(item) is int and item not in _INT_RANGE:
                raise ValueError("an integer Flower records cannot hold")
    return body


def _array_to_plain(array: Array) -> Any:
    if array.stype == _NUMPY_STYPE:
        return array.numpy()
    return {
        "dtype": array.dtype,
        "shape": list(array.shape),
        "stype": array.stype,
        "data": bytes(array.data),
    }


def _array_from_plain(value: object) -> Array:
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise ValueError("object arrays are refused")
        return Array.from_numpy_ndarray(value)
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "stype", "data"}:
        raise ValueError("array value is neither an ndarray nor a raw Array")
    dtype, shape, stype, data = value["dtype"], value["shape"], value["stype"], value["data"]
    if not (isinstance(dtype, str) and isinstance(stype, str) and isinstance(data, bytes)):
        raise ValueError("raw Array fields have wrong types")
    if not (isinstance(shape, list | tuple) and all(type(d) is int and d >= 0 for d in shape)):
        raise ValueError("raw Array shape is invalid")
    return Array(dtype=dtype, shape=tuple(shape), stype=stype, data=data)
