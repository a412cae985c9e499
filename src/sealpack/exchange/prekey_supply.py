"""How many one-time prekeys a peer offers, and how many to add.

Anyone who can claim an offer (rename ``prekeys/<id>.json`` into ``claimed/``) can also
plant entries in the offer folder, and can claim without ever sending. So the count
that decides replenishing takes only offers of prekeys the identity holds (regular
files, in the directory transport), and the number added is capped by the bundle's
maximum instead of failing (SECURITY.md, the exchange review rows).
"""

from __future__ import annotations

import logging

from sealpack.exchange.transport import Transport
from sealpack.keys import Identity
from sealpack.keys.bundle import MAX_ONE_TIME_PREKEYS

__all__ = ["lowest_held_prekey_id", "offered_prekeys", "prekeys_to_add"]

_log = logging.getLogger("sealpack.exchange")


def offered_prekeys(transport: Transport, identity: Identity, enough: int) -> int:
    """How many of ``identity``'s one-time prekeys its transport offers (up to ``enough``).

    Entries of the offer folder that are not prekeys the identity holds (junk planted
    by anyone who can claim an offer) are not counted.

    Args:
        transport: where the identity publishes.
        identity: the owner.
        enough: counting stops here.

    Returns:
        The number of offered prekeys, at most ``enough`` (or the number of entries of
        any kind when that is already below ``enough``).
    """
    entries = transport.available_one_time_prekeys(identity.name)
    if entries < enough:
        return entries
    offered = 0
    for prekey_id in identity.one_time_prekey_ids():
        offered += transport.offers_one_time_prekey(identity.name, prekey_id)
        if offered >= enough:
            break
    return offered


def lowest_held_prekey_id(identity: Identity) -> int | None:
    """The claim book's compaction bound: the lowest one-time prekey id still unused or
    held apart (consumed by a blob opened with ``hold=True`` and not yet acknowledged,
    whose redelivery checks its claim again), or None when there is none.

    Args:
        identity: the owner.

    Returns:
        The lowest such id, or None.
    """
    held = identity.held_one_time_prekey_ids()
    return min([*identity.one_time_prekey_ids(), *held], default=None)


def prekeys_to_add(transport: Transport, identity: Identity, low_water: int, batch: int) -> int:
    """How many one-time prekeys to add now: ``batch`` when fewer than ``low_water`` of
    the identity's own are offered, cut to what still fits under MAX_ONE_TIME_PREKEYS.

    A peer that claims offers and never sends keeps prekeys held (claimed, unused);
    at the maximum, adding more would fail on every run and stop the rest of the
    maintenance (the signed prekey's rotation), so nothing is added and a warning is
    logged: senders then seal without a one-time prekey (SECURITY.md).

    Args:
        transport: where the identity publishes.
        identity: the owner.
        low_water: replenish below this many offers.
        batch: how many to add then.

    Returns:
        The number to add, possibly 0.
    """
    if offered_prekeys(transport, identity, low_water) >= low_water:
        return 0
    room = MAX_ONE_TIME_PREKEYS - len(identity.one_time_prekey_ids())
    if room < batch:
        _log.warning(
            "sealpack: %s holds %d one-time prekeys (claimed, never used); adding %d",
            identity.name,
            MAX_ONE_TIME_PREKEYS - room,
            max(room, 0),
        )
    return max(0, min(batch, room))
