"""ServerApp side: opening the nodes' sealed replies, one bad reply never stopping a round.

A reply is opened only from the identity bound to its source node and only in the
context of the outstanding instruction it names (checked on the signed metadata before
anything is recorded). Whatever goes wrong while opening one reply (a refusal, a storage
error, anything unexpected) becomes a Flower error reply for that node, code
:data:`REFUSED_ERROR_CODE`, and a recorded refusal; the other replies are unaffected
(issue 10.5). A node's sealed error outcome becomes Flower's error reply (app_errors).
With sessions on (:mod:`.sessions`), a reply may also be a sealed start (its session is
accepted after the blob verified) or a ratchet message whose inner context is checked
the same way. A Flower error reply from a node withdraws its session for sending (it
may have lost its state: the next instruction is sealed and the node starts anew) but
keeps the states, so the node's ratchet replies already in flight still open; the
session is used again once the node's new start is accepted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

from flwr.app import Error, Message, RecordDict
from flwr.app.message import make_message

from sealpack.errors import SealpackError
from sealpack.integrations.flower.app_errors import error_from_outcome
from sealpack.integrations.flower.binding import open_bound, reply_metadata
from sealpack.integrations.flower.errors import RefusedMessageError
from sealpack.integrations.flower.events import SealEvent, make_event
from sealpack.integrations.flower.pending import PendingReplies
from sealpack.integrations.flower.records import plain_to_recorddict
from sealpack.integrations.flower.schema import ReplyPayload, StartedReply
from sealpack.integrations.flower.sessions import ServerSessions, check_reply_context, open_reply
from sealpack.integrations.flower.wire import check_payload, unwrap_info
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.session import is_session_message
from sealpack.session.start import START_KEY

__all__ = ["REFUSED_ERROR_CODE", "ReplyOpener"]

_log = logging.getLogger(__name__)
REFUSED_ERROR_CODE = 7301
"""Flower error code of a reply sealpack refused."""


class ReplyOpener:
    """Opens replies for one SealedGrid (shares its bindings, events and refusals)."""

    def __init__(
        self,
        keys: Identity | KeyStore,
        bound: dict[int, KeyBundle],
        run_id: Callable[[], int],
        events: list[SealEvent],
        refused: list[tuple[int, str]],
        sessions: ServerSessions | None = None,
    ) -> None:
        self._keys, self._bound, self._run_id = keys, bound, run_id
        self._events, self._refused = events, refused
        self._sessions = sessions or ServerSessions(keys, bound, enabled=False)
        self.pending = PendingReplies()

    def open(self, reply: Message, allowed: Collection[bytes] | None) -> Message:
        """The unsealed reply, or an error reply when it cannot be accepted.

        Args:
            reply: A reply pulled from the wrapped grid.
            allowed: When given, only replies to these request ids are accepted.

        Returns:
            A Flower Message with the plaintext content, or with an Error.
        """
        node = reply.metadata.src_node_id
        if reply.has_error():  # maybe forged by the relay: never delete anything for it
            self._sessions.withdraw(node)  # the node may have lost its session state
            return reply
        try:
            opened = self._unseal(reply, node, allowed)
        except Exception as exc:  # one bad reply must never stop the round
            name = type(exc).__name__
            if not isinstance(exc, SealpackError):
                _log.error("sealpack: unexpected %s opening a reply from node %s", name, node)
            self._refused.append((node, name))
            _log.warning("sealpack: refused reply from node %s: %s", node, name)
            error = Error(REFUSED_ERROR_CODE, f"sealpack refused reply: {name}")
            return make_message(reply.metadata, error=error)
        if isinstance(opened, Error):
            return make_message(reply.metadata, error=opened)
        return make_message(reply.metadata, content=opened)

    def _unseal(
        self, reply: Message, node: int, allowed: Collection[bytes] | None
    ) -> RecordDict | Error:
        bundle = self._bound.get(node)
        if bundle is None:
            raise RefusedMessageError("reply from a node with no verified identity")
        started = time.perf_counter()
        blob, info = unwrap_info(reply.content, kind="reply")
        claimed = info.get("request")  # a hint: the signed metadata must confirm it
        if not isinstance(claimed, bytes):
            raise RefusedMessageError("sealed reply names no request")
        pending = self.pending.lookup(claimed, node, allowed)
        meta = reply.metadata
        if (meta.message_type, meta.group_id) != (pending.message_type, pending.group_id):
            raise RefusedMessageError("reply metadata does not match its sealed context")
        expect = reply_metadata(
            self._run_id(), pending.message_type, pending.group_id, node, claimed
        )
        session = self._sessions.session(node)
        if is_session_message(blob):
            if session is None:
                raise RefusedMessageError("ratchet reply, but sessions are off")
            payload: object = open_reply(session, blob, expect)
        else:
            shape = ReplyPayload if session is None else ReplyPayload | StartedReply
            payload, _ = open_bound(
                blob, recipient=self._keys, sender=bundle, expect=expect, shape=shape
            )
            if session is not None and isinstance(payload, dict) and START_KEY in payload:
                inner = session.accept_start(payload)  # StartedReply: a dict with context
                payload = check_reply_context(inner if isinstance(inner, dict) else {}, expect)
                self._sessions.restore(node)  # its new session can carry instructions
        checked = check_payload(payload, kind="reply", expected={"request": claimed})
        if "error" in checked:
            outcome: RecordDict | Error = error_from_outcome(checked["error"])
        else:
            outcome = plain_to_recorddict(checked.get("content"))
        self.pending.settle(claimed, node)
        plain = checked.get("content")
        self._events.append(make_event("unseal", "reply", [node], plain, len(blob), started))
        return outcome
