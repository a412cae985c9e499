"""The commit of an opened message and its acknowledgement (issue 17), for an Identity.

The envelope opener derives keys without consuming anything (``x3dh.respond(...,
consume=False)``), authenticates every chunk, and only then calls
``Identity._commit_open``: the replay record (with the payload digest, state ``held`` or
``done``) and the consumption of the one-time prekeys the message used happen together,
durably in one SQLite transaction for a KeyStore, under the identity's lock in memory.
With ``hold=True`` the consumed one-time prekeys' private keys are kept apart (never in a
bundle again) until ``Identity._acknowledge``, so a redelivery of the same blob after a
crash still opens; the record then turns ``done`` and the private keys are deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealpack import errors
from sealpack.keys.prekeys import OneTimePrekey, PQOneTimePrekey
from sealpack.keys.replay import MemoryReplayGuard

if TYPE_CHECKING:
    from sealpack.keys.identity_core import IdentityCore

__all__ = [
    "OPK",
    "PQ_OPK",
    "HeldPrekeys",
    "acknowledge",
    "check_available",
    "commit_open",
    "drop_in_memory",
]

OPK = 0
PQ_OPK = 1
HeldPrekeys = dict[tuple[int, int], OneTimePrekey | PQOneTimePrekey]
"""(kind, id) -> a consumed one-time prekey kept until its message is acknowledged."""


def check_available(identity: IdentityCore, opk: int | None, pq_opk: int | None) -> None:
    """Raise PrekeyError unless both one-time prekeys (each may be None) are unused."""
    state = identity._state
    if opk is not None and opk not in state.one_time_prekeys:
        raise errors.PrekeyError(f"one-time prekey {opk} is unknown or already used")
    if pq_opk is not None and pq_opk not in state.pq_one_time_prekeys:
        raise errors.PrekeyError(f"PQ one-time prekey {pq_opk} is unknown or already used")


def _guard(identity: IdentityCore) -> MemoryReplayGuard:
    guard = identity.replay_guard
    if not isinstance(guard, MemoryReplayGuard):
        raise errors.SealArgumentError(
            "an Identity outside a KeyStore needs its MemoryReplayGuard to commit an opening"
        )
    return guard


def commit_open(
    identity: IdentityCore,
    record: tuple[bytes, bytes, bytes, int],
    opk: int | None,
    pq_opk: int | None,
    *,
    hold: bool,
    now: int,
) -> None:
    """Record ``(sender key id, message id, digest, expires_at)`` and consume the prekeys.

    Raises:
        ReplayError: the message id of this sender is already recorded.
        PrekeyError: a one-time prekey is unknown or already used (nothing recorded).
    """
    sender, message_id, digest, expires_at = record
    with identity._lock:
        persistence = identity._persistence
        if persistence is not None:
            persistence.commit_open(
                sender,
                message_id,
                digest,
                expires_at,
                one_time_prekey_id=opk,
                pq_one_time_prekey_id=pq_opk,
                hold=hold,
                now=now,
            )
            return
        check_available(identity, opk, pq_opk)
        _guard(identity).commit_open(sender, message_id, digest, expires_at, hold=hold, now=now)
        _consume_in_memory(identity, (sender, message_id), opk, pq_opk, hold=hold)


def _consume_in_memory(
    identity: IdentityCore,
    message: tuple[bytes, bytes],
    opk: int | None,
    pq_opk: int | None,
    *,
    hold: bool,
) -> None:
    """Delete the one-time prekeys of an identity outside a KeyStore (or hold them)."""
    state = identity._state
    if opk is not None:
        key = state.one_time_prekeys.pop(opk)
        if hold:
            identity._held[(OPK, opk)] = key
    if pq_opk is not None:
        pq_key = state.pq_one_time_prekeys.pop(pq_opk)
        if hold:
            identity._held[(PQ_OPK, pq_opk)] = pq_key
    if opk is not None or pq_opk is not None:
        identity._bundle = None  # it listed a consumed prekey (else keep it: issue 18)
    if hold:
        sender, message_id = message
        identity._held_by[(bytes(sender), bytes(message_id))] = (opk, pq_opk)


def acknowledge(identity: IdentityCore, sender: bytes, message_id: bytes) -> None:
    """Turn a held record done and delete its one-time prekeys' private keys.

    Raises:
        KeyStoreError: no opened message with this sender and id is recorded.
    """
    with identity._lock:
        persistence = identity._persistence
        if persistence is not None:
            persistence.acknowledge(sender, message_id)
            return
        _guard(identity).acknowledge(sender, message_id)
        opk, pq_opk = identity._held_by.pop((bytes(sender), bytes(message_id)), (None, None))
        if opk is not None:
            identity._held.pop((OPK, opk), None)
        if pq_opk is not None:
            identity._held.pop((PQ_OPK, pq_opk), None)


def drop_in_memory(
    identity: IdentityCore, opk: int | None, pq_opk: int | None, *, hold: bool
) -> None:
    """Apply a consumption state.db committed to memory only (its key file rewrite failed).

    The one-time prekeys leave the identity's tables (into the held ones when ``hold``);
    without ``hold`` (a done commit, an acknowledgement) their held copies go too.
    """
    with identity._lock:
        state = identity._state
        if opk is not None:
            _drop(identity, (OPK, opk), state.one_time_prekeys.pop(opk, None), hold)
        if pq_opk is not None:
            _drop(identity, (PQ_OPK, pq_opk), state.pq_one_time_prekeys.pop(pq_opk, None), hold)
        identity._bundle = None


def _drop(
    identity: IdentityCore,
    slot: tuple[int, int],
    key: OneTimePrekey | PQOneTimePrekey | None,
    hold: bool,
) -> None:
    if not hold:
        identity._held.pop(slot, None)
    elif key is not None:
        identity._held[slot] = key
