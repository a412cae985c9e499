"""ServerApp side: turning one group of a push (one RecordDict, one type, one round) into
the messages the nodes receive (issue 15; docs/integrations/flower.md).

* one node that holds a session: a ratchet message with the payload and its context;
* several nodes: those that hold a session get the payload encrypted **once** as a
  shared body plus a ticket each through their session (:mod:`.tickets`); the others
  get one sealed multi-recipient blob (:mod:`.broadcast`), as without sessions.

Every payload lists the destination nodes the server holds a session with
(``"sessions"``). A node that cannot be reached is a recorded refusal; the others get
the instruction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flwr.app import Message, RecordDict

from sealpack.errors import SealpackError
from sealpack.integrations.flower.binding import instruction_metadata
from sealpack.integrations.flower.broadcast import seal_for_nodes
from sealpack.integrations.flower.broadcast_body import seal_body
from sealpack.integrations.flower.events import SealEvent, make_event
from sealpack.integrations.flower.pending import PendingReplies
from sealpack.integrations.flower.records import recorddict_to_plain
from sealpack.integrations.flower.sessions import ServerSessions, instruction_context
from sealpack.integrations.flower.tickets import seal_tickets
from sealpack.integrations.flower.wire import WIRE_VERSION, wrap_blob
from sealpack.keys import Identity, KeyBundle

__all__ = ["GroupContext", "InstructionSealer"]

Refuse = Callable[[int, str, str], None]


@dataclass(frozen=True)
class GroupContext:
    """What every message of one group is bound to."""

    run_id: int
    seq: int
    request: bytes
    now: int


class InstructionSealer:
    """Seals the groups of one SealedGrid (shares its bindings, sessions and records)."""

    def __init__(
        self,
        identity: Identity,
        bound: dict[int, KeyBundle],
        sessions: ServerSessions,
        pending: PendingReplies,
        records: tuple[list[SealEvent], Refuse],
        *,
        expiry: int,
        rng: Callable[[int], bytes],
    ) -> None:
        """Share the grid's state.

        Args:
            identity: The ServerApp's identity (seals blobs, names the sender).
            bound: Node id -> its bound bundle (from the handshake).
            sessions: The server's sessions with the nodes.
            pending: Outstanding (request, node) pairs; every message sent is added.
            records: The grid's event list and its refusal recorder.
            expiry: Seconds an instruction stays valid.
            rng: Randomness for content keys.
        """
        self._identity, self._bound = identity, bound
        self._sessions, self._pending = sessions, pending
        self._events, self._refuse = records
        self._expiry, self._rng = expiry, rng

    def seal_group(self, group: list[Message], context: GroupContext) -> list[Message]:
        """The messages carrying ``group``'s one content to each of its nodes.

        Args:
            group: Messages of one content, type and round, to bound nodes.
            context: Run, push counter, request id and the grid's time.

        Returns:
            One message per node that can take it (the others are recorded refusals).
        """
        plain = recorddict_to_plain(group[0].content)
        payload: dict[str, Any] = {
            "v": WIRE_VERSION,
            "kind": "instruction",
            "request": context.request,
            "server": own_bundle_json(self._identity),
            "content": plain,
        }
        nodes = [m.metadata.dst_node_id for m in group]
        ticketed: list[int] = []
        if self._sessions.enabled:
            payload["sessions"] = ready = self._sessions.established(nodes)
            ticketed = [n for n in ready if not self._bound[n].is_expired(now=context.now)]
        by_node = {m.metadata.dst_node_id: m for m in group}
        if ticketed == nodes[:1] == nodes:
            return self._seal_ratchet(by_node[nodes[0]], payload, context)
        out = self._seal_tickets([by_node[n] for n in ticketed], payload, context)
        rest = [by_node[n] for n in nodes if n not in ticketed]
        return out + (self._seal_blob(rest, payload, context) if rest else [])

    def _seal_blob(
        self, group: list[Message], payload: dict[str, Any], context: GroupContext
    ) -> list[Message]:
        """One sealed multi-recipient blob for the nodes of ``group``."""
        started, first = time.perf_counter(), group[0].metadata

        def metadata_for(nodes: list[int]) -> dict[str, object]:
            return instruction_metadata(
                context.run_id, first.message_type, first.group_id, nodes, context.seq
            )

        bundles = {m.metadata.dst_node_id: self._bound[m.metadata.dst_node_id] for m in group}
        blobs, refusals = seal_for_nodes(
            payload,
            bundles,
            sender=self._identity,
            metadata_for=metadata_for,
            expires_in=self._expiry,
            now=context.now,
        )
        for node, reason in refusals:
            self._refuse(node, reason, "cannot seal to")
        by_node = {m.metadata.dst_node_id: m for m in group}
        out: list[Message] = []
        for sealed in blobs:
            wire = wrap_blob(sealed.blob, kind="instruction", sender=self._identity.name)
            self._record(sealed.nodes, payload, len(sealed.blob), started)
            out += [self._addressed(wire, by_node[n], context) for n in sealed.nodes]
        return out

    def _seal_tickets(
        self, group: list[Message], payload: dict[str, Any], context: GroupContext
    ) -> list[Message]:
        """The payload encrypted once as a shared body, plus one ticket per node."""
        if not group:
            return []
        started, first = time.perf_counter(), group[0].metadata
        body = seal_body(payload, self._rng)

        def context_for(node: int) -> dict[str, Any]:
            return instruction_context(
                context.run_id, first.message_type, first.group_id, node, context.seq, self._expiry
            )

        nodes = [m.metadata.dst_node_id for m in group]
        tickets, refusals = seal_tickets(self._sessions, nodes, body, context_for)
        for node, reason in refusals:
            self._refuse(node, reason, "cannot seal a ticket to")
        size = len(body.data) + sum(len(t) for t in tickets.values())
        self._record(list(tickets), payload, size, started)
        name, out = self._identity.name, []
        for message in group:
            ticket = tickets.get(message.metadata.dst_node_id)
            if ticket is not None:
                wire = wrap_blob(ticket, kind="instruction", sender=name, body=body.data)
                out.append(self._addressed(wire, message, context))
        return out

    def _seal_ratchet(
        self, message: Message, payload: dict[str, Any], context: GroupContext
    ) -> list[Message]:
        """Send one instruction through the node's session, its context inside."""
        started, meta, node = time.perf_counter(), message.metadata, message.metadata.dst_node_id
        inner = instruction_context(
            context.run_id, meta.message_type, meta.group_id, node, context.seq, self._expiry
        )
        try:
            blob = self._sessions.seal_instruction(node, {**payload, "context": inner})
        except SealpackError as exc:
            self._refuse(node, type(exc).__name__, "cannot seal to")
            return []
        self._record([node], payload, len(blob), started)
        wire = wrap_blob(blob, kind="instruction", sender=self._identity.name)
        return [self._addressed(wire, message, context)]

    def _record(self, nodes: list[int], payload: dict[str, Any], size: int, started: float) -> None:
        if nodes:
            self._events.append(
                make_event("seal", "instruction", nodes, payload["content"], size, started)
            )

    def _addressed(self, content: RecordDict, message: Message, context: GroupContext) -> Message:
        """``content`` to ``message``'s node, now outstanding (its reply is expected)."""
        meta = message.metadata
        self._pending.add(
            context.request, meta.dst_node_id, meta.message_type, meta.group_id, context.seq
        )
        return Message(
            content, meta.dst_node_id, meta.message_type, ttl=meta.ttl, group_id=meta.group_id
        )


def own_bundle_json(identity: Identity) -> str:
    """The ServerApp's current bundle without one-time prekeys (nodes never use them)."""
    return identity.bundle().with_one_time_prekeys(()).to_json()
