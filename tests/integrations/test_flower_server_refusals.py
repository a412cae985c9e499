"""ServerApp-side refusals of the Flower integration (SealedGrid), on live flwr Messages.

No ray: a real SealedGrid over flower_fakes.FakeGrid with real sealed ClientApps; the test
plays the relay. Refused replies must reach the strategy as error replies, never content.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")

from flwr.app import ArrayRecord, Context, Message, RecordDict
from flwr.app.message import make_message

from sealpack import errors
from sealpack.api import seal
from sealpack.integrations.flower.binding import WIRE_VERSION, hello_metadata, reply_metadata
from sealpack.integrations.flower.errors import RefusedMessageError
from sealpack.integrations.flower.records import recorddict_to_plain
from sealpack.integrations.flower.wire import HELLO_RECORD, unwrap_blob, wrap_blob
from sealpack.keys import Identity, KeyBundle, KeyStore
from tests.integrations.flower_fakes import (
    PASSPHRASE,
    RUN_ID,
    model,
    wire_bytes,
    with_metadata,
)
from tests.integrations.flower_harness import (
    NODES,
    POISON,
    Federation,
    assert_accepted,
    assert_no_poison,
    assert_refused,
    by_node,
    flip_bit,
    poison_content,
    replace_reply,
    train,
)

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py


# --- the honest path: one seal per broadcast, nothing in the clear ----------------------


def test_honest_round_seals_the_broadcast_once_and_unseals_every_reply(fed: Federation) -> None:
    replies = by_node(train(fed, 1))
    assert sorted(replies) == list(NODES)
    for node in NODES:
        assert_accepted(replies[node][0], node)
        assert len(fed.nodes[node].seen) == 1
    assert [p["kind"] for p in fed.seals] == ["instruction"]  # one seal for 3 nodes
    assert fed.seals[0]["metadata"]["nodes"] == list(NODES)
    blobs = {unwrap_blob(fed.grid.pushed_to(n)[0].content, kind="instruction")[0] for n in NODES}
    assert len(blobs) == 1  # the very same blob went to all three
    train(fed, 2)  # sessions now: one shared body, a ticket per node (test_flower_tickets.py)
    assert [e.nodes for e in fed.sealed.events if e.action == "seal"] == [NODES, NODES]
    wire = b"".join(wire_bytes(m) for m in fed.grid.pushed)
    for array in model():
        raw = array.tobytes()
        assert not any(raw[i : i + 24] in wire for i in range(0, len(raw) - 24, 24))
    assert fed.sealed.refused == []


# --- replies the ServerApp must refuse ----------------------------------------------------


def test_unsealed_reply_is_refused(fed: Federation) -> None:
    fed.grid.on_reply = replace_reply(12, lambda r: make_message(r.metadata, poison_content()))
    replies = train(fed, 1)
    got = by_node(replies)
    assert_refused(got[12][0], RefusedMessageError)
    assert_accepted(got[11][0], 11)
    assert_accepted(got[13][0], 13)
    assert_no_poison(replies)
    assert fed.sealed.refused == [(12, "RefusedMessageError")]


def test_sealed_reply_with_extra_plaintext_record_is_refused(fed: Federation) -> None:
    def add_record(reply: Message) -> Message:
        content = RecordDict(dict(reply.content.items()))
        content["smuggled"] = ArrayRecord([POISON])
        return make_message(reply.metadata, content)

    fed.grid.on_reply = replace_reply(12, add_record)
    replies = train(fed, 1)
    assert_refused(by_node(replies)[12][0], RefusedMessageError)
    assert_no_poison(replies)


@pytest.mark.parametrize(
    ("position", "error"),
    [
        (0, None),
        (9, None),
        (200, errors.TamperedError),
        (-100, errors.TamperedError),
        (-1, errors.TamperedError),
    ],
)
def test_tampered_reply_is_refused(
    fed: Federation, position: int, error: type[Exception] | None
) -> None:
    """A bit flip anywhere is refused; inside the sealed body it is a TamperedError."""
    fed.grid.on_reply = replace_reply(
        12, lambda r: make_message(r.metadata, flip_bit(r.content, position, "reply"))
    )
    replies = train(fed, 1)
    got = by_node(replies)
    assert_refused(got[12][0], error)
    assert_accepted(got[11][0], 11)
    assert len(replies) == 3


def test_reply_delivered_twice_is_accepted_once(fed: Federation) -> None:
    fed.grid.on_reply = lambda r: [r, r] if r.metadata.src_node_id == 12 else [r]
    got = by_node(train(fed, 1))
    assert len(got[12]) == 2
    assert_accepted(got[12][0], 12)
    assert_refused(got[12][1], errors.ReplayError)


@pytest.mark.parametrize("withheld", [False, True], ids=["answered", "withheld"])
@pytest.mark.parametrize("relabel", [False, True], ids=["as-is", "relabelled"])
def test_reply_from_an_earlier_round_is_refused(
    fed: Federation, withheld: bool, relabel: bool
) -> None:
    """A round-1 reply (accepted then, or withheld by the relay) offered in round 2."""
    captured: list[Message] = []

    def capture(reply: Message) -> list[Message]:
        if reply.metadata.src_node_id != 12:
            return [reply]
        captured.append(reply)
        return [] if withheld else [reply]

    fed.grid.on_reply = capture
    first = by_node(train(fed, 1))
    assert (12 in first) is not withheld

    def stale(reply: Message) -> Message:
        old = captured[0]
        if not relabel:
            return old
        meta = reply.metadata  # make the old reply look like an answer of this round
        return with_metadata(
            old, group_id=meta.group_id, reply_to_message_id=meta.reply_to_message_id
        )

    fed.grid.on_reply = replace_reply(12, stale)
    got = by_node(train(fed, 2))
    assert_refused(got[12][0], errors.ReplayError)
    assert_accepted(got[13][0], 13)
    assert len(fed.nodes[12].seen) == 2  # the node did answer round 2; the relay swapped it


@pytest.mark.parametrize("source", [99, 13], ids=["unbound-node", "other-bound-node"])
def test_reply_relabelled_to_another_node_is_refused(fed: Federation, source: int) -> None:
    def relabel(reply: Message) -> list[Message]:
        node = reply.metadata.src_node_id
        if node == 12:
            return [with_metadata(reply, src_node_id=source)]
        return [] if node == source else [reply]

    fed.grid.on_reply = relabel
    got = by_node(train(fed, 1))
    assert 12 not in got
    assert_refused(got[source][0])
    assert len(got[source]) == 1
    assert_accepted(got[11][0], 11)


def _forge_reply(fed: Federation, signer: Identity, node: int) -> Callable[[Message], Message]:
    """A relay that knows every public fact (and the request id) seals its own reply."""

    def forge(reply: Message) -> Message:
        instruction = next(p for p in fed.seals if p["kind"] == "instruction")
        request = instruction["request"]
        payload = {
            "v": WIRE_VERSION,
            "kind": "reply",
            "request": request,
            "content": recorddict_to_plain(poison_content()),
        }
        metadata = reply_metadata(RUN_ID, "train", "1", node, request)
        server = fed.server.identity.bundle().with_one_time_prekeys(())
        blob = seal(payload, sender=signer, recipients=[server], metadata=metadata)
        wire = wrap_blob(blob, kind="reply", sender=signer.name, request=request)
        return make_message(reply.metadata, wire)

    return forge


@pytest.mark.parametrize("signer", ["impostor", "client-13", "client-12"])
def test_reply_sealed_by_another_identity_is_refused(
    fed: Federation, tmp_path: Path, signer: str
) -> None:
    if signer == "impostor":
        identity = Identity.generate("client-12")  # same name, keys nobody trusts
        store = None
    else:
        store = KeyStore.open(tmp_path / signer, passphrase=PASSPHRASE)
        identity = store.identity
    fed.grid.on_reply = replace_reply(12, _forge_reply(fed, identity, 12))
    replies = train(fed, 1)
    reply = by_node(replies)[12][0]
    if store is not None:
        store.close()
    if signer == "client-12":  # control: the bound identity's own seal is what is accepted
        assert not reply.has_error()
        assert reply.content.array_records["arrays"].to_numpy_ndarrays()[0][0] == POISON[0]
        return
    assert_refused(reply)
    assert_no_poison(replies)


# --- the key handshake ----------------------------------------------------------------


def _crafted_hello(
    signer: Identity,
    *,
    challenge: bytes | None = None,
    bundle: KeyBundle | None = None,
    node: int | None = None,
) -> Callable[[Message, Context], Message]:
    """A node's hello handler answering with chosen (possibly wrong) fields."""

    def answer(message: Message, context: Context) -> Message:
        record = message.content[HELLO_RECORD]
        server = KeyBundle.from_json(record["server-bundle"]).with_one_time_prekeys(())
        payload = {
            "v": WIRE_VERSION,
            "kind": "hello",
            "bundle": (bundle or signer.bundle()).to_json(),
        }
        metadata = hello_metadata(
            message.metadata.run_id,
            context.node_id if node is None else node,
            record["challenge"] if challenge is None else challenge,
        )
        blob = seal(payload, sender=signer, recipients=[server], metadata=metadata)
        return Message(wrap_blob(blob, kind="hello", sender=signer.name), reply_to=message)

    return answer


