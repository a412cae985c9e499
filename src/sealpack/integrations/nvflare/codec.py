"""The codec that carries NVFLARE payloads inside a sealed blob.

A Shareable's content (a DXO as a dict, metrics, meta) holds NVFLARE's own enums
(``DataKind``, ``ParamsType``, ...) and sometimes DXO or Shareable objects. sealpack's
codec rebuilds only types the receiver registered, so both sides build the same
codec here. Arrays handed back to NVFLARE are writable: trainers update them in place.
"""

from __future__ import annotations

import importlib
import threading
from enum import Enum
from typing import Any

import numpy as np

from sealpack.serialization import Codec, Decomposer

__all__ = ["ENUM_TYPES", "nvflare_codec", "writable"]

# module, class: NVFLARE enums that travel in task data and results.
ENUM_TYPES = (
    ("nvflare.apis.dxo", "DataKind"),
    ("nvflare.app_common.abstract.fl_model", "ParamsType"),
    ("nvflare.client.config", "ExchangeFormat"),
    ("nvflare.client.config", "TransferType"),
    ("nvflare.fuel.utils.constants", "FrameworkType"),
)

_LOCK = threading.Lock()
_CODEC: list[Codec] = []


class ShareableDecomposer(Decomposer):
    """A Shareable nested in a payload, as its plain dict."""

    def supported_type(self) -> type[Any]:
        from nvflare.apis.shareable import Shareable

        kind: type[Any] = Shareable
        return kind

    def decompose(self, target: Any, manager: Any = None) -> Any:
        return dict(target)

    def recompose(self, data: Any, manager: Any = None) -> Any:
        from nvflare.apis.shareable import Shareable

        shareable = Shareable()
        shareable.update(data)
        return shareable


class DXODecomposer(Decomposer):
    """A DXO nested in a payload, as the dict ``DXO.to_dict`` makes."""

    def supported_type(self) -> type[Any]:
        from nvflare.apis.dxo import DXO

        kind: type[Any] = DXO
        return kind

    def decompose(self, target: Any, manager: Any = None) -> Any:
        return target.to_dict()

    def recompose(self, data: Any, manager: Any = None) -> Any:
        from nvflare.apis.dxo import from_dict

        return from_dict(data)


def _enum_types() -> list[type[Enum]]:
    found: list[type[Enum]] = []
    for module_name, class_name in ENUM_TYPES:
        module = importlib.import_module(module_name)
        found.append(getattr(module, class_name))
    return found


def nvflare_codec() -> Codec:
    """The process-wide codec for NVFLARE payloads (built once).

    Returns:
        A Codec with NVFLARE's enums, DXO and Shareable registered.
    """
    with _LOCK:
        if not _CODEC:
            codec = Codec()
            codec.register(ShareableDecomposer())
            codec.register(DXODecomposer())
            codec.register_enum_types(*_enum_types())
            _CODEC.append(codec)
        return _CODEC[0]


def writable(value: Any) -> Any:
    """Replace every read-only numpy array in nested dicts and lists by a writable copy.

    Arrays decoded from a writable buffer are already writable and kept as they are.

    Args:
        value: the decoded payload (dicts are updated in place).

    Returns:
        The payload with writable arrays only.
    """
    if isinstance(value, np.ndarray):
        return value if value.flags.writeable else value.copy()
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = writable(item)
        return value
    if isinstance(value, list):
        return [writable(item) for item in value]
    return value
