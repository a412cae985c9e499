"""Broadcasts over ratchet sessions (issue 15): one shared body, one ticket per node.

After round 1 (sealed broadcast, sealed starts back) every node holds a session, so a
broadcast is one body encrypted once plus a ratchet ticket per node carrying the body's
key, digest and the instruction's context. The test plays the relay against the body and
the tickets; every refusal leaves the app untouched, the honest nodes' round goes on, and
the victim takes part again afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.app.message import make_message

from sealpack import errors
from sealpack.api import inspect
from sealpack.envelope import parallel
from sealpack.integrations.flower.errors import BroadcastBodyError, RefusedMessageError
from sealpack.integrations.flower.sessions import ServerSessions
from sealpack.integrations.flower.wire import unwrap_info, unwrap_instruction
from sealpack.session import UnknownSessionError, is_session_message
from tests.integrations.flower_fakes import FakeGrid, model, with_metadata
from tests.integrations.flower_harness import NODES, Federation, assert_accepted, by_node, train

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py


def _parts(message: Message) -> tuple[bytes, bytes | None]:
    return unwrap_instruction(message.content)


def _carrying(message: Message, ticket: bytes | None, body: bytes | None) -> Message:
    """``message`` (same routing) with another ticket and/or body, as a relay could."""
    arrays = ArrayRecord()
    if ticket is not None:
        arrays["blob"] = Array("uint8", (len(ticket),), "sealpack.envelope", ticket)
    if body is not None:
        arrays["body"] = Array("uint8", (len(body),), "sealpack.body", body)
    content = RecordDict({"sealpack": arrays, "sealpack-info": message.content["sealpack-info"]})
    return make_message(message.metadata, content=content)


def _held_round(fed: Federation, server_round: int, node: int = 11) -> tuple[list, Message]:
    """Run a broadcast round while the relay keeps ``node``'s instruction back."""
    fed.grid.held.add(node)
    replies = train(fed, server_round)
    fed.grid.held.discard(node)
    for reply in replies:
        assert_accepted(reply, reply.metadata.src_node_id)
    assert sorted(by_node(replies)) == [n for n in NODES if n != node]  # the round went on
    return replies, fed.grid.pushed_to(node)[-1]


