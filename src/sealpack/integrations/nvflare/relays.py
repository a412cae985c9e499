"""Peer mode: where a client-to-client relay stands in the chain of one job.

In a client-to-client workflow (Cyclic) each client opens the previous client's
sealed result and seals its own for the other clients. Every relay is bound to the
round of the task its sender answered and to a hop: the opened task's hop + 1 (a
task sealed by the server is hop 0). A receiver accepts a relay only in its task's
round or the one before (the last client of a round relays to the first of the
next) and only with a hop above every relay it sealed itself in the job, so a relay
held back by the server or the path cannot take a client back to a model older
than its own last contribution. A client with no relay of its own yet (joined
late, restarted) has only the round check.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from sealpack.integrations.nvflare.binding import Binding
from sealpack.integrations.nvflare.keys import SiteKeys
from sealpack.integrations.nvflare.sealing import seal_content
from sealpack.integrations.nvflare.wire import sealed_shareable

__all__ = ["relay_limits", "remember_hop", "seal_relay"]

_MAX_CHAIN = 64  # opened tasks remembered until their result is sealed


def relay_limits(keys: SiteKeys, job: str, current: int) -> dict[str, Any]:
    """What a relay opened in a task of round ``current`` must be bound to.

    Returns:
        ``open_blob`` arguments: the rounds accepted and the hop to exceed.
    """
    with keys.lock:
        last = keys.relayed.get(job, 0)
    return {"rounds": (current, current - 1), "newer_than": last}


def remember_hop(keys: SiteKeys, hold_as: str, current: int, hop: int, opened: Any) -> Any:
    """Remember the round and hop of a task opened under ``hold_as`` until its result.

    Returns:
        ``opened`` itself.
    """
    with keys.lock:
        keys.chain[hold_as] = (current, hop)
        while len(keys.chain) > _MAX_CHAIN:  # tasks whose result never came
            keys.chain.pop(next(iter(keys.chain)))
    return opened


def seal_relay(result: Any, keys: SiteKeys, binding: Binding, hold_as: str) -> Any:
    """Seal a client's result as a relay, bound to its round and hop.

    The round is that of the task it answers, the hop one above the opened task's
    (a task this process did not open: the result's round header, one above this
    site's last relay). The site then refuses relays at or below that hop.

    Args:
        result: the result Shareable (not modified).
        keys: the sending client's keys.
        binding: job, task, sender and recipients of the relay.
        hold_as: the key the task was opened under (its task id).

    Returns:
        The sealed Shareable.

    Raises:
        NvflareConfigError, SealpackError: from sealing.
    """
    from nvflare.app_common.app_constant import AppConstants

    with keys.lock:
        known = keys.chain.pop(hold_as, None)
        last = keys.relayed.get(binding.job, 0)
    if known is None:
        header = result.get_header(AppConstants.CURRENT_ROUND)
        plain = isinstance(header, int) and not isinstance(header, bool)
        known = (header if plain else -1, last)
    binding = replace(binding, round=known[0], hop=known[1] + 1)
    blob: np.ndarray = seal_content(result, keys, binding)
    with keys.lock:
        keys.relayed[binding.job] = max(keys.relayed.get(binding.job, 0), binding.hop)
    return sealed_shareable(result, blob)
