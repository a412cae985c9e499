"""ServerApp side: a Grid wrapper sealing instructions and unsealing replies.

Before the first instruction to a node, a handshake (``query.sealpack_hello``, see
:mod:`.handshake`) binds the Flower node id to one trusted identity. Then each
distinct RecordDict sent in one push is sealed once for all its destination nodes
(one payload encryption for a broadcast); replies must come sealed from the
identity bound to the replying node and answer an outstanding instruction, once
(see :mod:`.pending`). Refused replies reach the strategy as Flower error replies
(code :data:`REFUSED_ERROR_CODE`): never as plaintext.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Sequence

from flwr.app import Context, Error, Message, RecordDict
from flwr.app.message import make_message
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from sealpack.api import seal, unseal
from sealpack.errors import SealpackError
from sealpack.integrations.flower import keyconfig
from sealpack.integrations.flower.errors import FlowerConfigError, RefusedMessageError
from sealpack.integrations.flower.events import SealEvent, make_event
from sealpack.integrations.flower.handshake import CHALLENGE_SIZE, hello_message, verify_hello
from sealpack.integrations.flower.pending import PendingReplies
from sealpack.integrations.flower.records import plain_to_recorddict, recorddict_to_plain
from sealpack.integrations.flower.wire import WIRE_VERSION, check_payload, unwrap_blob, wrap_blob
from sealpack.keys import Identity, KeyBundle, KeyStore

__all__ = ["REFUSED_ERROR_CODE", "SealEvent", "SealedGrid"]

_log = logging.getLogger(__name__)
REFUSED_ERROR_CODE = 7301
"""Flower error code of a reply sealpack refused."""


class SealedGrid(Grid):
    """A Flower Grid whose messages are sealed end to end with sealpack."""

    def __init__(
        self,
        grid: Grid,
        *,
        keys: Identity | KeyStore,
        trusted: Sequence[KeyBundle],
        hello_timeout: float = 60.0,
        rng: Callable[[int], bytes] | None = None,
    ) -> None:
        """Wrap ``grid``.

        Args:
            grid: The Grid the ServerApp received.
            keys: The ServerApp's identity (a KeyStore gives durable replay memory).
            trusted: Bundles of the ClientApp identities allowed to take part.
            hello_timeout: Seconds to wait for the key handshake replies.
            rng: Randomness for challenges and request ids (default os.urandom).

        Raises:
            FlowerConfigError: Two trusted bundles share a name.
        """
        self._grid = grid
        self._keys = keys
        self._identity = keys.identity if isinstance(keys, KeyStore) else keys
        self._trusted = {bundle.name: bundle for bundle in trusted}
        if len(self._trusted) != len(trusted):
            raise FlowerConfigError("trusted bundles must have distinct names")
        self._hello_timeout = hello_timeout
        self._rng = rng or os.urandom
        self._bound: dict[int, KeyBundle] = {}
        self._pending = PendingReplies()
        self.events: list[SealEvent] = []
        self.refused: list[tuple[int, str]] = []

    @classmethod
    def from_context(cls, grid: Grid, context: Context) -> SealedGrid:
        """Build from run_config keys ``sealpack-keystore``, ``sealpack-trusted``, ...

        Args:
            grid: The Grid the ServerApp received.
            context: The ServerApp's context (its run_config names the keys).

        Returns:
            The sealed grid.

        Raises:
            FlowerConfigError: A required config key is missing.
        """
        config = context.run_config
        keystore = keyconfig.config_value(keyconfig.KEYSTORE, None, config)
        store = keyconfig.open_keystore(
            keyconfig.require(keystore, keyconfig.KEYSTORE),
            keyconfig.config_value(keyconfig.PASSPHRASE_ENV, None, config),
            {},
        )
        trusted_path = keyconfig.config_value(keyconfig.TRUSTED, None, config)
        trusted = keyconfig.load_bundles(keyconfig.require(trusted_path, keyconfig.TRUSTED))
        return cls(grid, keys=store, trusted=trusted)

    # --- plain delegation --------------------------------------------------
    def set_run(self, run: Run) -> None:
        """Set the run on the wrapped grid."""
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        """The wrapped grid's run."""
        return self._grid.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        """Create a (still plaintext) message; it is sealed when pushed."""
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        """Node ids of the wrapped grid."""
        return self._grid.get_node_ids()

    @property
    def bound_nodes(self) -> dict[int, str]:
        """Node id -> name of the trusted identity proven by the handshake."""
        return {node: bundle.name for node, bundle in self._bound.items()}

    # --- sealed traffic ----------------------------------------------------
    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Seal and push ``messages``; nodes that fail the handshake get nothing."""
        sealed, _ = self._seal_all(list(messages))
        return self._grid.push_messages(sealed)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Pull replies and unseal them (refused ones become error replies)."""
        return [self._open_reply(r, None) for r in self._grid.pull_messages(message_ids)]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Seal, send, wait for replies, unseal those answering these very messages."""
        sealed, requests = self._seal_all(list(messages))
        replies = self._grid.send_and_receive(sealed, timeout=timeout)
        return [self._open_reply(reply, requests) for reply in replies]

    def _run_id(self) -> int:
        return int(self._grid.run.run_id)

    def _seal_all(self, messages: list[Message]) -> tuple[list[Message], set[bytes]]:
        """Seal each distinct content once for its bound destinations; drop unbound ones."""
        self._handshake({m.metadata.dst_node_id for m in messages} - set(self._bound))
        groups: dict[tuple[int, str, str], list[Message]] = {}
        for message in messages:
            meta = message.metadata
            if meta.dst_node_id not in self._bound:
                _log.warning(
                    "sealpack: not sending to node %s (no verified identity)", meta.dst_node_id
                )
                continue
            key = (id(message.content), meta.message_type, meta.group_id)
            groups.setdefault(key, []).append(message)
        sealed: list[Message] = []
        requests: set[bytes] = set()
        for group in groups.values():
            request = self._rng(16)
            requests.add(request)
            sealed.extend(self._seal_group(group, request))
        return sealed, requests

    def _seal_group(self, group: list[Message], request: bytes) -> list[Message]:
        """Seal one content once for every destination node of ``group``."""
        first = group[0].metadata
        nodes = sorted({m.metadata.dst_node_id for m in group})
        started = time.perf_counter()
        plain = recorddict_to_plain(group[0].content)
        payload = {
            "v": WIRE_VERSION,
            "kind": "instruction",
            "run_id": self._run_id(),
            "message_type": first.message_type,
            "group_id": first.group_id,
            "nodes": nodes,
            "request": request,
            "content": plain,
        }
        blob = seal(payload, sender=self._identity, recipients=[self._bound[n] for n in nodes])
        wire = wrap_blob(blob, kind="instruction", sender=self._identity.name)
        self.events.append(make_event("seal", "instruction", nodes, plain, len(blob), started))
        for node in nodes:
            self._pending.add(request, node, first.message_type, first.group_id)
        return [_readdressed(wire, m) for m in group]

    def _open_reply(self, reply: Message, allowed: Collection[bytes] | None) -> Message:
        """The unsealed reply, or an error reply when sealpack refuses it."""
        if reply.has_error():
            return reply
        node = reply.metadata.src_node_id
        try:
            return make_message(reply.metadata, content=self._unseal_reply(reply, node, allowed))
        except SealpackError as exc:
            self.refused.append((node, type(exc).__name__))
            _log.warning("sealpack: refused reply from node %s: %s", node, type(exc).__name__)
            reason = f"sealpack refused reply: {type(exc).__name__}"
            return make_message(reply.metadata, error=Error(REFUSED_ERROR_CODE, reason))

    def _unseal_reply(
        self, reply: Message, node: int, allowed: Collection[bytes] | None
    ) -> RecordDict:
        bundle = self._bound.get(node)
        if bundle is None:
            raise RefusedMessageError("reply from a node with no verified identity")
        started = time.perf_counter()
        blob, _ = unwrap_blob(reply.content, kind="reply")
        payload = unseal(blob, recipient=self._keys, senders=[bundle])
        request = payload.get("request") if isinstance(payload, dict) else None
        if not isinstance(request, bytes):
            raise RefusedMessageError("sealed reply names no request")
        pending = self._pending.lookup(request, node, allowed)
        expected = {
            "run_id": self._run_id(),
            "message_type": pending.message_type,
            "group_id": pending.group_id,
            "node": node,
        }
        checked = check_payload(payload, kind="reply", expected=expected)
        meta = reply.metadata
        if (meta.message_type, meta.group_id) != (pending.message_type, pending.group_id):
            raise RefusedMessageError("reply metadata does not match its sealed context")
        content = plain_to_recorddict(checked.get("content"))
        self._pending.settle(request, node)
        self.events.append(
            make_event("unseal", "reply", [node], checked.get("content"), len(blob), started)
        )
        return content

    def _handshake(self, nodes: set[int]) -> None:
        """Bind each node id in ``nodes`` to a trusted identity (or leave it unbound)."""
        if not nodes:
            return
        challenges = {node: self._rng(CHALLENGE_SIZE) for node in nodes}
        own_bundle = self._identity.bundle().to_json()
        hellos = [hello_message(n, challenges[n], own_bundle) for n in sorted(nodes)]
        for reply in self._grid.send_and_receive(hellos, timeout=self._hello_timeout):
            node = reply.metadata.src_node_id
            challenge = challenges.pop(node, None)
            if challenge is None or reply.has_error():
                continue
            started = time.perf_counter()
            try:
                fresh, size = verify_hello(
                    reply,
                    challenge=challenge,
                    run_id=self._run_id(),
                    keys=self._keys,
                    trusted=self._trusted,
                    bound=self._bound,
                )
            except SealpackError as exc:
                self.refused.append((node, type(exc).__name__))
                _log.warning("sealpack: node %s failed the handshake: %s", node, type(exc).__name__)
                continue
            self._bound[node] = fresh
            self.events.append(make_event("unseal", "hello", [node], None, size, started))


def _readdressed(content: RecordDict, message: Message) -> Message:
    """A new instruction carrying ``content`` with ``message``'s routing metadata."""
    meta = message.metadata
    return Message(
        content, meta.dst_node_id, meta.message_type, ttl=meta.ttl, group_id=meta.group_id
    )
