"""NVFLARE task filters that seal and open task data and task results.

=====================  =======  =============================  ======================
filter                 site     NVFLARE chain                  does
=====================  =======  =============================  ======================
SealTaskDataFilter     server   task data, out                 seal once per task for
                                                               every client
OpenTaskDataFilter     client   task data, in                  verify, check binding
SealTaskResultFilter   client   task result, out               seal for the server
                                                               (or the peers)
OpenTaskResultFilter   server   task result, in                verify, check binding
                                                               (or pass a relay on)
=====================  =======  =============================  ======================

Every filter takes the same key arguments (see :mod:`keys`) and ``peer_mode``: in a
client-to-client workflow (Cyclic) a client seals its result for the other clients
and the server relays the sealed bytes without opening them. A refused payload
raises :class:`RefusedPayloadError`, which NVFLARE turns into its filter-error code.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from nvflare.apis.filter import Filter
from nvflare.apis.fl_constant import FLContextKey, ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import ReservedHeaderKey, Shareable
from nvflare.app_common.app_constant import AppConstants

import sealpack
from sealpack.errors import SealpackError
from sealpack.integrations.nvflare.binding import Binding
from sealpack.integrations.nvflare.errors import NvflareConfigError, RefusedPayloadError
from sealpack.integrations.nvflare.keys import (
    DEFAULT_PASSPHRASE_ENV,
    KeyConfig,
    SiteKeys,
    site_keys,
)
from sealpack.integrations.nvflare.relays import relay_limits, remember_hop, seal_relay
from sealpack.integrations.nvflare.sealing import acknowledge_held, open_blob, seal_content
from sealpack.integrations.nvflare.wire import (
    OPENED,
    RELAYED,
    SEALED,
    content_identity,
    find_blob,
    mark,
    sealed_shareable,
)

__all__ = [
    "OpenTaskDataFilter",
    "OpenTaskResultFilter",
    "SealTaskDataFilter",
    "SealTaskResultFilter",
]

_BROADCAST_CACHE_SIZE = 2  # blobs kept: the current broadcast (a 100 MB model costs 100 MB)
_CacheEntry = tuple[np.ndarray, list[Any]]  # the blob, the content objects it was sealed from


class _SealpackFilter(Filter):  # type: ignore[misc]
    """Common arguments (they are written into the job config: no secrets)."""

    def __init__(
        self,
        keystore: str,
        bundles: str,
        unlock_env: str = DEFAULT_PASSPHRASE_ENV,
        server: str = "server",
        peer_mode: bool = False,
    ) -> None:
        super().__init__()
        self.keystore = keystore
        self.bundles = bundles
        self.unlock_env = unlock_env
        self.server = server
        self.peer_mode = peer_mode

    on_server = False

    def keys(self, fl_ctx: FLContext) -> SiteKeys:
        """This site's keys (opened once per process).

        The server's site name is the configured ``server`` (NVFLARE names its server
        process after the host, or ``simulator_server``); a client's is its NVFLARE name.
        """
        config = KeyConfig(self.keystore, self.bundles, self.unlock_env, self.server)
        site = self.server if self.on_server else str(fl_ctx.get_identity_name())
        return site_keys(config, site)

    def recipients(
        self, keys: SiteKeys, names: list[str], fl_ctx: FLContext, *, warn: bool = True
    ) -> tuple[str, ...]:
        """The sites of ``names`` that can be sealed to now (expired bundles left out).

        Raises:
            NvflareConfigError: every one of them has an expired bundle.
        """
        live, expired = keys.sealable(names)
        if expired and warn:
            self.log_warning(
                fl_ctx,
                f"sealpack: the key bundles of {expired} have expired: they are left out "
                "of what this site seals until their prekeys are rotated",
            )
        if not live:
            raise NvflareConfigError(f"every recipient's key bundle has expired: {expired}")
        return tuple(live)

    @staticmethod
    def task_facts(shareable: Shareable, fl_ctx: FLContext) -> tuple[str, str]:
        """The job id and the task name of the message being filtered."""
        task = fl_ctx.get_prop(FLContextKey.TASK_NAME) or shareable.get_header(
            ReservedHeaderKey.TASK_NAME
        )
        return str(fl_ctx.get_job_id()), str(task or "")


def _claimed_sender(blob: np.ndarray) -> str:
    """The sender a blob's (unverified) header names in its binding; "" when none."""
    try:
        bound = sealpack.inspect(memoryview(blob.data)).metadata.get("nvflare")
    except SealpackError as exc:
        raise RefusedPayloadError(f"sealed payload refused ({type(exc).__name__})") from exc
    sender = bound.get("from") if isinstance(bound, dict) else None
    return sender if isinstance(sender, str) else ""


def _round(shareable: Shareable) -> int:
    value = shareable.get_header(AppConstants.CURRENT_ROUND)
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


