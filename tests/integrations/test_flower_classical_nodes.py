"""A node without a post-quantum prekey never stops a sealed Flower run (issue 19.12).

The server seals only with PQXDH. Before, a trusted node answering the hello with a
bundle of its real identity key but no PQ prekey was bound; every later push that had
to seal to it alone (a broadcast once the other nodes hold sessions, or one RecordDict
per node) raised DowngradeError out of ``send_and_receive`` and aborted the round of
every honest node. Now the hello refuses such a bundle (the node is never bound), and
sealing for nodes refuses a recipient it cannot seal to instead of raising; only a
payload the codec cannot encode propagates.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

from sealpack import errors
from sealpack.api import seal, unseal
from sealpack.integrations.flower import broadcast
from sealpack.integrations.flower.binding import hello_metadata
from sealpack.integrations.flower.client import HELLO_MESSAGE_TYPE, fresh_server_bundle
from sealpack.integrations.flower.wire import HELLO_RECORD, wrap_blob
from sealpack.keys import Identity, KeyBundle
from tests.integrations.flower_fakes import model
from tests.integrations.flower_harness import (
    Federation,
    assert_accepted,
    build_federation,
    by_node,
    train,
)

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py


def _instructions_to(fed: Federation, node: int) -> list[Message]:
    return [m for m in fed.grid.pushed if m.metadata.dst_node_id == node]


def _only_the_honest_nodes_answered(got: dict[int, list[Message]]) -> None:
    assert sorted(got) == [11, 13]
    for node in (11, 13):
        assert_accepted(got[node][0], node)


def _assert_refused_at_hello(fed: Federation, node: int) -> None:
    assert node not in fed.sealed.bound_nodes
    assert (node, "DowngradeError") in fed.sealed.refused
    sent = _instructions_to(fed, node)
    assert sent and all(m.metadata.message_type == HELLO_MESSAGE_TYPE for m in sent)


def test_a_classical_node_is_refused_at_the_hello_and_later_broadcasts_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: a trusted node with a classical identity. Before: round 1 dropped it, and
    round 2 (the others hold sessions, it is alone in the sealed part) raised."""
    classical = Identity.generate("client-12", one_time_prekeys=8, post_quantum=False)
    fed = build_federation(tmp_path, monkeypatch, identities={12: classical})
    for server_round in (1, 2, 3):
        got = by_node(train(fed, server_round))
        _only_the_honest_nodes_answered(got)
    _assert_refused_at_hello(fed, 12)


def test_a_classical_node_does_not_crash_a_push_of_single_node_instructions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same without sessions: one RecordDict per node, so one group per node."""
    classical = Identity.generate("client-12", one_time_prekeys=8, post_quantum=False)
    fed = build_federation(tmp_path, monkeypatch, identities={12: classical}, sessions=False)
    for server_round in (1, 2):
        messages = [
            Message(_content(server_round), n, "train", group_id=str(server_round))
            for n in (11, 12, 13)
        ]
        got = by_node(list(fed.sealed.send_and_receive(messages)))
        _only_the_honest_nodes_answered(got)
    _assert_refused_at_hello(fed, 12)


def test_a_hybrid_pin_answered_with_a_classical_hello_bundle_is_never_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: node 12's pin is hybrid; its hello answer carries a bundle of the *same*
    identity key without a PQ prekey (self-signed, so it verified). Before: bound, and
    from the second broadcast on every push raised DowngradeError."""
    hybrid = Identity.generate("client-12", one_time_prekeys=8, rng=_rng_from(b"m"))
    classical = Identity.generate(
        "client-12", one_time_prekeys=8, post_quantum=False, rng=_rng_from(b"m")
    )
    assert classical.public_identity_key == hybrid.public_identity_key
    fed = build_federation(tmp_path, monkeypatch, identities={12: hybrid})
    assert fed.client_bundles[12].pq_prekey is not None  # the pin is hybrid
    fed.nodes[12].hello = _hello_with(classical, fed)
    for server_round in (1, 2, 3):
        got = by_node(train(fed, server_round))
        _only_the_honest_nodes_answered(got)
    _assert_refused_at_hello(fed, 12)


# --- seal_for_nodes: a recipient is refused, only the payload may raise --------------------


