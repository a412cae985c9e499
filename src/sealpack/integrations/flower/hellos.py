"""Running the handshake over the Grid: concurrently, never stalling on silent nodes.

All hellos of one push go out together; answers are pulled as they arrive and verified
one by one; the push proceeds with the nodes that answered once every new hello is
answered or ``timeout`` has passed. A hello that was not answered stays outstanding: a
later push does not send that node another hello (nor wait for it) until ``retry``
seconds have passed, it only picks up the answer if it has arrived meanwhile. The same
holds after an answer that was refused (an error, a bad blob, a bundle that cannot be
bound; also for a bound node handshaken again): the node gets its next hello only
``retry`` seconds after the last one. So a node that never answers, or answers late and
badly, costs at most one ``timeout`` per ``retry``, not one per push (issue 19.17).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flwr.app import Message
from flwr.serverapp import Grid

from sealpack.integrations.flower.handshake import CHALLENGE_SIZE, hello_message

__all__ = ["Handshaker", "Verify"]

Verify = Callable[[int, Message, bytes], bool]
"""Called with ``(node, answer, challenge sent)`` for each answer pulled; True: bound."""


@dataclass(frozen=True)
class _Outstanding:
    message_id: str
    challenge: bytes


@dataclass(frozen=True)
class Timing:
    """How long to wait for answers, when to ask a silent node again, how to wait."""

    timeout: float
    retry: float
    poll_interval: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]


class Handshaker:
    """Outstanding hellos of one SealedGrid, keyed by node id."""

    def __init__(self, grid: Grid, timing: Timing, rng: Callable[[int], bytes]) -> None:
        self._grid = grid
        self._timing = timing
        self._rng = rng
        self._outstanding: dict[int, _Outstanding] = {}  # hellos not answered yet
        self._last_sent: dict[int, float] = {}  # nodes not bound by their last hello

    def run(self, nodes: Iterable[int], bundle_json: str, valid_until: int, verify: Verify) -> None:
        """Hand shake with ``nodes``; ``verify`` binds (or refuses) each answer.

        Args:
            nodes: Nodes to bind (unbound, or bound to a bundle about to expire).
            bundle_json: The ServerApp's current bundle, sent with each hello.
            valid_until: Until when the nodes' bundles must stay valid (epoch s).
            verify: Checks one answer and records the binding or the refusal (True: bound).
        """
        timing = self._timing
        started = timing.clock()
        new = [node for node in sorted(set(nodes)) if self._may_ask(node, started)]
        waiting = self._send(new, bundle_json, valid_until, started)
        while True:
            self._collect(verify)
            if not (waiting & self._ids()) or timing.clock() - started >= timing.timeout:
                return
            timing.sleep(timing.poll_interval)

    def _send(self, nodes: list[int], bundle_json: str, valid_until: int, now: float) -> set[str]:
        if not nodes:
            return set()
        challenges = {node: self._rng(CHALLENGE_SIZE) for node in nodes}
        hellos = [hello_message(node, challenges[node], bundle_json, valid_until) for node in nodes]
        ids = [str(i) for i in self._grid.push_messages(hellos)]
        for node, message_id in zip(nodes, ids, strict=True):
            if message_id:  # Flower gives "" for a message it could not deliver
                self._outstanding[node] = _Outstanding(message_id, challenges[node])
                self._last_sent[node] = now
        return {i for i in ids if i}

    def _may_ask(self, node: int, now: float) -> bool:
        """True unless ``node`` was sent a hello less than ``retry`` ago that bound nothing."""
        sent = self._last_sent.get(node)
        return sent is None or now - sent >= self._timing.retry

    def _ids(self) -> set[str]:
        return {entry.message_id for entry in self._outstanding.values()}

    def _collect(self, verify: Verify) -> None:
        """Pull the answers that arrived and verify each against its hello."""
        by_id = {entry.message_id: node for node, entry in self._outstanding.items()}
        if not by_id:
            return
        for answer in self._grid.pull_messages(list(by_id)):
            node = by_id.get(answer.metadata.reply_to_message_id)
            if node is None or answer.metadata.src_node_id != node:
                continue
            entry = self._outstanding.pop(node, None)
            if entry is None:  # a second answer for a hello already answered: ignored
                continue
            if verify(node, answer, entry.challenge):
                self._last_sent.pop(node, None)  # bound: a later re-handshake may go at once