@contextmanager
def decryptions() -> Iterator[list[int]]:
    """Count chunk decryptions (a refused body must never reach one)."""
    calls: list[int] = []
    real = parallel.decrypt_chunks

    def spy(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        real(*args, **kwargs)

    parallel.decrypt_chunks = spy  # type: ignore[assignment]
    try:
        yield calls
    finally:
        parallel.decrypt_chunks = real  # type: ignore[assignment]


def _refused_on_node(fed: Federation, message: Message, error: type[Exception]) -> list[int]:
    node = fed.nodes[message.metadata.dst_node_id]
    seen = len(node.seen)
    with decryptions() as calls:
        node.handle(message)
    assert isinstance(node.raised[-1], error), node.raised[-1]
    assert len(node.seen) == seen  # the app never ran
    return calls


def _all_accepted(replies: list[Message]) -> None:
    assert sorted(by_node(replies)) == list(NODES)
    for reply in replies:
        assert_accepted(reply, reply.metadata.src_node_id)


def test_broadcast_after_the_first_round_is_one_body_and_a_ticket_per_node(
    fed: Federation,
) -> None:
    _all_accepted(train(fed, 1))
    _all_accepted(train(fed, 2))
    parts = [_parts(fed.grid.pushed_to(n)[-1]) for n in NODES]
    assert all(is_session_message(ticket) and body is not None for ticket, body in parts)
    assert len({body for _, body in parts}) == 1 and len({t for t, _ in parts}) == 3
    wire_body = parts[0][1]
    assert wire_body is not None
    for array in model():  # the shared body is ciphertext
        assert array.tobytes()[:24] not in wire_body
    assert [e.nodes for e in fed.sealed.events if e.action == "seal"] == [NODES, NODES]


def _other_broadcast_body(fed: Federation) -> tuple[list, Message, bytes]:
    """Round 3 pushes train and evaluate together; node 13's evaluate body, node 11's train."""
    content = RecordDict({"arrays": ArrayRecord(model()), "config": ConfigRecord({"r": 3})})
    other = RecordDict({"config": ConfigRecord({"evaluate": 1})})
    messages = [Message(content, n, "train", group_id="3") for n in NODES]
    messages += [Message(other, n, "evaluate", group_id="3") for n in NODES]
    fed.grid.held.add(11)
    replies = list(fed.sealed.send_and_receive(messages))
    fed.grid.held.discard(11)
    body = _parts(fed.grid.pushed_to(13, "evaluate")[-1])[1]
    assert body is not None
    return replies, fed.grid.pushed_to(11)[-1], body


@pytest.mark.parametrize("swap", ["earlier-round", "other-broadcast", "bit-flip", "truncated"])
def test_swapped_or_altered_body_is_refused_before_any_decryption(
    fed: Federation, swap: str
) -> None:
    _all_accepted(train(fed, 1))
    _all_accepted(train(fed, 2))
    old_body = _parts(fed.grid.pushed_to(11)[-1])[1]
    assert old_body is not None
    if swap == "other-broadcast":
        replies, instruction, body = _other_broadcast_body(fed)
        assert not any(r.has_error() for r in replies) and len(replies) == 4
    else:
        _, instruction = _held_round(fed, 3)
        ticket, real = _parts(instruction)
        assert real is not None
        flipped = bytearray(real)
        flipped[len(real) // 2] ^= 0x01
        body = {"earlier-round": old_body, "bit-flip": bytes(flipped)}.get(swap, real[:-1])
    ticket = _parts(instruction)[0]
    calls = _refused_on_node(fed, _carrying(instruction, ticket, body), BroadcastBodyError)
    assert calls == []  # the digest is checked before the body is decrypted
    assert isinstance(fed.nodes[11].raised[-1], RefusedMessageError | errors.TamperedError)
    _all_accepted(train(fed, 4))  # node 11 takes part again (its next ticket)


def test_tampered_ticket_is_refused(fed: Federation) -> None:
    _all_accepted(train(fed, 1))
    _all_accepted(train(fed, 2))
    _, instruction = _held_round(fed, 3)
    ticket, body = _parts(instruction)
    flipped = bytearray(ticket)
    flipped[-5] ^= 0x01
    calls = _refused_on_node(
        fed, _carrying(instruction, bytes(flipped), body), errors.TamperedError
    )
    assert calls == []
    fed.nodes[11].handle(instruction)  # the genuine ticket still opens
    assert len(fed.nodes[11].seen) == 3
    _all_accepted(train(fed, 4))


def test_replayed_ticket_is_refused(fed: Federation) -> None:
    _all_accepted(train(fed, 1))
    _all_accepted(train(fed, 2))
    old = fed.grid.pushed_to(11)[-1]  # round 2's ticket and body, already opened
    _, instruction = _held_round(fed, 3)
    assert _refused_on_node(fed, old, errors.ReplayError) == []
    new_ticket = _parts(instruction)[0]  # today's ticket with yesterday's body, and back
    _refused_on_node(fed, _carrying(instruction, new_ticket, _parts(old)[1]), BroadcastBodyError)
    _refused_on_node(fed, instruction, errors.ReplayError)  # that ticket was used up
    _all_accepted(train(fed, 4))


@pytest.mark.parametrize("drop", ["ticket", "body"])
def test_instruction_missing_its_ticket_or_body_is_refused(fed: Federation, drop: str) -> None:
    _all_accepted(train(fed, 1))
    _all_accepted(train(fed, 2))
    _, instruction = _held_round(fed, 3)
    ticket, body = _parts(instruction)
    if drop == "ticket":
        stripped = _carrying(instruction, None, body)
        _refused_on_node(fed, stripped, RefusedMessageError)  # malformed: no blob
    else:  # a ticket alone is no single-node instruction
        _refused_on_node(fed, _carrying(instruction, ticket, None), errors.SchemaError)
    _all_accepted(train(fed, 4))


def test_dropped_instruction_costs_the_node_one_round_only(fed: Federation) -> None:
    _all_accepted(train(fed, 1))
    _all_accepted(train(fed, 2))
    _held_round(fed, 3)  # never delivered: its ticket's key is skipped, then kept
    _all_accepted(train(fed, 4))
    assert len(fed.nodes[11].seen) == 3


def _relay_instructions(grid: FakeGrid, rewrite: Callable[[Message], Message]) -> None:
    deliver = FakeGrid._deliver.__get__(grid)
    grid._deliver = lambda carried: deliver(rewrite(carried))  # type: ignore[method-assign]


def test_ticket_of_another_node_is_refused_and_the_node_starts_again(fed: Federation) -> None:
    _all_accepted(train(fed, 1))
    _all_accepted(train(fed, 2))
    tickets: dict[int, Message] = {}

    def give_12s_ticket_to_11(carried: Message) -> Message:
        node = carried.metadata.dst_node_id
        tickets[node] = carried
        if node == 11 and 12 in tickets:
            ticket, body = _parts(tickets[12])
            return _carrying(carried, ticket, body)
        return carried

    _relay_instructions(fed.grid, give_12s_ticket_to_11)
    content = RecordDict({"arrays": ArrayRecord(model()), "config": ConfigRecord({"r": 3})})
    messages = [Message(content, n, "train", group_id="3") for n in (13, 12, 11)]
    replies = by_node(list(fed.sealed.send_and_receive(messages)))
    assert isinstance(fed.nodes[11].raised[-1], UnknownSessionError)
    assert replies[11][0].has_error() and len(fed.nodes[11].seen) == 2
    for node in (12, 13):
        assert_accepted(replies[node][0], node)
    fed.grid._deliver = FakeGrid._deliver.__get__(fed.grid)  # type: ignore[method-assign]
    _all_accepted(train(fed, 4))  # the server dropped 11's session: a sealed blob to 11
    blob, body = _parts(fed.grid.pushed_to(11)[-1])
    assert body is None and inspect(blob).metadata["nodes"] == [11]
    _all_accepted(train(fed, 5))
    assert is_session_message(_parts(fed.grid.pushed_to(11)[-1])[0])


@pytest.mark.parametrize("wrong", ["round", "expired"])
def test_ticket_in_another_context_never_reaches_the_body(
    fed: Federation, wrong: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealpack.integrations.flower import sessions

    _all_accepted(train(fed, 1))
    _all_accepted(train(fed, 2))
    _, instruction = _held_round(fed, 3)
    if wrong == "round":
        message, error = with_metadata(instruction, group_id="9"), errors.ContextMismatchError
    else:
        later = sessions.time.time() + 3600 + 60  # past the default instruction expiry
        monkeypatch.setattr(sessions.time, "time", lambda: later)
        message, error = instruction, errors.ExpiredError
    assert _refused_on_node(fed, message, error) == []


def test_node_that_lost_its_session_gets_back_to_a_sealed_start(
    fed: Federation, tmp_path: Path
) -> None:
    _all_accepted(train(fed, 1))
    _all_accepted(train(fed, 2))
    shutil.rmtree(tmp_path / "client-11" / "sessions")
    replies = by_node(train(fed, 3))
    assert replies[11][0].has_error()  # UnknownSessionError on the node
    assert isinstance(fed.nodes[11].raised[-1], UnknownSessionError)
    for node in (12, 13):
        assert_accepted(replies[node][0], node)
    _all_accepted(train(fed, 4))  # 11: a sealed blob and a sealed start; 12, 13: tickets
    blob, body = _parts(fed.grid.pushed_to(11)[-1])
    assert body is None and inspect(blob).metadata["nodes"] == [11]
    reply = [r for r in fed.grid.replied if r.metadata.src_node_id == 11][-1]
    assert not is_session_message(unwrap_info(reply.content, kind="reply")[0])
    assert all(_parts(fed.grid.pushed_to(n)[-1])[1] is not None for n in (12, 13))
    _all_accepted(train(fed, 5))
    assert all(_parts(fed.grid.pushed_to(n)[-1])[1] is not None for n in NODES)


def test_one_ticket_that_cannot_be_sealed_does_not_fail_the_broadcast(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    _all_accepted(train(fed, 1))
    real = ServerSessions.seal_instruction

    def refuse_12(self: ServerSessions, node: int, obj: dict[str, Any]) -> bytes:
        if node == 12:
            raise errors.KeyStoreLockedError("the server's key store is busy")
        return real(self, node, obj)

    monkeypatch.setattr(ServerSessions, "seal_instruction", refuse_12)
    got = by_node(train(fed, 2))
    assert 12 not in got and (12, "KeyStoreLockedError") in fed.sealed.refused
    for node in (11, 13):
        assert_accepted(got[node][0], node)
    monkeypatch.setattr(ServerSessions, "seal_instruction", real)
    _all_accepted(train(fed, 3))