def _unsealed_hello(message: Message, context: Context) -> Message:
    return Message(RecordDict({"arrays": ArrayRecord([POISON])}), reply_to=message)


HOSTILE_HELLOS: dict[str, Callable[[Identity, Identity], Any]] = {
    "wrong-challenge": lambda own, other: _crafted_hello(own, challenge=os.urandom(32)),
    "foreign-bundle": lambda own, other: _crafted_hello(own, bundle=other.bundle()),
    "other-node-id": lambda own, other: _crafted_hello(own, node=13),
    "untrusted-identity": lambda own, other: _crafted_hello(other),
    "other-trusted-identity": lambda own, other: "client-11",
    "unsealed": lambda own, other: _unsealed_hello,
}


@pytest.mark.parametrize("variant", [*HOSTILE_HELLOS, "control"])
def test_node_failing_the_handshake_receives_nothing(
    fed: Federation, tmp_path: Path, variant: str
) -> None:
    store = KeyStore.open(tmp_path / "client-12", passphrase=PASSPHRASE)
    impostor = Identity.generate("client-12")  # same name, other keys
    node = fed.nodes[12]
    if variant == "control":
        node.hello = _crafted_hello(store.identity)  # the crafting itself is sound
    else:
        chosen = HOSTILE_HELLOS[variant](store.identity, impostor)
        if chosen == "client-11":  # node 12 presents the identity already bound to node 11
            node.keystore = tmp_path / "client-11"
            node.__post_init__()
        else:
            node.hello = chosen
    replies = by_node(train(fed, 1))
    store.close()
    if variant == "control":
        assert fed.sealed.bound_nodes[12] == "client-12"
        return
    assert 12 not in fed.sealed.bound_nodes
    assert sorted(fed.sealed.bound_nodes.values()) == ["client-11", "client-13"]
    assert fed.grid.pushed_to(12) == []
    assert node.seen == []
    assert sorted(replies) == [11, 13]
    assert fed.sealed.refused and fed.sealed.refused[0][0] == 12


def test_withheld_reply_cannot_answer_another_message_type(fed: Federation) -> None:
    """A train reply withheld by the relay and offered while the server awaits evaluate."""
    withheld: list[Message] = []

    def withhold(reply: Message) -> list[Message]:
        if reply.metadata.src_node_id == 12:
            withheld.append(reply)
            return []
        return [reply]

    fed.grid.on_reply = withhold
    train(fed, 1)
    fed.grid.on_reply = replace_reply(12, lambda reply: withheld[0])
    got = by_node(train(fed, 1, message_type="evaluate"))
    assert_refused(got[12][0], errors.ReplayError)
    assert not got[13][0].has_error()
