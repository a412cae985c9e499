"""The ServerApp side inside syft-flwr: adapt ``SyftGrid`` and wrap it in ``SealedGrid``.

syft-flwr's ``SyftGrid.pull_messages`` returns ``(replies by id, completed ids)``
instead of the replies Flower's ``Grid`` API returns, and its messages never get a
Flower message id (a reply's ``reply_to_message_id`` is empty); sealpack's
``SealedGrid`` pulls hello answers through that API and matches them to its hellos
by that id. :class:`SyftGridAdapter` returns the replies only, each marked as the
reply to the id ``push_messages`` returned for its instruction (the syft-rpc future
id). Everything else is syft-flwr's own grid.

It also binds node ids to emails: a hello answer from node ``crc32(email)`` must name
that email as its sealer (the public ``sender`` hint with which ``SealedGrid`` picks
the pin to verify it); any other answer becomes an error reply, so the node is refused
instead of being bound to another datasite's identity. ``SealedGrid`` then accepts
that node's replies only from the identity pinned for its email.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import Any

from sealpack.integrations.syft_flwr import compat

__all__ = ["WRONG_SENDER_CODE", "SyftGridAdapter", "sealed_grid"]

_log = logging.getLogger(__name__)
INFO_RECORD = "sealpack-info"  # sealpack.integrations.flower.wire.INFO_RECORD (no flwr import)
WRONG_SENDER_CODE = 7302
"""Error code of a hello answer whose sealer is not the node's email."""


class SyftGridAdapter:
    """A ``SyftGrid`` seen through Flower's ``Grid`` API (``pull_messages`` returns replies)."""

    def __init__(self, grid: Any) -> None:
        """Wrap syft-flwr's grid (any other grid is used as it is).

        Args:
            grid: The grid syft-flwr hands the ServerApp.
        """
        self._grid = grid

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def pull_messages(self, message_ids: Iterable[str]) -> list[Any]:
        """Pull the replies available now for ``message_ids``.

        Returns:
            The reply Messages (syft-flwr's tuple unpacked).
        """
        pulled = self._grid.pull_messages(list(message_ids))
        if not (isinstance(pulled, tuple) and len(pulled) == 2 and isinstance(pulled[0], dict)):
            return list(pulled)
        replies = []
        for future_id, reply in pulled[0].items():
            if not reply.metadata.reply_to_message_id:
                reply.metadata.__dict__["_reply_to_message_id"] = str(future_id)
            replies.append(self._check_hello_sender(reply))
        return replies

    def _check_hello_sender(self, reply: Any) -> Any:
        """A hello answer naming another sealer than the node's email becomes an error."""
        if reply.has_error():
            return reply
        info = reply.content.get(INFO_RECORD)
        if info is None or info.get("kind") != "hello":
            return reply
        expected = getattr(self._grid, "client_map", {}).get(reply.metadata.src_node_id)
        if info.get("sender") == expected:
            return reply
        _log.warning("sealpack: hello answer for node %s names another sealer", expected)
        compat.install_flwr_shims()
        message = importlib.import_module("flwr.app.message")
        error = importlib.import_module("flwr.app").Error(
            code=WRONG_SENDER_CODE, reason="sealpack: hello answer names another datasite"
        )
        return message.make_message(reply.metadata, error=error)


def sealed_grid(grid: Any, context: Any, **options: Any) -> Any:
    """The grid a sealed ServerApp uses inside syft-flwr.

    Args:
        grid: The grid syft-flwr hands the ServerApp.
        context: The ServerApp's context (its run_config names the keys, as set by
            :func:`sealpack.integrations.syft_flwr.main`).
        options: Further ``SealedGrid`` options (``hello_timeout`` ...).

    Returns:
        A ``SealedGrid`` over the adapted syft-flwr grid.

    Raises:
        FlowerConfigError: The run_config does not name the key store or the pins.
    """
    from sealpack.integrations.flower import SealedGrid, keyconfig

    config = context.run_config
    where = "the ServerApp's run_config (set by sealpack.integrations.syft_flwr.main)"
    keystore = keyconfig.config_value(keyconfig.KEYSTORE, None, config)
    trusted = keyconfig.config_value(keyconfig.TRUSTED, None, config)
    store = keyconfig.open_keystore(
        keyconfig.require(keystore, keyconfig.KEYSTORE, where),
        keyconfig.config_value(keyconfig.PASSPHRASE_ENV, None, config),
        {},
    )
    pins = keyconfig.load_pins(keyconfig.require(trusted, keyconfig.TRUSTED, where))
    adapted: Any = SyftGridAdapter(grid)  # a Grid by duck typing (syft-flwr's own grid inside)
    return SealedGrid(adapted, keys=store, trusted=pins, **options)
