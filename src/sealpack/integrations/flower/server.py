"""ServerApp side: a Grid wrapper sealing instructions and unsealing replies.

Before the first instruction to a node, and again when its bound bundle is about to
expire, a handshake (``query.sealpack_hello``, see :mod:`.handshake` and :mod:`.hellos`)
binds the Flower node id to one trusted identity and a fresh bundle. Then each distinct
RecordDict sent in one push is encrypted once for all its destination nodes (one
payload encryption for a broadcast: a sealed blob, :mod:`.broadcast`, and for nodes
holding a session a shared body with a ratchet ticket each, :mod:`.instructions`),
bound to its context and to a push counter the nodes never let go backwards
(:mod:`.binding`). Replies must come sealed
from the identity bound to the replying node and answer an outstanding instruction,
once (:mod:`.replies`). Refused replies reach the strategy as Flower error replies
(code :data:`REFUSED_ERROR_CODE`): never as plaintext.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence

from flwr.app import Context, Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from sealpack.errors import SealpackError
from sealpack.integrations.flower import keyconfig
from sealpack.integrations.flower.binding import valid_until
from sealpack.integrations.flower.errors import FlowerConfigError
from sealpack.integrations.flower.events import SealEvent, make_event
from sealpack.integrations.flower.handshake import HelloCheck, verify_hello
from sealpack.integrations.flower.hellos import Handshaker, Timing
from sealpack.integrations.flower.instructions import (
    GroupContext,
    InstructionSealer,
    own_bundle_json,
)
from sealpack.integrations.flower.replies import REFUSED_ERROR_CODE, ReplyOpener
from sealpack.integrations.flower.sessions import ServerSessions
from sealpack.keys import Identity, KeyBundle, KeyStore

__all__ = ["REFUSED_ERROR_CODE", "SealEvent", "SealedGrid"]

_log = logging.getLogger(__name__)


class SealedGrid(Grid):
    """A Flower Grid whose messages are sealed end to end with sealpack."""

    def __init__(
        self,
        grid: Grid,
        *,
        keys: Identity | KeyStore,
        trusted: Sequence[KeyBundle],
        hello_timeout: float = 60.0,
        hello_retry: float = 600.0,
        min_bundle_validity: int = 3600,
        rehandshake_margin: int = 600,
        instruction_expiry: int = 3600,
        sessions: bool = True,
        rng: Callable[[int], bytes] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Wrap ``grid``.

        Args:
            grid: The Grid the ServerApp received.
            keys: The ServerApp's identity (a KeyStore gives durable replay memory).
            trusted: Bundles (pins) of the ClientApp identities allowed to take part.
            hello_timeout: Seconds one push waits for new hello answers.
            hello_retry: Seconds before a node that did not answer, or whose answer was
                refused, gets another hello.
            min_bundle_validity: A hello bundle must stay valid this long (seconds).
            rehandshake_margin: Hand shake again with a node whose bundle expires within
                this many seconds (less than ``min_bundle_validity``).
            instruction_expiry: Seconds a sealed instruction stays valid (one round).
            sessions: Use a ratchet session per node after its sealed start (issue 15):
                instructions (broadcasts through per-node tickets) and replies; False
                keeps every message sealed.
            rng: Randomness for challenges and request ids (default os.urandom).
            clock: Seconds since the epoch (default time.time), for the handshake's timing
                and bundle validity decisions; the envelope itself uses the system clock.
            sleep: How to wait between pulls of hello answers (default time.sleep).

        Raises:
            FlowerConfigError: Two trusted bundles share a name, or the margins are inconsistent.
        """
        if not 0 <= rehandshake_margin < min_bundle_validity or instruction_expiry <= 0:
            raise FlowerConfigError(
                "need 0 <= rehandshake_margin < min_bundle_validity and instruction_expiry > 0"
            )
        self._grid = grid
        self._keys = keys
        self._identity = keys.identity if isinstance(keys, KeyStore) else keys
        self._trusted = {bundle.name: bundle for bundle in trusted}
        if len(self._trusted) != len(trusted):
            raise FlowerConfigError("trusted bundles must have distinct names")
        self._horizon, self._margin = min_bundle_validity, rehandshake_margin
        self._instruction_expiry = instruction_expiry
        self._rng, self._clock = rng or os.urandom, clock
        timing = Timing(hello_timeout, hello_retry, 0.1, clock, sleep)
        self._hellos = Handshaker(grid, timing, self._rng)
        self._bound: dict[int, KeyBundle] = {}
        self._seq = 0
        self.events: list[SealEvent] = []
        self.refused: list[tuple[int, str]] = []
        self._sessions = ServerSessions(keys, self._bound, enabled=sessions)
        self._replies = ReplyOpener(
            keys, self._bound, self._run_id, self.events, self.refused, self._sessions
        )
        self._instructions = InstructionSealer(
            self._identity,
            self._bound,
            self._sessions,
            self._replies.pending,
            (self.events, self._refuse),
            expiry=instruction_expiry,
            rng=self._rng,
        )

    @classmethod
    def from_context(cls, grid: Grid, context: Context) -> SealedGrid:
        """Build from the ServerApp's run_config keys ``sealpack-keystore``, ``sealpack-trusted``.

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
            keyconfig.require(keystore, keyconfig.KEYSTORE, "the ServerApp's run_config"),
            keyconfig.config_value(keyconfig.PASSPHRASE_ENV, None, config),
            {},
        )
        trusted_path = keyconfig.config_value(keyconfig.TRUSTED, None, config)
        trusted_path = keyconfig.require(trusted_path, keyconfig.TRUSTED, "the run_config")
        trusted = keyconfig.load_pins(trusted_path)
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
        return [self._replies.open(r, None) for r in self._grid.pull_messages(message_ids)]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Seal, send, wait for replies, unseal those answering these very messages."""
        sealed, requests = self._seal_all(list(messages))
        replies = self._grid.send_and_receive(sealed, timeout=timeout)
        return [self._replies.open(reply, requests) for reply in replies]

    def _run_id(self) -> int:
        return int(self._grid.run.run_id)

    def _refuse(self, node: int, reason: str, what: str) -> None:
        self.refused.append((node, reason))
        _log.warning("sealpack: %s node %s: %s", what, node, reason)

    def _seal_all(self, messages: list[Message]) -> tuple[list[Message], set[bytes]]:
        """Seal each distinct content once for its bound destinations; drop unbound ones."""
        now = int(self._clock())
        destinations = {m.metadata.dst_node_id for m in messages}
        due = {
            n
            for n in destinations
            if n not in self._bound or valid_until(self._bound[n]) <= now + self._margin
        }
        if due:
            self._hellos.run(due, self._own_bundle_json(), now + self._horizon, self._bind)
        groups: dict[tuple[int, str, str], list[Message]] = {}
        for message in messages:
            meta = message.metadata
            if meta.dst_node_id not in self._bound:
                _log.warning(
                    "sealpack: not sending to node %s (no verified identity)", meta.dst_node_id
                )
                continue
            groups.setdefault((id(message.content), meta.message_type, meta.group_id), []).append(
                message
            )
        self._seq = max(self._seq + 1, int(self._clock() * 1000))
        sealed: list[Message] = []
        requests: set[bytes] = set()
        for group in groups.values():
            context = GroupContext(self._run_id(), self._seq, self._rng(16), now)
            requests.add(context.request)
            sealed.extend(self._instructions.seal_group(group, context))
        return sealed, requests

    def _own_bundle_json(self) -> str:
        """The ServerApp's current bundle without one-time prekeys (nodes never use them)."""
        return own_bundle_json(self._identity)

    def _bind(self, node: int, answer: Message, challenge: bytes) -> bool:
        """Verify one hello answer; bind the node (True) or record the refusal (False)."""
        if answer.has_error():
            self._refuse(node, "HelloError", "no handshake from")
            return False
        check = HelloCheck(challenge, self._run_id(), int(self._clock()) + self._horizon)
        started = time.perf_counter()
        try:
            fresh, size = verify_hello(
                answer, check, keys=self._keys, trusted=self._trusted, bound=self._bound
            )
        except SealpackError as exc:
            self._refuse(node, type(exc).__name__, "handshake failed for")
            return False
        self._bound[node] = fresh
        self.events.append(make_event("unseal", "hello", [node], None, size, started))
        return True
