"""Per-node tickets inside a broadcast (issue 15; docs/integrations/flower.md, "Sessions").

A RecordDict sent to several nodes that hold a session with the server is encrypted
once (:mod:`.broadcast_body`). Each of those nodes gets the shared body plus its own
**ticket**: a ratchet message through its session carrying the body's content key, the
body's digest and the instruction's context (the fields a single-node ratchet
instruction binds: run, message type, round, this node, ``seq``, expiry). The node
opens the ticket through its session, checks the context, compares the body's digest
(constant time) and only then decrypts and decodes the body; it replies through its
session as after any ratchet instruction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sealpack.errors import SealpackError
from sealpack.integrations.flower.broadcast_body import SealedBody, open_body
from sealpack.integrations.flower.schema import InstructionPayload, SessionTicket
from sealpack.integrations.flower.sessions import ServerSessions, check_instruction_context
from sealpack.integrations.flower.wire import WIRE_VERSION
from sealpack.session import Session

__all__ = ["TICKET_KIND", "open_ticketed", "seal_tickets", "ticket_for"]

TICKET_KIND = "ticket"


def ticket_for(body: SealedBody, context: Mapping[str, Any]) -> dict[str, Any]:
    """The object sealed into one node's ticket.

    Args:
        body: The shared encrypted body.
        context: That node's instruction context (sessions.instruction_context).

    Returns:
        ``{"v", "kind": "ticket", "key", "digest", "context"}``.
    """
    return {
        "v": WIRE_VERSION,
        "kind": TICKET_KIND,
        "key": body.key,
        "digest": body.digest,
        "context": dict(context),
    }


def seal_tickets(
    sessions: ServerSessions,
    nodes: Iterable[int],
    body: SealedBody,
    context_for: Callable[[int], Mapping[str, Any]],
) -> tuple[dict[int, bytes], list[tuple[int, str]]]:
    """One ticket per node, each through that node's session.

    Args:
        sessions: The server's sessions (every node must hold an established one).
        nodes: The destination nodes.
        body: The shared encrypted body.
        context_for: A node's instruction context.

    Returns:
        ``(node -> ticket, refusals)``: a node whose ticket cannot be sealed is a
        refusal ``(node, error class name)``; the others still get theirs.
    """
    tickets: dict[int, bytes] = {}
    refusals: list[tuple[int, str]] = []
    for node in nodes:
        try:
            tickets[node] = sessions.seal_instruction(node, ticket_for(body, context_for(node)))
        except SealpackError as exc:
            refusals.append((node, type(exc).__name__))
    return tickets, refusals


def open_ticketed(
    session: Session, ticket: bytes, body: bytes, accept: Callable[[Mapping[str, Any]], bool]
) -> tuple[Any, int]:
    """Open a ticket and the body it names; nothing unchecked reaches the caller.

    Args:
        session: The node's session with the pinned server.
        ticket: The ratchet message addressed to this node.
        body: The shared body delivered beside it (untrusted until its digest matches).
        accept: The node's predicate on the context (binding.instruction_expectation).

    Returns:
        ``(instruction payload, seq)``.

    Raises:
        ContextMismatchError, ExpiredError: the ticket's context (checked first).
        BroadcastBodyError: the body is not the one the ticket names (nothing decrypted).
        SealpackError: the ratchet refused the ticket (tampered, replayed, unknown
            session), or the body failed authentication or its schema.
    """
    obj: dict[str, Any] = session.open_message(ticket, expect=SessionTicket).obj
    seq = check_instruction_context(obj["context"], accept)
    return open_body(body, obj["key"], obj["digest"], InstructionPayload), seq
