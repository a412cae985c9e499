"""An in-process stand-in for Flower's SuperLink + SuperNodes (no ray), for refusal tests.

``FakeGrid`` implements the part of flwr's Grid API that SealedGrid uses. Every
message it carries goes through Flower's own object serialization (deflate /
inflate), is delivered to a real ClientApp (sealpack mod + recording handlers), and
the ClientApp's exceptions become Flower error replies, as Flower's engines do. A
test plays the untrusted relay by rewriting replies with ``on_reply``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, Context, Error, Message, Metadata, MetricRecord, RecordDict
from flwr.app.message import make_message
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents
from flwr.supercore.run import Run

from sealpack.integrations.flower.client import SealpackClientMod, sealed_client_app
from sealpack.keys import Identity, KeyStore

RUN_ID = 4242
PASSPHRASE_ENV = "SEALPACK_TEST_FLOWER_PASSPHRASE"
PASSPHRASE = b"flower test passphrase"
ReplyHook = Callable[[Message], list[Message]]


def wire_copy(message: Message) -> Message:
    """``message`` after Flower's own serialization round trip (what a relay carries)."""
    contents = {oid: obj.deflate() for oid, obj in get_all_nested_objects(message).items()}
    copy: Message = inflate_object_from_contents(message.object_id, contents)
    copy.metadata.__dict__["_message_id"] = message.metadata.message_id
    return copy


def wire_bytes(message: Message) -> bytes:
    """Every serialized Flower object of ``message``, joined."""
    return b"".join(obj.deflate() for obj in get_all_nested_objects(message).values())


def with_metadata(message: Message, **changes: Any) -> Message:
    """A copy of ``message`` with some metadata fields rewritten (as a hostile relay could)."""
    meta = message.metadata
    fields = {
        name: getattr(meta, name)
        for name in (
            "run_id",
            "message_id",
            "src_node_id",
            "dst_node_id",
            "reply_to_message_id",
            "group_id",
            "created_at",
            "ttl",
            "message_type",
            "src_task_id",
            "dst_task_id",
        )
    }
    fields.update(changes)
    new_meta = Metadata(**fields)
    if message.has_error():
        return make_message(new_meta, error=message.error)
    return make_message(new_meta, content=message.content)


def create_store(
    path: Path, name: str, *, one_time_prekeys: int = 8, identity: Identity | None = None
) -> KeyStore:
    """A passphrase-protected KeyStore (cheap scrypt cost: tests only)."""
    identity = identity or Identity.generate(name, one_time_prekeys=one_time_prekeys)
    return KeyStore.create(path, identity, passphrase=PASSPHRASE, scrypt_n=2**10)


@dataclass
class FakeNode:
    """One SuperNode: a real sealed ClientApp whose handlers record what they were given."""

    node_id: int
    keystore: Path
    server_bundle: Path
    seen: list[RecordDict] = field(default_factory=list)
    raised: list[BaseException] = field(default_factory=list)
    hello: Callable[[Message, Context], Message] | None = None
    fail: Exception | None = None  # raised by the train handler when set
    mod_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        mod = SealpackClientMod(
            keystore=str(self.keystore),
            server_bundle=str(self.server_bundle),
            passphrase_env=PASSPHRASE_ENV,
            **self.mod_options,
        )
        self.app = sealed_client_app(mod=mod)
        self.app.train()(self._train)
        self.app.evaluate()(self._evaluate)
        node_config = {"partition-id": self.node_id}
        self.context = Context(RUN_ID, self.node_id, node_config, RecordDict(), {})

    def _train(self, message: Message, context: Context) -> Message:
        self.seen.append(message.content)
        if self.fail is not None:
            raise self.fail
        arrays = message.content.array_records["arrays"].to_numpy_ndarrays()
        updated = ArrayRecord([a + self.node_id for a in arrays])
        metrics = MetricRecord({"num-examples": 1})
        return Message(RecordDict({"arrays": updated, "metrics": metrics}), reply_to=message)

    def _evaluate(self, message: Message, context: Context) -> Message:
        self.seen.append(message.content)
        return Message(RecordDict({"metrics": MetricRecord({"n": 1})}), reply_to=message)

    def handle(self, message: Message) -> Message:
        """Run the ClientApp; an exception becomes an error reply, as in Flower's engines."""
        try:
            if self.hello is not None and message.metadata.message_type.startswith("query."):
                return self.hello(message, self.context)
            return self.app(message, self.context)
        except Exception as exc:
            self.raised.append(exc)
            reason = str(type(exc)) + ":<'" + str(exc) + "'>"  # Flower's own wording
            error = Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason)
            return Message(error, reply_to=message)


