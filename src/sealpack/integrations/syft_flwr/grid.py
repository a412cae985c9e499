"""The ServerApp side inside syft-flwr: adapt ``SyftGrid`` and wrap it in ``SealedGrid``.

syft-flwr's ``SyftGrid.pull_messages`` returns ``(replies by future id, completed
ids)`` instead of the replies Flower's ``Grid`` API returns, and every metadata field
of a reply is whatever the datasite wrote into its response file. So
:class:`SyftGridAdapter` pushes each message on its own and remembers which node its
syft-rpc future was sent to; a pulled reply is then always marked as the reply to its
future id (``reply_to_message_id``) from that node (``src_node_id``), whatever its
file claims, and a reply to a future it did not push is dropped. ``send_and_receive``
polls through the same path (syft-flwr's own would bypass it). Everything else is
syft-flwr's own grid.

It also binds node ids to emails: a hello answer from node ``crc32(email)`` must name
that email as its sealer (the public ``sender`` hint with which ``SealedGrid`` picks
the pin to verify it); any other answer becomes an error reply, so the node is refused
instead of being bound to another datasite's identity. ``SealedGrid`` then accepts
that node's replies only from the identity pinned for its email.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from sealpack.integrations.syft_flwr import compat
from sealpack.integrations.syft_flwr.errors import SyftFlwrConfigError

__all__ = ["WRONG_SENDER_CODE", "SyftGridAdapter", "sealed_grid"]

_log = logging.getLogger(__name__)
INFO_RECORD = "sealpack-info"  # sealpack.integrations.flower.wire.INFO_RECORD (no flwr import)
WRONG_SENDER_CODE = 7302
"""Error code of a hello answer whose sealer is not the node's email."""
TIMEOUT_ENV = "SYFT_FLWR_MSG_TIMEOUT"  # syft-flwr's own settings, same defaults
POLL_INTERVAL_ENV = "SYFT_FLWR_POLL_INTERVAL"


class SyftGridAdapter:
    """A ``SyftGrid`` seen through Flower's ``Grid`` API, reply metadata set by the server."""

    def __init__(
        self,
        grid: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Wrap syft-flwr's grid (a grid whose pulls return replies works too).

        Args:
            grid: The grid syft-flwr hands the ServerApp.
            clock: Monotonic clock for ``send_and_receive`` (tests).
            sleep: How ``send_and_receive`` waits between pulls (tests).
        """
        self._grid = grid
        self._clock, self._sleep = clock, sleep
        self._destinations: dict[str, int] = {}  # future id -> node it was pushed to

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def push_messages(self, messages: Iterable[Any]) -> list[str]:
        """Push each message, remembering the node its future was sent to.

        Returns:
            One id per message, ``""`` for one that could not be sent (as Flower does).
        """
        ids = []
        for message in messages:
            node = int(message.metadata.dst_node_id)
            pushed = [str(i) for i in self._grid.push_messages([message]) if i]
            future = pushed[0] if pushed else ""
            if future:
                self._destinations[future] = node
            ids.append(future)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> list[Any]:
        """Pull the replies available now for ``message_ids``.

        Returns:
            The reply Messages, each marked as the reply to its future from its node.
        """
        return self._pull(message_ids)[0]

    def send_and_receive(
        self, messages: Iterable[Any], *, timeout: float | None = None
    ) -> list[Any]:
        """Push ``messages`` and pull their replies until all came or ``timeout`` passed.

        Args:
            messages: The instructions.
            timeout: Seconds to wait (None: ``SYFT_FLWR_MSG_TIMEOUT``, else 120, as
                syft-flwr); between pulls it waits ``SYFT_FLWR_POLL_INTERVAL`` (3 s).

        Returns:
            The replies that arrived.

        Raises:
            SyftFlwrConfigError: One of the two variables is not a number of seconds.
        """
        limit = timeout if timeout is not None else _env_seconds(TIMEOUT_ENV, 120.0)
        interval = _env_seconds(POLL_INTERVAL_ENV, 3.0)
        pending = {i for i in self.push_messages(messages) if i}
        deadline = self._clock() + limit
        replies: list[Any] = []
        while pending:
            batch, completed = self._pull(pending)
            replies.extend(batch)
            pending -= completed
            if not pending or self._clock() >= deadline:
                break
            self._sleep(interval)
        if pending:
            _log.warning("sealpack: %d repl(ies) not received within %s s", len(pending), limit)
        return replies

    def _pull(self, message_ids: Iterable[str]) -> tuple[list[Any], set[str]]:
        """Replies pulled now (metadata set from the futures) and the completed ids."""
        pulled = self._grid.pull_messages(list(message_ids))
        if isinstance(pulled, tuple) and len(pulled) == 2 and isinstance(pulled[0], dict):
            by_future = [(str(f), r) for f, r in pulled[0].items()]
            completed = {str(i) for i in pulled[1]} | {f for f, _ in by_future}
        else:  # a Flower grid: the reply names its instruction
            by_future = [(str(r.metadata.reply_to_message_id), r) for r in pulled]
            completed = {f for f, _ in by_future}
        replies = []
        for future, reply in by_future:
            node = self._destinations.get(future)
            if node is None:
                _log.warning("sealpack: dropped a reply to a message this grid did not push")
                continue
            reply.metadata.__dict__["_reply_to_message_id"] = future
            reply.metadata.__dict__["_src_node_id"] = node
            replies.append(self._check_hello_sender(reply))
        for future in completed:
            self._destinations.pop(future, None)
        return replies, completed

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


def _env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise SyftFlwrConfigError(f"{name} must be a number of seconds, not {value!r}")
    return seconds


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
