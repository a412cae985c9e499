"""Which sealed instructions still await a reply, and from which node.

Every sealed instruction carries a random request id; a reply must answer an
outstanding ``(request, node)`` pair, exactly once. A newer instruction of the same
message type to the same node retires the older one, so a reply withheld from an
earlier round cannot be slipped into a later one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sealpack.errors import ReplayError

__all__ = ["Pending", "PendingReplies"]


@dataclass(frozen=True)
class Pending:
    """The context a reply to one instruction must be bound to."""

    message_type: str
    group_id: str
    seq: int = 0
    """The push that sent it: only a later push retires it."""


class PendingReplies:
    """Outstanding ``(request id, node id)`` pairs of the sealed instructions sent."""

    def __init__(self) -> None:
        self._pending: dict[tuple[bytes, int], Pending] = {}

    def add(
        self, request: bytes, node: int, message_type: str, group_id: str, seq: int = 0
    ) -> None:
        """Await a reply from ``node`` to ``request``; retire the ones of that type sent
        by an earlier push (two instructions of one type to one node in one push are
        both awaited).

        Args:
            request: The instruction's random request id.
            node: The destination node id.
            message_type: The instruction's Flower message type.
            group_id: The instruction's group id (the round).
            seq: The push counter of the instruction.
        """
        stale = [
            key
            for key, pending in self._pending.items()
            if key[1] == node and pending.message_type == message_type and pending.seq < seq
        ]
        for key in stale:
            del self._pending[key]
        self._pending[(request, node)] = Pending(message_type, group_id, seq)

    def lookup(self, request: bytes, node: int, allowed: Collection[bytes] | None) -> Pending:
        """Find the outstanding pair ``(request, node)`` (without consuming it).

        Args:
            request: The request id named inside the sealed reply.
            node: The node the reply came from.
            allowed: When given, only these request ids may be answered now.

        Returns:
            The context the reply must be bound to.

        Raises:
            ReplayError: The pair is not outstanding (answered, retired, foreign).
        """
        pending = self._pending.get((request, node))
        if pending is None or (allowed is not None and request not in allowed):
            raise ReplayError("reply answers no outstanding instruction for this node")
        return pending

    def settle(self, request: bytes, node: int) -> None:
        """Mark the pair ``(request, node)`` answered: no further reply is accepted."""
        self._pending.pop((request, node), None)
