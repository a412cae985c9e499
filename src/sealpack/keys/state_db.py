"""The key store's SQLite database (version 2): consumed one-time prekeys, replay memory,
pins, and the peers' one-time prekeys this identity used when sealing.

Every row is authenticated (sealpack.keys.state_mac); a row that fails its tag, or a
table whose row count or tag set changed outside sealpack, raises KeyStoreError. Every
write is one ``BEGIN IMMEDIATE`` transaction committed with ``synchronous=FULL`` before
the call returns, so it is durable and all-or-nothing across crashes and processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sealpack import errors
from sealpack.keys.prekey_usage import first_unused
from sealpack.keys.replay import DONE, HELD, RETENTION_SLACK, Lookup
from sealpack.keys.state_mac import Value
from sealpack.keys.state_rows import AuthenticatedDB, Db

__all__ = ["OPK", "PQ_OPK", "StateDB"]

OPK = 0
PQ_OPK = 1


class StateDB(AuthenticatedDB):
    """The key store's state: a ReplayGuard, PinBackend and PrekeyUsage over state.db."""

    # --- one-time prekeys -----------------------------------------------------------

    def consumed(self, kind: int = OPK) -> set[int]:
        """Return the ids of every one-time prekey of ``kind`` ever consumed."""
        rows = self._run(lambda db: self._select(db, "consumed_prekeys", "kind = ?", (kind,)))
        return {int(row[1]) for row in rows}

    def consumed_one_time_prekeys(self) -> set[int]:
        """Return the ids of every X25519 one-time prekey ever consumed (version-1 name)."""
        return self.consumed(OPK)

    def held(self) -> tuple[set[int], set[int]]:
        """The one-time prekeys (X25519, PQ) of messages opened and not yet acknowledged."""
        rows = self._run(lambda db: self._select(db, "replay", "state = ?", (HELD,)))
        return {int(r[5]) for r in rows if r[5] is not None}, {
            int(r[6]) for r in rows if r[6] is not None
        }

    def mark_consumed(self, prekey_id: int, kind: int = OPK) -> None:
        """Record a consumed one-time prekey; PrekeyError if it was already consumed."""
        self._run(lambda db: self._consume(db, kind, prekey_id))

    def _consume(self, db: Db, kind: int, prekey_id: int) -> None:
        if self._select(db, "consumed_prekeys", "kind = ? AND id = ?", (kind, prekey_id)):
            raise errors.PrekeyError(f"one-time prekey {prekey_id} was already used")
        self._insert(db, "consumed_prekeys", (kind, prekey_id))

    # --- PrekeyUsage (peers' one-time prekeys used when sealing) -----------------------

    def take(
        self, recipient_identity_key: bytes, candidate_ids: Sequence[int], *, pq: bool = False
    ) -> int | None:
        """Return the first of ``candidate_ids`` not used for this recipient, marked used.

        The look-up and the insert run in one ``BEGIN IMMEDIATE`` transaction, so two
        processes sharing the store never take the same id; the mark is committed
        (``synchronous=FULL``) before the id is returned. ``pq`` selects the PQ
        one-time prekeys (their ids are counted apart from the X25519 ones).
        """
        recipient, kind = bytes(recipient_identity_key), PQ_OPK if pq else OPK

        def work(db: Db) -> int | None:
            rows = self._select(
                db, "used_peer_prekeys", "recipient = ? AND kind = ?", (recipient, kind)
            )
            chosen = first_unused(candidate_ids, {int(row[2]) for row in rows})
            if chosen is not None:
                self._insert(db, "used_peer_prekeys", (recipient, kind, chosen))
            return chosen

        return self._run(work)

    # --- ReplayGuard ------------------------------------------------------------------

    def lookup(self, sender_key_id: bytes, message_id: bytes) -> Lookup:
        """None, or (state, digest) of this sender's message id (records nothing)."""
        key = (bytes(sender_key_id), bytes(message_id))
        rows = self._run(
            lambda db: self._select(db, "replay", "sender = ? AND message_id = ?", key)
        )
        return None if not rows else (str(rows[0][4]), bytes(rows[0][3]))

    def seen(self, sender_key_id: bytes, message_id: bytes) -> bool:
        """Return True if this sender's message id was recorded before (records nothing)."""
        return self.lookup(sender_key_id, message_id) is not None

    def accept(self, sender_key_id: bytes, message_id: bytes, expires_at: int, *, now: int) -> None:
        """Record a message id as ``done`` with no digest; ReplayError if it was seen."""
        self.commit_open(sender_key_id, message_id, b"", expires_at, hold=False, now=now)

    def commit_open(
        self,
        sender_key_id: bytes,
        message_id: bytes,
        digest: bytes,
        expires_at: int,
        *,
        one_time_prekey_id: int | None = None,
        pq_one_time_prekey_id: int | None = None,
        hold: bool,
        now: int,
    ) -> None:
        """Record the message (state ``held`` or ``done``) and consume its one-time prekeys.

        One transaction: either the replay row and every consumption are durable, or
        nothing is. Expired ``done`` rows are purged in the same transaction.

        Raises:
            ReplayError: this sender's message id is already recorded.
            PrekeyError: a one-time prekey was already consumed.
        """
        fields: tuple[Value, ...] = (
            bytes(sender_key_id),
            bytes(message_id),
            expires_at,
            bytes(digest),
            HELD if hold else DONE,
            one_time_prekey_id,
            pq_one_time_prekey_id,
        )

        def work(db: Db) -> None:
            self._purge(db, now)
            if self._select(db, "replay", "sender = ? AND message_id = ?", fields[:2]):
                raise errors.ReplayError("message was already accepted (replay)")
            self._insert(db, "replay", fields)
            if one_time_prekey_id is not None:
                self._consume(db, OPK, one_time_prekey_id)
            if pq_one_time_prekey_id is not None:
                self._consume(db, PQ_OPK, pq_one_time_prekey_id)

        self._run(work)

    def acknowledge(self, sender_key_id: bytes, message_id: bytes) -> tuple[int | None, int | None]:
        """Turn a ``held`` row ``done``; return its one-time prekey ids (X25519, PQ).

        Acknowledging a ``done`` row again returns (None, None).

        Raises:
            KeyStoreError: no opened message with this sender and id is recorded.
        """
        key = (bytes(sender_key_id), bytes(message_id))

        def work(db: Db) -> tuple[int | None, int | None]:
            rows = self._select(db, "replay", "sender = ? AND message_id = ?", key)
            if not rows:
                raise errors.KeyStoreError(
                    "no opened message with this sender and id to acknowledge"
                )
            row = rows[0]
            if row[4] == DONE:
                return None, None
            done = (*row[:4], DONE, *row[5:])
            old, new = self._mac.tag("replay", row), self._mac.tag("replay", done)
            db.execute(
                "UPDATE replay SET state = ?, tag = ? WHERE sender = ? AND message_id = ?",
                (DONE, new, *key),
            )
            self._mac.replaced(db, "replay", old, new)
            return _opt_int(row[5]), _opt_int(row[6])

        return self._run(work)

    def _purge(self, db: Db, now: int) -> None:
        cutoff = now - RETENTION_SLACK
        old = self._select(db, "replay", "state = ? AND expires_at < ?", (DONE, cutoff))
        if old:
            db.execute("DELETE FROM replay WHERE state = ? AND expires_at < ?", (DONE, cutoff))
            self._mac.removed(db, "replay", [self._mac.tag("replay", row) for row in old])

    # --- PinBackend ---------------------------------------------------------------------

    def get_pin(self, name: str) -> bytes | None:
        """Return the pinned identity key of ``name``, or None."""
        rows = self._run(lambda db: self._select(db, "trust_pins", "name = ?", (name,)))
        return None if not rows else bytes(rows[0][1])

    def set_pin(self, name: str, identity_key: bytes) -> None:
        """Pin ``name`` to ``identity_key``, durably (replacing any pin of ``name``)."""

        self._run(lambda db: self._replace_pin(db, name, bytes(identity_key)))

    def _replace_pin(self, db: Db, name: str, key: bytes) -> None:
        old = self._select(db, "trust_pins", "name = ?", (name,))
        if old:
            db.execute("DELETE FROM trust_pins WHERE name = ?", (name,))
            self._mac.removed(db, "trust_pins", [self._mac.tag("trust_pins", old[0])])
        self._insert(db, "trust_pins", (name, key))

    def _other_names(self, db: Db, name: str, key: bytes) -> list[str]:
        """The names other than ``name`` that ``key`` is pinned under, sorted."""
        rows = self._select(db, "trust_pins", "identity_key = ?", (key,))
        return sorted(str(row[0]) for row in rows if row[0] != name)

    def replace_pin(self, name: str, identity_key: bytes) -> list[str]:
        """Pin ``name`` to ``identity_key`` (replacing its pin) unless the key is pinned
        under another name; the look-up and the change run in one transaction.

        Returns:
            The other names ``identity_key`` is pinned under; nothing changed if any.
        """
        key = bytes(identity_key)

        def work(db: Db) -> list[str]:
            others = self._other_names(db, name, key)
            if not others:
                self._replace_pin(db, name, key)
            return others

        return self._run(work)

    def pin_if_absent(self, name: str, identity_key: bytes) -> tuple[bytes | None, list[str]]:
        """Pin ``name`` to ``identity_key`` unless ``name`` or the key is pinned already.

        The look-up of the name, of the other names of the key and the insert run in one
        ``BEGIN IMMEDIATE`` transaction, so two handles (processes) pinning one name, or
        one key under two names, at once never replace or duplicate a pin.

        Returns:
            (the key ``name`` was already pinned to, or None; the other names
            ``identity_key`` is pinned under). A pin was made when both are empty.
        """
        key = bytes(identity_key)

        def work(db: Db) -> tuple[bytes | None, list[str]]:
            rows = self._select(db, "trust_pins", "name = ?", (name,))
            if rows:
                return bytes(rows[0][1]), []
            others = self._other_names(db, name, key)
            if not others:
                self._insert(db, "trust_pins", (name, key))
            return None, others

        return self._run(work)

    def pinned_names(self) -> list[str]:
        """Return every pinned name, sorted."""
        rows = self._run(lambda db: self._select(db, "trust_pins", "1", ()))
        return sorted(str(row[0]) for row in rows)

    def names_for_key(self, identity_key: bytes) -> list[str]:
        """Return every name pinned to ``identity_key``, sorted (issue 10.1: at most one)."""
        key = bytes(identity_key)
        rows = self._run(lambda db: self._select(db, "trust_pins", "identity_key = ?", (key,)))
        return sorted(str(row[0]) for row in rows)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
