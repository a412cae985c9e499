"""Ratchet sessions between the ServerApp and each node (issue 15; docs/integrations/flower.md).

A node starts its session with a sealed reply (``Session.seal`` to the server's fresh
bundle: a sealed start, bound by the same signed metadata as any reply). Once the server
accepted a start, an instruction to that single node is a ratchet message, and the node
answers it through the session. The context that a sealed blob carries in its signed
metadata travels *inside* the ratchet message (``"context"``, the same fields as
:mod:`.binding`, plus the instruction's expiry) and is checked before the app or the
strategy sees anything. A broadcast reaches the nodes with a session through per-node
tickets (:mod:`.tickets`) and the others as one sealed blob; every instruction lists the
nodes the server holds a session with (``"sessions"``), so a node whose session the
server lost starts a new one. Sessions live in the key stores (durable, under the store
lock); a server with an in-memory ``Identity`` keeps them for the lifetime of its
SealedGrid.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sealpack.errors import ContextMismatchError, ExpiredError
from sealpack.integrations.flower.binding import instruction_metadata
from sealpack.integrations.flower.errors import RefusedMessageError
from sealpack.integrations.flower.schema import SessionInstruction, SessionReply
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.session import Session

__all__ = [
    "ServerSessions",
    "check_instruction_context",
    "check_reply_context",
    "instruction_context",
    "open_instruction",
    "open_reply",
]


class ServerSessions:
    """The ServerApp's session with each bound node (one Session object per node)."""

    def __init__(self, keys: Identity | KeyStore, bound: Mapping[int, KeyBundle], *, enabled: bool):
        self.enabled = enabled
        self._keys, self._bound = keys, bound
        self._cache: dict[int, Session] = {}
        self._withdrawn: set[int] = set()  # nodes whose session is not used for sending

    def session(self, node: int) -> Session | None:
        """The session with ``node`` (None when sessions are off or the node is unbound)."""
        bundle = self._bound.get(node)
        if not self.enabled or bundle is None:
            return None
        cached = self._cache.get(node)
        if cached is None or not hmac.compare_digest(cached.peer_identity_key, bundle.identity_key):
            cached = self._cache[node] = Session(self._keys, bundle)
        return cached

    def established(self, nodes: Iterable[int]) -> list[int]:
        """Those of ``nodes`` the server can send a ratchet message to."""
        return [node for node in nodes if self._sender(node) is not None]

    def seal_instruction(self, node: int, obj: dict[str, Any]) -> bytes:
        """``obj`` (payload and context) as a ratchet message to ``node``.

        Raises:
            RefusedMessageError: No session with ``node``. SealpackError: sealing failed.
        """
        session = self._sender(node)
        if session is None:
            raise RefusedMessageError("no established session with this node")
        return session.seal(obj)

    def _sender(self, node: int) -> Session | None:
        """The session to send to ``node`` through: established and not withdrawn."""
        session = None if node in self._withdrawn else self.session(node)
        return session if session is not None and session.established else None

    def withdraw(self, node: int) -> None:
        """Stop sending through ``node``'s session (it may have lost its state).

        Its states are kept, so ratchet replies the node already sent still open; the
        next instruction is sealed and does not list the node, which then starts a new
        session (:meth:`restore` once that start is accepted). Memory only: nothing is
        written, so this never fails.
        """
        self._withdrawn.add(node)

    def restore(self, node: int) -> None:
        """Send through ``node``'s session again (a new start from it was accepted)."""
        self._withdrawn.discard(node)


def instruction_context(
    run_id: int, message_type: str, group_id: str, node: int, seq: int, expiry: int
) -> dict[str, Any]:
    """The context of a ratchet instruction: the signed metadata fields plus its expiry."""
    context = instruction_metadata(run_id, message_type, group_id, [node], seq)
    return {**context, "expires": int(time.time()) + expiry}


def open_instruction(
    session: Session, blob: bytes, accept: Callable[[Mapping[str, Any]], bool]
) -> tuple[dict[str, Any], int]:
    """Open a ratchet instruction and check its context before anything else sees it.

    Args:
        session: The node's session with the pinned server.
        blob: The ratchet message.
        accept: The node's predicate on the context (binding.instruction_expectation).

    Returns:
        ``(payload without its context, seq)``.

    Raises:
        ContextMismatchError: Another run, type, round or node, or older than an
            accepted instruction. ExpiredError: past its expiry.
        SealpackError: the ratchet refused it (tampered, replayed, unknown session).
    """
    obj: dict[str, Any] = session.open_message(blob, expect=SessionInstruction).obj
    return obj, check_instruction_context(obj.pop("context"), accept)


def check_instruction_context(
    context: Mapping[str, Any], accept: Callable[[Mapping[str, Any]], bool]
) -> int:
    """Check the context inside a ratchet instruction or ticket; return its ``seq``.

    Raises:
        ContextMismatchError: Another run, type, round or node, or older than an
            accepted instruction. ExpiredError: past its expiry.
    """
    try:
        accept(context)
    except RefusedMessageError as exc:  # also StaleInstructionError, as for sealed blobs
        raise ContextMismatchError(f"ratchet instruction: {exc}") from None
    if context["expires"] < int(time.time()):
        raise ExpiredError("ratchet instruction has expired")
    return int(context["seq"])


def open_reply(session: Session, blob: bytes, expected: Mapping[str, Any]) -> dict[str, Any]:
    """Open a ratchet reply whose inner context must equal ``expected`` (binding.reply_metadata).

    Raises:
        ContextMismatchError: The reply answers another context.
        SealpackError: the ratchet refused it (tampered, replayed, unknown session).
    """
    obj: dict[str, Any] = session.open_message(blob, expect=SessionReply).obj
    return check_reply_context(obj, expected)


def check_reply_context(obj: dict[str, Any], expected: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without its ``"context"``, which must equal ``expected``.

    Raises:
        ContextMismatchError: The reply answers another context.
    """
    context = obj.pop("context", None)
    if not isinstance(context, dict):
        raise ContextMismatchError("reply through a session carries no context")
    for key, want in expected.items():
        got = context.get(key)
        if isinstance(want, bytes):
            same = isinstance(got, bytes) and hmac.compare_digest(got, want)
        else:
            same = type(got) is type(want) and got == want
        if not same:
            raise ContextMismatchError(f"ratchet reply is bound to another {key!r}")
    return obj
