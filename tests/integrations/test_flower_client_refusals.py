"""ClientApp-side refusals of the Flower integration (the sealpack mod), on live Messages.

Genuine sealed instructions come from a real SealedGrid over flower_fakes.FakeGrid; the
test then hands hostile variants to the real sealed ClientApp. The app never sees them.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest.importorskip("flwr")

from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.app.message import make_message

from sealpack import errors
from sealpack.api import seal
from sealpack.integrations.flower.binding import WIRE_VERSION, instruction_metadata
from sealpack.integrations.flower.errors import RefusedMessageError
from sealpack.integrations.flower.handshake import hello_message
from sealpack.integrations.flower.records import recorddict_to_plain
from sealpack.integrations.flower.wire import unwrap_blob, wrap_blob
from sealpack.keys import Identity
from tests.integrations.flower_fakes import (
    RUN_ID,
    FakeNode,
    model,
    with_metadata,
)
from tests.integrations.flower_harness import (
    POISON,
    Federation,
    flip_bit,
    poison_content,
    train,
)

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py


# --- instructions the ClientApp must refuse --------------------------------------------


def _held_instruction(fed: Federation, node: int = 12) -> Message:
    """A genuine sealed instruction for ``node`` that the relay has not delivered yet."""
    fed.grid.held.add(node)
    train(fed, 1)
    fed.grid.held.discard(node)
    (instruction,) = fed.grid.pushed_to(node)
    return instruction


def assert_client_refused(node: FakeNode, reply: Message, error: type[Exception]) -> None:
    assert reply.has_error() and not reply.has_content()
    assert isinstance(node.raised[-1], error), node.raised
    assert node.seen == []


def test_client_refuses_an_unsealed_instruction(fed: Federation) -> None:
    node = fed.nodes[12]
    plain = Message(RecordDict({"arrays": ArrayRecord(model())}), 12, "train", group_id="1")
    assert_client_refused(node, node.handle(plain), RefusedMessageError)


@pytest.mark.parametrize(
    ("position", "error"),
    [(0, errors.SealpackError), (200, errors.TamperedError), (-1, errors.TamperedError)],
)
def test_client_refuses_a_tampered_instruction(
    fed: Federation, position: int, error: type[Exception]
) -> None:
    instruction = _held_instruction(fed)
    node = fed.nodes[12]
    tampered = make_message(
        instruction.metadata, flip_bit(instruction.content, position, "instruction")
    )
    assert_client_refused(node, node.handle(tampered), error)
    assert not node.handle(instruction).has_error()  # control: the original still opens
    assert len(node.seen) == 1


def test_client_refuses_a_replayed_instruction(fed: Federation) -> None:
    instruction = _held_instruction(fed)
    node = fed.nodes[12]
    assert not node.handle(instruction).has_error()
    replayed = node.handle(instruction)
    assert replayed.has_error() and isinstance(node.raised[-1], errors.ReplayError)
    assert len(node.seen) == 1


def test_client_refuses_an_instruction_from_an_earlier_round(fed: Federation) -> None:
    node = fed.nodes[12]
    train(fed, 1)
    old = fed.grid.pushed_to(12)[0]
    train(fed, 2)
    assert len(node.seen) == 2
    for stale in (old, with_metadata(old, group_id="3")):
        assert node.handle(stale).has_error()
        assert isinstance(node.raised[-1], errors.ReplayError | errors.ContextMismatchError)
    assert len(node.seen) == 2


@pytest.mark.parametrize(
    "changes",
    [{"group_id": "7"}, {"message_type": "evaluate"}, {"run_id": RUN_ID + 1}],
    ids=["other-round", "other-type", "other-run"],
)
def test_client_refuses_an_instruction_bound_to_another_context(
    fed: Federation, changes: dict[str, Any]
) -> None:
    instruction = _held_instruction(fed)
    node = fed.nodes[12]
    moved = with_metadata(instruction, **changes)
    assert_client_refused(node, node.handle(moved), errors.ContextMismatchError)
    assert not node.handle(instruction).has_error()  # the refusal burned nothing
    assert len(node.seen) == 1


def test_client_refuses_an_instruction_meant_for_another_node(fed: Federation) -> None:
    instruction = _held_instruction(fed)  # addressed to node 12 ...
    node = fed.nodes[13]  # ... delivered to node 13
    seen_before = list(node.seen)
    assert node.handle(instruction).has_error()
    assert isinstance(node.raised[-1], RefusedMessageError)
    assert node.seen == seen_before


def _instruction_sealed_by(fed: Federation, signer: Identity, node: int) -> Message:
    payload = {
        "v": WIRE_VERSION,
        "kind": "instruction",
        "request": os.urandom(16),
        "server": signer.bundle().with_one_time_prekeys(()).to_json(),
        "content": recorddict_to_plain(poison_content()),
    }
    metadata = instruction_metadata(RUN_ID, "train", "5", [node], 1)
    blob = seal(payload, sender=signer, recipients=[fed.client_bundles[node]], metadata=metadata)
    content = wrap_blob(blob, kind="instruction", sender=signer.name)
    return Message(content, node, "train", group_id="5")


def test_client_refuses_an_instruction_from_an_untrusted_server(fed: Federation) -> None:
    node = fed.nodes[12]
    impostor = Identity.generate("server")  # the pinned name, other keys
    forged = _instruction_sealed_by(fed, impostor, 12)
    assert_client_refused(node, node.handle(forged), errors.SealpackError)
    genuine = _instruction_sealed_by(fed, fed.server.identity, 12)  # control
    assert not node.handle(genuine).has_error()
    assert node.seen[0]["arrays"]["0"].numpy()[0] == POISON[0]


@pytest.mark.parametrize("variant", ["foreign-server-bundle", "short-challenge", "no-record"])
def test_client_refuses_a_bad_hello(fed: Federation, variant: str) -> None:
    node = fed.nodes[12]
    server_json = fed.server.identity.bundle().to_json()
    if variant == "foreign-server-bundle":
        hello = hello_message(12, os.urandom(32), Identity.generate("server").bundle().to_json())
    elif variant == "short-challenge":
        hello = hello_message(12, b"short", server_json)
    else:
        good = hello_message(12, os.urandom(32), server_json)
        hello = make_message(good.metadata, RecordDict({"x": ConfigRecord({"a": 1})}))
    assert node.handle(hello).has_error()
    assert isinstance(node.raised[-1], RefusedMessageError)
    good = node.handle(hello_message(12, os.urandom(32), server_json))  # control
    assert not good.has_error()
    assert unwrap_blob(good.content, kind="hello")[1] == "client-12"
