"""Ratchet sessions in the Flower integration (issue 15), over the FakeGrid harness.

A node's first reply is a sealed start; after it, an instruction to that single node and
the node's reply are ratchet messages with their context inside, checked before the app
or the strategy sees anything. Broadcasts to nodes with a session are a shared body plus
a ticket per node (test_flower_tickets.py). The relay replays, swaps, drops and forges
error replies; nodes and the server lose their session state; either side can opt out.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from flwr.app import ArrayRecord, ConfigRecord, Error, Message, RecordDict
from flwr.app.message import make_message
from flwr.common.constant import ErrorCode

from sealpack import errors
from sealpack.integrations.flower.wire import unwrap_info, unwrap_instruction, wrap_blob
from sealpack.session import StoreStorage, is_session_message
from tests.integrations.flower_fakes import FakeNode, model, with_metadata
from tests.integrations.flower_harness import (
    NODES,
    Federation,
    assert_accepted,
    assert_refused,
    build_federation,
    by_node,
    train,
)

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py


def train_each(fed: Federation, server_round: int, nodes: tuple[int, ...] = NODES) -> list:
    """One instruction per node (a RecordDict each: single-node instructions)."""
    messages = [
        Message(_content(server_round), n, "train", group_id=str(server_round)) for n in nodes
    ]
    return list(fed.sealed.send_and_receive(messages))


def _content(server_round: int) -> RecordDict:
    config = ConfigRecord({"server-round": server_round})
    return RecordDict({"arrays": ArrayRecord(model()), "config": config})


def _blob(message: Message, kind: str) -> bytes:
    return unwrap_info(message.content, kind=kind)[0]


def _last_instruction(fed: Federation, node: int) -> bytes:
    return unwrap_instruction(fed.grid.pushed_to(node)[-1].content)[0]


def _last_reply(fed: Federation, node: int) -> Message:
    return [r for r in fed.grid.replied if r.metadata.src_node_id == node][-1]


def _established(fed: Federation) -> None:
    """Round 1 (broadcast, sealed starts back), round 2 (ratchet both ways)."""
    for reply in train(fed, 1) + train_each(fed, 2):
        assert_accepted(reply, reply.metadata.src_node_id)


def test_single_node_instructions_and_replies_go_through_sessions(fed: Federation) -> None:
    replies = by_node(train(fed, 1))  # a broadcast: one sealed blob, sealed starts back
    for node in NODES:
        assert_accepted(replies[node][0], node)
        assert not is_session_message(_last_instruction(fed, node))
        assert not is_session_message(_blob(_last_reply(fed, node), "reply"))
    for server_round in (2, 3):
        replies = by_node(train_each(fed, server_round))
        for node in NODES:
            assert_accepted(replies[node][0], node)
            assert is_session_message(_last_instruction(fed, node))
            assert is_session_message(_blob(_last_reply(fed, node), "reply"))
            seen = fed.nodes[node].seen[-1]
            assert seen.config_records["config"]["server-round"] == server_round
    for reply in train(fed, 4):  # a broadcast: one shared body, a ticket per node
        node = reply.metadata.src_node_id
        assert_accepted(reply, node)
        assert is_session_message(_last_instruction(fed, node))
        assert is_session_message(_blob(_last_reply(fed, node), "reply"))
    assert fed.sealed.refused == []


def test_replayed_ratchet_reply_is_refused_and_the_round_goes_on(fed: Federation) -> None:
    _established(fed)
    old = _blob(_last_reply(fed, 11), "reply")  # node 11's ratchet reply of round 2

    def replay(reply: Message) -> list[Message]:
        if reply.metadata.src_node_id != 11:
            return [reply]
        _, info = unwrap_info(reply.content, kind="reply")  # claim the current request
        content = wrap_blob(old, kind="reply", sender=str(info["sender"]), request=info["request"])
        return [make_message(reply.metadata, content=content)]

    fed.grid.on_reply = replay
    replies = by_node(train_each(fed, 3))
    assert_refused(replies[11][0], errors.ReplayError)
    for node in (12, 13):
        assert_accepted(replies[node][0], node)
    fed.grid.on_reply = lambda reply: [reply]
    for reply in train_each(fed, 4):  # node 11's session still works
        assert_accepted(reply, reply.metadata.src_node_id)


def test_ratchet_reply_in_another_context_is_refused(fed: Federation) -> None:
    _established(fed)
    messages = [
        Message(_content(3), 11, "train", group_id="3"),
        Message(_content(3), 11, "evaluate", group_id="3"),
        Message(_content(3), 12, "train", group_id="3"),
    ]

    def swap(reply: Message) -> list[Message]:
        if reply.metadata.src_node_id != 11:
            return [reply]
        other = next(
            r
            for r in fed.grid.replied[-3:]
            if r.metadata.src_node_id == 11
            and r.metadata.message_type != reply.metadata.message_type
        )
        _, info = unwrap_info(reply.content, kind="reply")  # its own claim, the other blob
        blob = _blob(other, "reply")
        assert is_session_message(blob)
        content = wrap_blob(blob, kind="reply", sender=str(info["sender"]), request=info["request"])
        return [make_message(reply.metadata, content=content)]

    fed.grid.on_reply = swap
    replies = list(fed.sealed.send_and_receive(messages))
    for reply in replies:
        if reply.metadata.src_node_id == 11:
            assert_refused(reply, errors.ContextMismatchError)
        else:
            assert_accepted(reply, 12)
    fed.grid.on_reply = lambda reply: [reply]
    for reply in train_each(fed, 4):
        assert_accepted(reply, reply.metadata.src_node_id)


def test_ratchet_instruction_in_another_context_never_reaches_the_app(fed: Federation) -> None:
    _established(fed)
    fed.grid.held.add(11)  # the relay keeps node 11's instruction back
    train_each(fed, 3)
    instruction = fed.grid.pushed_to(11)[-1]
    assert is_session_message(_blob(instruction, "instruction"))
    node = fed.nodes[11]
    seen = len(node.seen)
    node.handle(with_metadata(instruction, group_id="9"))  # delivered in another round
    assert isinstance(node.raised[-1], errors.ContextMismatchError)
    node.handle(instruction)  # its message key is gone: the relay can only drop it
    assert isinstance(node.raised[-1], errors.ReplayError)
    assert len(node.seen) == seen
    fed.grid.held.clear()
    for reply in train_each(fed, 4):
        assert_accepted(reply, reply.metadata.src_node_id)


def _forget_sessions(store: Path) -> None:
    shutil.rmtree(store / "sessions")


def test_node_or_server_that_lost_its_sessions_gets_back_to_a_sealed_start(
    fed: Federation, tmp_path: Path
) -> None:
    _established(fed)
    _forget_sessions(tmp_path / "client-11")  # node 11 restored an old key store
    replies = by_node(train_each(fed, 3))
    assert replies[11][0].has_error()  # UnknownSessionError on the node: nothing opened
    assert len(fed.nodes[11].seen) == 2
    replies = by_node(train_each(fed, 4))  # the server dropped the session: sealed again
    assert_accepted(replies[11][0], 11)
    assert not is_session_message(_last_instruction(fed, 11))
    assert not is_session_message(_blob(_last_reply(fed, 11), "reply"))  # a sealed start
    _forget_sessions(tmp_path / "server")  # now the server loses them (all nodes)
    for reply in train_each(fed, 5):  # sealed instructions name no session: starts again
        assert_accepted(reply, reply.metadata.src_node_id)
        assert not is_session_message(_last_instruction(fed, reply.metadata.src_node_id))
    for reply in train_each(fed, 6):
        node = reply.metadata.src_node_id
        assert_accepted(reply, node)
        assert is_session_message(_last_instruction(fed, node))
        assert is_session_message(_blob(_last_reply(fed, node), "reply"))


def test_a_node_can_opt_out(fed: Federation, tmp_path: Path) -> None:
    old = fed.nodes[11]
    fed.nodes[11] = fed.grid.nodes[11] = FakeNode(
        11, old.keystore, old.server_bundle, mod_options={"sessions": False}
    )
    for replies in (train(fed, 1), train_each(fed, 2), train_each(fed, 3)):
        for reply in replies:
            assert_accepted(reply, reply.metadata.src_node_id)
        assert not is_session_message(_last_instruction(fed, 11))
        assert not is_session_message(_blob(_last_reply(fed, 11), "reply"))
    assert not (tmp_path / "client-11" / "sessions").exists()
    assert is_session_message(_last_instruction(fed, 12))  # the others still use theirs
    assert is_session_message(_blob(_last_reply(fed, 12), "reply"))


def test_the_server_can_opt_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fed = build_federation(tmp_path, monkeypatch, sessions=False)
    for replies in (train(fed, 1), train_each(fed, 2), train_each(fed, 3)):
        for reply in replies:
            node = reply.metadata.src_node_id
            assert_accepted(reply, node)
            assert not is_session_message(_last_instruction(fed, node))
            assert not is_session_message(_blob(_last_reply(fed, node), "reply"))
    for node in NODES:
        assert not (tmp_path / f"client-{node}" / "sessions").exists()
    assert not (tmp_path / "server" / "sessions").exists()


def test_expired_ratchet_instruction_never_reaches_the_app(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealpack.integrations.flower import sessions

    _established(fed)
    fed.grid.held.add(11)
    train_each(fed, 3)
    instruction = fed.grid.pushed_to(11)[-1]
    node, seen = fed.nodes[11], len(fed.nodes[11].seen)
    later = sessions.time.time() + 3600 + 60  # past the default instruction expiry
    monkeypatch.setattr(sessions.time, "time", lambda: later)
    node.handle(instruction)
    assert isinstance(node.raised[-1], errors.ExpiredError)
    assert len(node.seen) == seen


def _crash(node: int, message_type: str) -> Callable[[Message], list[Message]]:
    """The relay turns ``node``'s reply to ``message_type`` into CLIENT_APP_CRASHED (what a
    SuperNode writes when the ClientApp process died; a relay can forge it as well)."""

    def hook(reply: Message) -> list[Message]:
        meta = reply.metadata
        if (meta.src_node_id, meta.message_type) != (node, message_type):
            return [reply]
        crashed = Error(ErrorCode.CLIENT_APP_CRASHED, "ClientApp stopped responding")
        return [make_message(meta, error=crashed)]

    return hook


def test_an_error_reply_keeps_the_nodes_ratchet_replies_in_flight_openable(
    fed: Federation,
) -> None:
    """Attack: a Flower error reply to one of node 11's two instructions, pulled first.
    Before: the server deleted node 11's session states, so its authentic ratchet reply
    to the other, pulled next, was refused (UnknownSessionError): an honest update lost.
    Now the session is withdrawn for sending only: the next instruction is sealed, the
    node starts anew, and once that start is accepted its session carries them again."""
    _established(fed)
    fed.grid.on_reply = _crash(11, "evaluate")
    pushed = [Message(_content(3), 11, kind, group_id="3") for kind in ("train", "evaluate")]
    ids = list(fed.sealed.push_messages(pushed))
    [failed] = fed.sealed.pull_messages([ids[1]])  # the fast failure comes in first
    assert failed.has_error() and failed.error.code == ErrorCode.CLIENT_APP_CRASHED
    [trained] = fed.sealed.pull_messages([ids[0]])  # the authentic ratchet reply to train
    assert_accepted(trained, 11)
    fed.grid.on_reply = lambda reply: [reply]
    replies = by_node(train_each(fed, 4))
    assert_accepted(replies[11][0], 11)
    assert not is_session_message(_last_instruction(fed, 11))  # withdrawn: sealed
    assert not is_session_message(_blob(_last_reply(fed, 11), "reply"))  # a new start
    assert is_session_message(_last_instruction(fed, 12))  # the others keep theirs
    for reply in train_each(fed, 5):  # the accepted start restored node 11's session
        assert_accepted(reply, reply.metadata.src_node_id)
        assert is_session_message(_last_instruction(fed, reply.metadata.src_node_id))
    assert fed.sealed.refused == []


def test_an_error_reply_never_aborts_the_pull_when_the_server_store_fails(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: an error reply deleted the node's session states in the server's key store
    outside the per-reply handling, so a locked store aborted the whole pull and every
    node's reply of the round was lost. Now an error reply writes nothing, and a reply
    that fails to open for the store is a refusal of that node only (issue 10.5)."""
    _established(fed)
    fed.grid.on_reply = _crash(11, "train")
    pushed = [Message(_content(3), n, "train", group_id="3") for n in NODES]
    ids = list(fed.sealed.push_messages(pushed))

    def locked(self: StoreStorage, peer_ik: bytes) -> None:
        raise errors.KeyStoreLockedError("the key store is locked by another process")

    with monkeypatch.context() as patched:
        patched.setattr(StoreStorage, "transaction", locked)
        got = by_node(list(fed.sealed.pull_messages(ids)))
    assert got[11][0].error.code == ErrorCode.CLIENT_APP_CRASHED
    for node in (12, 13):
        assert_refused(got[node][0], errors.KeyStoreLockedError)
    fed.grid.on_reply = lambda reply: [reply]
    for reply in train_each(fed, 4):  # the store is back: every node takes part again
        assert_accepted(reply, reply.metadata.src_node_id)