class SealTaskDataFilter(_SealpackFilter):
    """Server: seal outgoing task data once per task for every client with a bundle.

    The blob is reused for a task's next client only while the task's binding AND its
    content objects are the same (a broadcast's per-client copies); a task relayed with
    new data (Cyclic: the previous client's result) is sealed anew.
    """

    on_server = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cache: OrderedDict[tuple[str, tuple[int, ...]], _CacheEntry] = OrderedDict()
        self._cache_lock = threading.Lock()

    def process(self, shareable: Shareable, fl_ctx: FLContext) -> Shareable:
        """Return a new sealed Shareable (``shareable`` itself is never modified)."""
        if self.peer_mode and find_blob(shareable) is not None:
            return mark(shareable, RELAYED)  # a client's sealed result relayed as a task
        keys = self.keys(fl_ctx)
        job, task = self.task_facts(shareable, fl_ctx)
        ref = str(shareable.get_header(ReservedHeaderKey.MSG_ROOT_ID) or "")
        if not ref:
            ref = str(fl_ctx.get_prop(FLContextKey.TASK_ID) or "")
        clients = self.recipients(keys, keys.client_names(), fl_ctx, warn=False)
        binding = Binding(job, task, ref, "task", keys.site, clients, _round(shareable))
        ids, objects = content_identity(shareable)
        with self._cache_lock:
            key = (repr(binding), ids)
            entry = self._cache.get(key)
            if entry is None:
                self.recipients(keys, keys.client_names(), fl_ctx)  # warns of expired ones
                entry = (seal_content(shareable, keys, binding), objects)
                self._cache[key] = entry
                while len(self._cache) > _BROADCAST_CACHE_SIZE:
                    self._cache.popitem(last=False)
        return mark(sealed_shareable(shareable, entry[0]), SEALED)


class OpenTaskDataFilter(_SealpackFilter):
    """Client: verify incoming task data and hand NVFLARE the opened Shareable."""

    def process(self, shareable: Shareable, fl_ctx: FLContext) -> Shareable:
        """Return a new Shareable with the opened content.

        Raises:
            RefusedPayloadError: not sealed, tampered, replayed or bound elsewhere.
        """
        blob = find_blob(shareable)
        if blob is None:
            raise RefusedPayloadError("task data is not sealed by sealpack")
        keys = self.keys(fl_ctx)
        job, task = self.task_facts(shareable, fl_ctx)
        hold_as = str(fl_ctx.get_prop(FLContextKey.TASK_ID) or "") or "task"
        current = _round(shareable)
        if self.peer_mode and _claimed_sender(blob) != keys.server:
            peers = [name for name in keys.client_names() if name != keys.site]
            relay = Binding(job, task, "", "relay", "", (keys.site,))
            limits = relay_limits(keys, job, current)
            opened, bound = open_blob(
                shareable, blob, keys, expected=relay, senders=peers, hold_as=hold_as, **limits
            )
            return mark(remember_hop(keys, hold_as, current, bound.hop, opened), OPENED)
        ref = str(shareable.get_header(ReservedHeaderKey.MSG_ROOT_ID) or "")
        expected = Binding(job, task, ref, "task", keys.server, (keys.site,), current)
        opened, _ = open_blob(
            shareable, blob, keys, expected=expected, senders=[keys.server], hold_as=hold_as
        )
        if self.peer_mode:
            remember_hop(keys, hold_as, current, 0, opened)
        return mark(opened, OPENED)


class SealTaskResultFilter(_SealpackFilter):
    """Client: seal the outgoing result for the server (peer mode: for the other clients)."""

    def process(self, shareable: Shareable, fl_ctx: FLContext) -> Shareable:
        """Return a new sealed Shareable (``shareable`` itself is never modified)."""
        keys = self.keys(fl_ctx)
        job, task = self.task_facts(shareable, fl_ctx)
        task_id = str(fl_ctx.get_prop(FLContextKey.TASK_ID) or "")
        if self.peer_mode:
            peers = [name for name in keys.client_names() if name != keys.site]
            relay = Binding(job, task, "", "relay", keys.site, self.recipients(keys, peers, fl_ctx))
            sealed = seal_relay(shareable, keys, relay, task_id or "task")
        else:
            binding = Binding(job, task, task_id, "result", keys.site, (keys.server,))
            sealed = sealed_shareable(shareable, seal_content(shareable, keys, binding))
        # The task is processed: its held task data is acknowledged (a resent copy of
        # the same blob is a replay from now on).
        acknowledge_held(keys, task_id or "task")
        return mark(sealed, SEALED)


class OpenTaskResultFilter(_SealpackFilter):
    """Server: verify a client's result, check it is bound to this task and client."""

    on_server = True

    def process(self, shareable: Shareable, fl_ctx: FLContext) -> Shareable:
        """Return a new Shareable with the opened content (peer mode: the sealed relay).

        Raises:
            RefusedPayloadError: not sealed, tampered, replayed, foreign or bound elsewhere.
        """
        blob = find_blob(shareable)
        if blob is None:
            if shareable.get_return_code(ReturnCode.OK) != ReturnCode.OK:
                return shareable  # an error reply: no content to open (the guard wipes it)
            raise RefusedPayloadError("task result is not sealed by sealpack")
        if self.peer_mode:
            return mark(shareable, RELAYED)
        keys = self.keys(fl_ctx)
        job, task = self.task_facts(shareable, fl_ctx)
        peer_ctx = fl_ctx.get_peer_context()
        client = str(peer_ctx.get_identity_name()) if peer_ctx is not None else ""
        task_id = str(fl_ctx.get_prop(FLContextKey.TASK_ID) or "")
        expected = Binding(job, task, task_id, "result", client, (keys.site,))
        opened, _ = open_blob(shareable, blob, keys, expected=expected, senders=[client])
        if peer_ctx is not None and peer_ctx.get_prop(FLContextKey.SHAREABLE) is not None:
            # IntimeModelSelector reads the received Shareable from the peer context.
            peer_ctx.set_prop(FLContextKey.SHAREABLE, opened, private=True, sticky=True)
        return mark(opened, OPENED)
