"""Message keys of skipped messages, bounded (docs/spec/session.md section 5).

A message that arrives after later ones in its chain is opened with a key kept when the
later one arrived. Kept keys are bounded three ways: one message may skip at most
``max_skip`` keys (``LimitExceededError``), at most ``max_stored`` keys are kept (the oldest
is deleted first), and a key older than ``max_age`` seconds is deleted. For every
receiving chain the store remembers below which message number keys were deleted
(``floor``) and where the chain ended, so a message whose key is gone is refused with a
clear error (``ExpiredError`` when it is older than the limits, ``ReplayError`` when it was
received already), never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from sealpack import errors
from sealpack.keys.secret import RefusesExport

__all__ = ["DEFAULT_LIMITS", "ChainRecord", "SessionLimits", "SkippedKeys"]


@dataclass(frozen=True)
class SessionLimits:
    """Receiver-side bounds on skipped message keys.

    ``max_skip``: keys one message may skip (per chain); ``max_stored``: keys kept in all;
    ``max_age``: seconds a kept key lives; ``max_chains``: retired receiving chains
    remembered (to name a late message "too old" instead of "tampered"); ``max_held``:
    messages opened with ``hold=True`` and not yet acknowledged.
    """

    max_skip: int = 1000
    max_stored: int = 2000
    max_age: int = 30 * 86400
    max_chains: int = 256
    max_held: int = 1000


DEFAULT_LIMITS = SessionLimits()


ChainRecord = tuple[int, int | None]
"""What is known of one receiving chain: ``(floor, end)``. Keys below ``floor`` were
deleted; ``end`` is its length once retired (None while it is the current chain)."""


class SkippedKeys(RefusesExport):
    """Kept message keys by (ratchet key, number), oldest first, with chain records.

    Copies share their dictionaries until one of them changes (copy on write), so the
    ratchet's copy-then-commit costs nothing for the common message that changes none.
    """

    __slots__ = ("_owned", "chains", "held", "keys")

    def __init__(
        self,
        keys: dict[tuple[bytes, int], tuple[bytes, int]] | None = None,
        chains: dict[bytes, ChainRecord] | None = None,
        held: dict[tuple[bytes, int], bytes] | None = None,
    ) -> None:
        self.keys = {} if keys is None else keys
        self.chains = {} if chains is None else chains
        self.held = {} if held is None else held
        self._owned = True

    def __repr__(self) -> str:
        return (
            f"SkippedKeys(<{len(self.keys)} keys hidden>, chains={len(self.chains)}, "
            f"held={len(self.held)})"
        )

    def copy(self) -> SkippedKeys:
        """A copy whose changes do not reach this object (dictionaries shared until then)."""
        other = SkippedKeys(self.keys, self.chains, self.held)
        other._owned = self._owned = False
        return other

    def _own(self) -> None:
        if not self._owned:  # dict.copy() clones the table; dict(d) re-inserts every item
            self.keys, self.chains = self.keys.copy(), self.chains.copy()
            self.held, self._owned = self.held.copy(), True

    def hold(self, ratchet_key: bytes, number: int, key: bytes, limits: SessionLimits) -> None:
        """Keep the key of a message opened with ``hold=True`` until it is released.

        Raises:
            LimitExceededError: ``limits.max_held`` messages wait for acknowledgement.
        """
        if len(self.held) >= limits.max_held:
            raise errors.LimitExceededError(
                f"{len(self.held)} session messages are held without acknowledgement "
                f"(max_held={limits.max_held}); acknowledge them first"
            )
        self._own()
        self.held[(ratchet_key, number)] = key

    def release(self, ratchet_key: bytes, number: int) -> bool:
        """Delete a held key (acknowledged); False when it was not held."""
        if (ratchet_key, number) not in self.held:
            return False
        self._own()
        del self.held[(ratchet_key, number)]
        return True

    def set_aside(self, ratchet_key: bytes, number: int, now: int, limits: SessionLimits) -> bool:
        """Move a held key among the skipped ones (bounded by ``max_stored`` and
        ``max_age``, oldest deleted first) so that it no longer counts towards
        ``max_held``; False when it was not held."""
        key = self.held.get((ratchet_key, number))
        if key is None:
            return False
        self._own()
        del self.held[(ratchet_key, number)]
        self.add(ratchet_key, number, key, now, limits)
        return True

    def take(self, ratchet_key: bytes, number: int) -> bytes | None:
        """Remove and return the key of message ``number`` of a chain, if kept."""
        if (ratchet_key, number) not in self.keys:
            return None
        self._own()
        return self.keys.pop((ratchet_key, number))[0]

    def add(
        self, ratchet_key: bytes, number: int, key: bytes, now: int, limits: SessionLimits
    ) -> None:
        """Keep a skipped key; delete the oldest beyond ``limits.max_stored``."""
        self._own()
        self.chains.setdefault(ratchet_key, (0, None))
        self.keys[(ratchet_key, number)] = (key, now)
        while len(self.keys) > limits.max_stored:
            self._drop(next(iter(self.keys)))

    def expire(self, now: int, limits: SessionLimits) -> None:
        """Delete keys kept longer than ``limits.max_age`` seconds (oldest first)."""
        while self.keys:
            oldest = next(iter(self.keys))
            if now - self.keys[oldest][1] <= limits.max_age:
                break
            self._own()
            self._drop(oldest)

    def _drop(self, slot: tuple[bytes, int]) -> None:
        del self.keys[slot]
        floor, end = self.chains.get(slot[0], (0, None))
        self.chains[slot[0]] = (max(floor, slot[1] + 1), end)

    def floor(self, ratchet_key: bytes) -> int:
        """Below this message number the chain's keys were deleted."""
        return self.chains.get(ratchet_key, (0, None))[0]

    def start_chain(self, ratchet_key: bytes) -> None:
        """Record a new receiving chain."""
        if ratchet_key not in self.chains:
            self._own()
            self.chains[ratchet_key] = (0, None)

    def retire(self, ratchet_key: bytes, end: int, limits: SessionLimits) -> None:
        """Mark a receiving chain finished at ``end``; forget the oldest records."""
        self._own()
        self.chains[ratchet_key] = (self.floor(ratchet_key), end)
        excess = len(self.chains) - limits.max_chains
        if excess <= 0:
            return
        kept = {k for k, _ in self.keys}
        doomed: list[bytes] = []
        for old in self.chains:  # oldest first; not those with kept keys, not this one
            if old not in kept and old != ratchet_key:
                doomed.append(old)
                if len(doomed) == excess:
                    break
        for old in doomed:
            del self.chains[old]
