"""End-to-end sealing of Flower (``flwr``) messages between ServerApp and ClientApps.

Server side: wrap the Grid the ServerApp receives in :class:`SealedGrid`.
Client side: put :data:`client_mod` (or a configured :class:`SealpackClientMod`)
in the ClientApp's ``mods`` and register the key handshake, most simply with
:func:`sealed_client_app`. See docs/integrations/flower.md.

Flower is an optional extra (``pip install 'sealpack[flower]'``); it is imported
only when one of the names below is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealpack.integrations.flower.errors import (
    BroadcastBodyError,
    FlowerConfigError,
    FlowerIntegrationError,
    FlowerNotInstalledError,
    RefusedMessageError,
    StaleInstructionError,
)
from sealpack.integrations.lazy import lazy_attributes

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
    "BroadcastBodyError",
    "FlowerConfigError",
    "FlowerIntegrationError",
    "FlowerNotInstalledError",
    "RefusedMessageError",
    "SealEvent",
    "SealedGrid",
    "SealpackClientMod",
    "StaleInstructionError",
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


__getattr__ = lazy_attributes(__name__, _LAZY, engine="flwr", missing=FlowerNotInstalledError)
