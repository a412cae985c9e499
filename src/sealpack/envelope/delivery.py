"""What opening records, once, after everything verified; redelivery and acknowledgement.

Opening looks the message up first (records nothing): a ``done`` row, or a ``held``
row with another payload digest, is a replay; a ``held`` row with the same digest is a
redelivery (the application never acknowledged it). After every chunk authenticated,
one durable commit records the message id, its payload digest and the one-time
prekeys (classical and PQ) the stanza used: as ``held`` (``hold=True``: the prekeys
stay until :func:`acknowledge`) or ``done`` (the prekeys go at once). A crash before
the commit leaves the blob openable again (issue 17, docs/spec/envelope.md section 9).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sealpack import errors
from sealpack.keys import Identity
from sealpack.keys.replay import HELD

__all__ = ["Receipt", "UsedPrekeys", "acknowledge", "commit", "is_held", "prior_delivery"]


@dataclass(frozen=True)
class UsedPrekeys:
    """The one-time prekeys a stanza used (to be consumed by the commit)."""

    one_time: int | None = None
    pq_one_time: int | None = None


@dataclass(frozen=True)
class Receipt:
    """Proof of a held delivery, passed back to :func:`acknowledge` by the application."""

    recipient_key_id: bytes
    sender_key_id: bytes
    message_id: bytes
    payload_digest: bytes


def _replay() -> errors.ReplayError:
    return errors.ReplayError("message was already accepted (replay)")


def prior_delivery(
    recipient: Identity, sender_key_id: bytes, message_id: bytes, digest: bytes
) -> bool:
    """Look the message up in the recipient's replay store (records nothing).

    Returns:
        True for a redelivery (held, same payload digest), False for a new message.

    Raises:
        ReplayError: a ``done`` row, or a ``held`` row with another payload digest.
    """
    row = recipient.replay_guard.lookup(sender_key_id, message_id)
    if row is None:
        return False
    state, recorded = row
    if state == HELD and hmac.compare_digest(bytes(recorded), digest):
        return True
    raise _replay()


def is_held(recipient: Identity, sender_key_id: bytes, message_id: bytes, digest: bytes) -> bool:
    """Tell whether exactly this payload was opened and held, not yet acknowledged.

    Such a message was accepted inside its validity window; handing it out again
    after that window (a receiver that came back late) is a redelivery, not a replay.

    Returns:
        True for a ``held`` row with the same payload digest (records nothing).
    """
    row = recipient.replay_guard.lookup(sender_key_id, message_id)
    return row is not None and row[0] == HELD and hmac.compare_digest(bytes(row[1]), digest)


def commit(
    recipient: Identity,
    receipt: Receipt,
    expires_at: int,
    used: UsedPrekeys,
    *,
    hold: bool,
    redelivered: bool,
    now: int,
) -> None:
    """Record the opened message (and consume its prekeys) in one durable step.

    A redelivery of a held message commits nothing new when ``hold`` is set again;
    without ``hold`` it is acknowledged (turned ``done``, prekeys deleted).

    Raises:
        ReplayError: a concurrent open of the same message committed first.
        KeyStoreError: the store could not record it (nothing was delivered).
    """
    if redelivered:
        if not hold:
            acknowledge(recipient, receipt)
        return
    recipient._commit_open(
        receipt.sender_key_id,
        receipt.message_id,
        receipt.payload_digest,
        expires_at,
        one_time_prekey_id=used.one_time,
        pq_one_time_prekey_id=used.pq_one_time,
        hold=hold,
        now=now,
    )


def acknowledge(recipient: Identity, receipt: Receipt) -> None:
    """Turn a held delivery ``done`` and delete the one-time prekeys it used.

    Acknowledging twice is harmless (the row is already ``done``).

    Raises:
        SealArgumentError: the receipt belongs to another recipient.
        ReplayError: the row holds another payload digest than the receipt's.
        KeyStoreError: no opened message with this sender and id is recorded.
    """
    if not hmac.compare_digest(receipt.recipient_key_id, recipient.key_id):
        raise errors.SealArgumentError("this receipt belongs to another recipient")
    row = recipient.replay_guard.lookup(receipt.sender_key_id, receipt.message_id)
    if row is not None and not hmac.compare_digest(bytes(row[1]), receipt.payload_digest):
        raise _replay()
    recipient._acknowledge(receipt.sender_key_id, receipt.message_id)
