"""A node process killed between receiving and handling an instruction (issue 17, Flower).

Node 12's ClientApp runs in a forked child process that the test kills (SIGKILL) inside
the app, after the instruction was opened. As Flower's SuperNode does, the crash becomes
a ``CLIENT_APP_CRASHED`` error reply; Flower never redelivers the instruction. What
sealpack guarantees (docs/integrations/flower.md): the instruction is acted on at most
once, and the node takes part in the next round with its key store intact.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
from typing import Any

import pytest

pytest.importorskip("flwr")
if sys.platform == "win32":
    pytest.skip("needs fork", allow_module_level=True)

from flwr.app import Context, Error, Message
from flwr.common.constant import ErrorCode
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents

from sealpack import errors
from sealpack.integrations.flower.client_keys import close_all
from tests.integrations.flower_fakes import FakeNode
from tests.integrations.flower_harness import Federation, assert_accepted, by_node, train

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py


class _DieOnTraining(list):  # type: ignore[type-arg]
    """The train handler's first act (recording what it got) kills its process."""

    def append(self, item: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def _in_child(node: FakeNode, message: Message, kill: bool, conn: Any) -> None:
    """The node's process: handle one message (dying inside the app when ``kill``)."""
    if kill:
        node.seen = _DieOnTraining()
    before = len(node.seen)
    reply = node.handle(message)
    failure = type(node.raised[-1]).__name__ if node.raised else None
    contents = {oid: obj.deflate() for oid, obj in get_all_nested_objects(reply).items()}
    conn.send(pickle.dumps((reply.object_id, contents, failure, len(node.seen) - before)))
    conn.close()


class ProcessNode:
    """Runs node ``node``'s ClientApp in a fresh forked process per message."""

    def __init__(self, node: FakeNode) -> None:
        self.node = node
        self.kill_next = False
        self.failures: list[str | None] = []
        self.trained = 0

    def handle(self, message: Message) -> Message:
        close_all()  # never carry open SQLite handles across fork
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe(duplex=False)
        kill, self.kill_next = self.kill_next, False
        process = ctx.Process(target=_in_child, args=(self.node, message, kill, child))
        process.start()
        child.close()
        try:
            got = parent.recv() if parent.poll(60) else None
        except EOFError:  # the child died before answering
            got = None
        process.join(60)
        if got is None:  # the SuperNode notices the crash and answers for it
            assert process.exitcode == -signal.SIGKILL
            error = Error(ErrorCode.CLIENT_APP_CRASHED, "ClientApp stopped responding.")
            return Message(error, reply_to=message)
        object_id, contents, failure, seen = pickle.loads(got)
        self.failures.append(failure)
        self.trained += seen  # instructions the app was given in child processes
        reply: Message = inflate_object_from_contents(object_id, contents)
        reply.metadata.__dict__["_message_id"] = object_id
        return reply


def test_node_killed_inside_the_app_acts_at_most_once_and_takes_the_next_round(
    fed: Federation,
) -> None:
    train(fed, 1)
    proxy = ProcessNode(fed.nodes[12])
    fed.grid.nodes[12] = proxy  # type: ignore[assignment]
    proxy.kill_next = True
    got = by_node(train(fed, 2))
    assert got[12][0].has_error() and got[12][0].error.code == ErrorCode.CLIENT_APP_CRASHED
    for node in (11, 13):
        assert_accepted(got[node][0], node)
    # A redelivery of the instruction the dead process had opened is refused: at most once.
    (opened_by_the_dead,) = fed.grid.pushed_to(12)[-1:]
    refused = proxy.handle(opened_by_the_dead)
    assert refused.has_error() and proxy.failures[-1] == errors.ReplayError.__name__
    # The restarted node takes part in the next round with its key store intact.
    got = by_node(train(fed, 3))
    assert_accepted(got[12][0], 12)
    assert proxy.failures[-1] is None and proxy.trained == 1
    assert isinstance(fed.nodes[12].context, Context)
