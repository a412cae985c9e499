"""End-to-end sealing of Flower (``flwr``) messages between ServerApp and ClientApps.

Server side: wrap the Grid the ServerApp receives in :class:`SealedGrid`.
Client side: put :data:`client_mod` (or a configured :class:`SealpackClientMod`)
in the ClientApp's ``mods`` and register the key handshake, most simply with
:func:`sealed_client_app`. See docs/integrations/flower.md.

Flower is an optional extra (``pip install 'sealpack[flower]'``); it is imported
only when one of the names below is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sealpack.integrations.flower.errors import (
    FlowerConfigError,
    FlowerIntegrationError,
    FlowerNotInstalledError,
    RefusedMessageError,
)

if TYPE_CHECKING:
    from sealpack.integrations.flower.client import (
        HELLO_MESSAGE_TYPE,
        SealpackClientMod,
        client_mod,
        sealed_client_app,
    )
    from sealpack.integrations.flower.events import SealEvent
    from sealpack.integrations.flower.records import plain_to_recorddict, recorddict_to_plain
    from sealpack.integrations.flower.server import REFUSED_ERROR_CODE, SealedGrid

__all__ = [
    "HELLO_MESSAGE_TYPE",
    "REFUSED_ERROR_CODE",
    "FlowerConfigError",
    "FlowerIntegrationError",
    "FlowerNotInstalledError",
    "RefusedMessageError",
    "SealEvent",
    "SealedGrid",
    "SealpackClientMod",
    "client_mod",
    "plain_to_recorddict",
    "recorddict_to_plain",
    "sealed_client_app",
]

_LAZY = {
    "HELLO_MESSAGE_TYPE": "client",
    "SealpackClientMod": "client",
    "client_mod": "client",
    "sealed_client_app": "client",
    "plain_to_recorddict": "records",
    "recorddict_to_plain": "records",
    "REFUSED_ERROR_CODE": "server",
    "SealedGrid": "server",
    "SealEvent": "events",
}


def __getattr__(name: str) -> Any:
    """Import the flwr-dependent parts on first use, with a clear error if flwr is absent."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        importlib.import_module("flwr")
    except ImportError as exc:
        raise FlowerNotInstalledError() from exc
    module = importlib.import_module(f"{__name__}.{module_name}")
    value = getattr(module, name)
    globals()[name] = value
    return value