class FakeGrid(Grid):  # type: ignore[misc]
    """SuperLink stand-in: routes pushed messages to FakeNodes, replies back to the server."""

    def __init__(self, nodes: Iterable[FakeNode]) -> None:
        self.nodes = {node.node_id: node for node in nodes}
        self._run = Run.create_empty(RUN_ID)
        self._replies: dict[str, Message] = {}
        self.pushed: list[Message] = []  # instructions as carried (after serialization)
        self.held: set[int] = set()  # nodes whose instructions (not hellos) are kept back
        self.silent: set[int] = set()  # nodes that answer nothing (queued until release)
        self._queued: list[Message] = []  # what silent nodes were sent
        self.replied: list[Message] = []  # every reply as carried (after serialization)
        self.on_reply: ReplyHook = lambda reply: [reply]  # the relay's treatment of replies
        self.clock: FakeClock | None = None  # when set, waiting for a missing reply takes time

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        raise NotImplementedError

    def get_node_ids(self) -> Iterable[int]:
        return list(self.nodes)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            carried = wire_copy(message)
            self.pushed.append(carried)
            ids.append(message.metadata.message_id)
            node = carried.metadata.dst_node_id
            held = node in self.held and not carried.metadata.message_type.startswith("query.")
            if node in self.silent:
                self._queued.append(carried)
            elif node in self.nodes and not held:
                self._deliver(carried)
        return ids

    def _deliver(self, carried: Message) -> None:
        reply = wire_copy(self.nodes[carried.metadata.dst_node_id].handle(carried))
        self.replied.append(reply)
        self._replies[carried.metadata.message_id] = reply

    def release(self, node: int) -> None:
        """The silent ``node`` wakes up and answers what it was sent meanwhile."""
        self.silent.discard(node)
        queued, self._queued = self._queued, []
        for carried in queued:
            if carried.metadata.dst_node_id == node:
                self._deliver(carried)
            else:
                self._queued.append(carried)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        replies = [self._replies.pop(i) for i in message_ids if i in self._replies]
        return [out for reply in replies for out in self._relay(reply)]

    def _relay(self, reply: Message) -> list[Message]:
        """``on_reply`` rewrites answers to instructions (handshake answers pass untouched)."""
        if reply.metadata.message_type.startswith("query."):
            return [reply]
        return self.on_reply(reply)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        ids = list(self.push_messages(messages))
        if self.clock is not None and timeout and any(i not in self._replies for i in ids):
            self.clock.sleep(timeout)  # Flower's grid waits the timeout for a missing reply
        return self.pull_messages(ids)

    def pushed_to(self, node: int, message_type: str = "train") -> list[Message]:
        """Instructions of ``message_type`` carried to ``node``."""
        return [
            m
            for m in self.pushed
            if m.metadata.dst_node_id == node and m.metadata.message_type == message_type
        ]


class FakeClock:
    """A clock that only moves when someone sleeps on it (or a test sets it)."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def model() -> list[np.ndarray]:
    """A small model with distinctive bytes (easy to spot on the wire)."""
    return [np.linspace(1.5, 99.25, 64).reshape(16, 4), np.arange(8, dtype=np.float64) + 0.125]
