"""Which of a peer's one-time prekeys this sender has already used.

Sealing to a bundle uses its first one-time prekey (lowest id first, in the bundle's
order) that this sender has not used for that recipient before, else none (signed
prekey only). The record belongs to the *sender*: an :class:`~sealpack.keys.Identity`
keeps it in memory, a :class:`~sealpack.keys.KeyStore` in its SQLite database, so two
processes sealing with the same key store never pick the same one-time prekey.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["MemoryPrekeyUsage", "PrekeyUsage", "first_unused"]


@runtime_checkable
class PrekeyUsage(Protocol):
    """A sender's record of the one-time prekeys it used, per recipient identity key."""

    def take(
        self, recipient_identity_key: bytes, candidate_ids: Sequence[int], *, pq: bool = False
    ) -> int | None:
        """Return the first id of ``candidate_ids`` not used before, marked used
        (durably, for a key store) before returning; None when every one was used.
        ``pq=True`` draws from the recipient's PQ one-time prekeys (ids counted apart).
        """


def first_unused(candidate_ids: Sequence[int], used: set[int]) -> int | None:
    """The first of ``candidate_ids`` that is not in ``used`` (None if there is none)."""
    return next((prekey_id for prekey_id in candidate_ids if prekey_id not in used), None)


class MemoryPrekeyUsage:
    """An in-memory PrekeyUsage (lost when the process ends; a KeyStore keeps it on disk)."""

    def __init__(self) -> None:
        self._used: dict[tuple[bytes, bool], set[int]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryPrekeyUsage(recipients={len(self._used)})"

    def take(
        self, recipient_identity_key: bytes, candidate_ids: Sequence[int], *, pq: bool = False
    ) -> int | None:
        """Return the first unused id of ``candidate_ids`` and mark it used, or None."""
        with self._lock:
            used = self._used.setdefault((bytes(recipient_identity_key), pq), set())
            chosen = first_unused(candidate_ids, used)
            if chosen is not None:
                used.add(chosen)
            return chosen