@pytest.fixture(scope="module")
def ids() -> dict[str, Identity]:
    """The server, two hybrid nodes ("h0", "h1") and a classical one ("c")."""
    names = {"server": True, "h0": True, "h1": True, "c": False}
    return {n: Identity.generate(n, post_quantum=pq) for n, pq in names.items()}


def _seal_for(ids: dict[str, Identity], payload: object, bundles: dict[int, str]) -> Any:
    return broadcast.seal_for_nodes(
        payload,
        {node: ids[name].bundle() for node, name in bundles.items()},
        sender=ids["server"],
        metadata_for=lambda nodes: {"nodes": nodes},
        expires_in=600,
        now=int(time.time()),
    )


def test_sealing_refuses_a_classical_recipient_and_seals_for_the_others(
    ids: dict[str, Identity],
) -> None:
    """Before: a bundle without a PQ prekey made the group fail, and alone it raised."""
    blobs, refusals = _seal_for(ids, {"w": 1}, {11: "h0", 12: "c", 13: "h1"})
    assert refusals == [(12, "DowngradeError")]
    [sealed] = blobs
    assert sealed.nodes == [11, 13]
    opened = unseal(sealed.blob, recipient=ids["h1"], senders=[ids["server"].bundle()])
    assert opened == {"w": 1}
    assert _seal_for(ids, {"w": 1}, {12: "c"}) == ([], [(12, "DowngradeError")])


def test_sealing_never_raises_when_every_recipient_fails(
    ids: dict[str, Identity], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: when no node could take it, the last recipient's error was re-raised."""
    tried: list[list[str]] = []

    def refuse_all(obj: Any, **kwargs: Any) -> bytes:
        tried.append([b.name for b in kwargs["recipients"]])
        raise errors.BundleError("this bundle cannot be sealed to")

    monkeypatch.setattr(broadcast, "seal", refuse_all)
    got = _seal_for(ids, {"w": 1}, {11: "h0", 13: "h1"})
    assert got == ([], [(11, "BundleError"), (13, "BundleError")])
    assert tried == [["h0", "h1"], ["h0"], ["h1"]]  # the group, then each node alone


def test_a_payload_that_cannot_be_encoded_raises_before_any_recipient_is_tried(
    ids: dict[str, Identity], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payload's own failure propagates (it would fail for every node), and it is
    told apart by encoding first, not by guessing from error classes. Before: the
    group was sealed, then every node alone, before the codec's error was re-raised."""
    calls: list[object] = []
    real_seal = broadcast.seal

    def counted(obj: Any, **kwargs: Any) -> bytes:
        calls.append(obj)
        return real_seal(obj, **kwargs)

    monkeypatch.setattr(broadcast, "seal", counted)
    with pytest.raises(errors.SerializationTypeError):
        _seal_for(ids, {"w": _Unregistered()}, {11: "h0", 12: "c"})
    assert calls == []


# --- helpers -------------------------------------------------------------------------------


class _Unregistered:
    """A type no codec was told about."""


def _content(server_round: int) -> RecordDict:
    config = ConfigRecord({"server-round": server_round})
    return RecordDict({"arrays": ArrayRecord(model()), "config": config})


def _rng_from(seed: bytes) -> Callable[[int], bytes]:
    """Deterministic randomness: the same seed gives the same identity key."""
    counter = [0]

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            counter[0] += 1
            out += hashlib.sha256(seed + counter[0].to_bytes(8, "big")).digest()
        return out[:n]

    return rng


def _hello_with(identity: Identity, fed: Federation) -> Callable[[Message, Context], Message]:
    """A hello answer proving ``identity`` and handing out its own (classical) bundle."""

    def answer(message: Message, context: Context) -> Message:
        record = message.content[HELLO_RECORD]
        assert isinstance(record, ConfigRecord)
        pin = KeyBundle.from_json(fed.server.identity.bundle().to_json())
        server = fresh_server_bundle(record["server-bundle"], pin)
        payload = {"v": 2, "kind": "hello", "bundle": identity.bundle().to_json()}
        node, run_id = message.metadata.dst_node_id, message.metadata.run_id
        blob = seal(
            payload,
            sender=identity,
            recipients=[server],
            metadata=hello_metadata(run_id, node, record["challenge"]),
        )
        return Message(wrap_blob(blob, kind="hello", sender=identity.name), reply_to=message)

    return answer
