"""SyftGridAdapter: reply metadata comes from the server's own futures, not from datasites.

In syft-flwr 0.5.3 every metadata field of a reply is whatever the datasite wrote into
its response file. These tests play a participant datasite (valid identity of its own)
that writes false ``reply_to_message_id`` / ``src_node_id`` values, over the in-process
FakeGrid (real sealed ClientApps) seen through a syft-flwr-shaped grid.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")

from flwr.app import ConfigRecord, Message, Metadata, RecordDict
from flwr.app.message import make_message

from sealpack.integrations.flower.client import HELLO_MESSAGE_TYPE
from sealpack.integrations.flower.server import SealedGrid
from sealpack.integrations.syft_flwr.datasite_keys import node_id_for
from sealpack.integrations.syft_flwr.errors import SyftFlwrConfigError
from sealpack.integrations.syft_flwr.grid import (
    POLL_INTERVAL_ENV,
    WRONG_SENDER_CODE,
    SyftGridAdapter,
)
from tests.integrations.flower_fakes import FakeClock, FakeGrid, with_metadata
from tests.integrations.flower_harness import (
    Federation,
    assert_accepted,
    build_federation,
    train,
)

AGG, ALICE = "aggregator@example.org", "alice@example.org"
Forge = Any  # (future id, reply as the datasite wrote it) -> reply


class _SyftLikeGrid:
    """syft-flwr 0.5.3's SyftGrid over the FakeGrid: pulls return ``({future: reply},
    completed)``, honest datasites leave ``reply_to_message_id`` empty, every metadata
    field is what the datasite wrote (``forge``), and its own ``send_and_receive``
    polls its own ``pull_messages``."""

    def __init__(self, fake: FakeGrid, forge: Forge = None) -> None:
        self.fake = fake
        self.client_map = {n: f"client-{n}" for n in fake.nodes}
        self.forge = forge

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fake, name)

    def push_messages(self, messages: Any) -> list[str]:
        return list(self.fake.push_messages(messages))

    def pull_messages(self, ids: list[str]) -> tuple[dict[str, Message], set[str]]:
        out: dict[str, Message] = {}
        for reply in self.fake.pull_messages(ids):
            future = reply.metadata.reply_to_message_id
            written = with_metadata(reply, reply_to_message_id="")
            out[future] = self.forge(future, written) if self.forge else written
        return out, set(out)

    def send_and_receive(self, messages: Any, *, timeout: float | None = None) -> list[Message]:
        pulled, _ = self.pull_messages(self.push_messages(messages))
        return list(pulled.values())


def _sealed(fed: Federation, syft: _SyftLikeGrid, **options: Any) -> SealedGrid:
    trusted = list(fed.client_bundles.values())
    adapter = SyftGridAdapter(syft, sleep=lambda s: None)
    return SealedGrid(adapter, keys=fed.server, trusted=trusted, **options)


@pytest.mark.usefixtures("flower_env")
def test_datasite_cannot_answer_another_datasites_hello(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: datasite 12 writes, as the response to ITS OWN hello, a message naming
    datasite 11's hello future and node id. Before the fix the adapter kept both, the
    handshaker took it as node 11's answer, and two answers for node 11 in one pull
    raised a raw KeyError out of send_and_receive (the ServerApp crashed). Now the
    reply is node 12's (the future's destination): 11 is bound and trains."""
    fed = build_federation(tmp_path, monkeypatch)
    hello_ids: dict[int, str] = {}

    def forge(future: str, reply: Message) -> Message:
        if reply.metadata.message_type != HELLO_MESSAGE_TYPE:
            return reply
        hello_ids.setdefault(reply.metadata.src_node_id, future)
        if reply.metadata.src_node_id != 12 or 11 not in hello_ids:
            return reply
        return with_metadata(reply, src_node_id=11, reply_to_message_id=hello_ids[11])

    fed.sealed = _sealed(fed, _SyftLikeGrid(fed.grid, forge), sleep=lambda s: None)
    replies = train(fed, 1)  # must not raise
    accepted = {r.metadata.src_node_id: r for r in replies if not r.has_error()}
    assert 11 in fed.sealed.bound_nodes
    assert_accepted(accepted[11], 11)


@pytest.mark.usefixtures("flower_env")
def test_datasite_cannot_get_another_refused_by_answering_its_hello_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack, other timing: datasite 11 answers a moment after datasite 12, whose
    response file names 11's hello future and node id. Before the fix the handshaker
    popped 11's outstanding hello and refused node 11 (then asked it again only after
    hello_retry, 600 s): one participant shut an honest datasite out of the run."""
    fed = build_federation(tmp_path, monkeypatch)
    fed.grid.silent.add(11)  # datasite 11's sync is a little slower

    def forge(future: str, reply: Message) -> Message:
        if reply.metadata.message_type != HELLO_MESSAGE_TYPE or reply.metadata.src_node_id != 12:
            return reply
        hello_11 = fed.grid.pushed_to(11, HELLO_MESSAGE_TYPE)[-1].metadata.message_id
        return with_metadata(reply, src_node_id=11, reply_to_message_id=hello_11)

    clock = FakeClock(time.time())

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        fed.grid.release(11)

    fed.sealed = _sealed(fed, _SyftLikeGrid(fed.grid, forge), clock=clock.time, sleep=sleep)
    train(fed, 1)
    assert 11 in fed.sealed.bound_nodes


@pytest.mark.usefixtures("flower_env")
def test_training_reply_claiming_another_node_counts_for_its_own_datasite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack on send_and_receive: datasite 12's training response file claims to come
    from node 11. syft-flwr's own send_and_receive bypassed the adapter, so the reply
    was opened as node 11's (refused: 11 was blamed, 12's update lost). The adapter now
    polls itself and attributes each reply to its future's destination."""
    fed = build_federation(tmp_path, monkeypatch)

    def forge(future: str, reply: Message) -> Message:
        if reply.metadata.message_type == "train" and reply.metadata.src_node_id == 12:
            return with_metadata(reply, src_node_id=11)
        return reply

    fed.sealed = _sealed(fed, _SyftLikeGrid(fed.grid, forge), sleep=lambda s: None)
    replies = train(fed, 1)
    accepted = {r.metadata.src_node_id: r for r in replies if not r.has_error()}
    assert sorted(accepted) == sorted(fed.nodes)
    assert_accepted(accepted[12], 12)
    assert fed.sealed.refused == []


class _DuplicatingGrid(FakeGrid):
    """A grid (or relay) that hands every hello answer over twice in one pull."""

    def pull_messages(self, message_ids: Any) -> list[Message]:
        replies = list(super().pull_messages(message_ids))
        hellos = [r for r in replies if r.metadata.message_type == HELLO_MESSAGE_TYPE]
        return replies + hellos


@pytest.mark.usefixtures("flower_env")
def test_a_second_answer_to_an_answered_hello_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure: two answers for one hello in one pull raised a raw KeyError out of the
    Handshaker (and so out of send_and_receive); now the second one is ignored."""
    fed = build_federation(tmp_path, monkeypatch)
    grid = _DuplicatingGrid(fed.grid.nodes.values())
    fed.grid = grid
    fed.sealed = SealedGrid(
        grid, keys=fed.server, trusted=list(fed.client_bundles.values()), sleep=lambda s: None
    )
    replies = train(fed, 1)
    assert sorted(fed.sealed.bound_nodes) == sorted(fed.nodes)
    assert all(not r.has_error() for r in replies)


# --- the adapter alone ------------------------------------------------------------------


def _reply(src: str, content: dict[str, Any]) -> Message:
    records = {k: ConfigRecord(v) for k, v in content.items()}
    metadata = Metadata(
        run_id=1,
        message_id="",
        src_node_id=node_id_for(src),
        dst_node_id=1,
        reply_to_message_id="",
        group_id="",
        created_at=0.0,
        ttl=60.0,
        message_type=HELLO_MESSAGE_TYPE,
    )
    return make_message(metadata, content=RecordDict(records))


class _FakeSyftGrid:
    """SyftGrid as the adapter sees it: futures ``f0, f1 ...``, tuple pulls, client_map;
    a push to a node in ``unreachable`` yields no future (as syft-flwr on a send error)."""

    run = "the run"
    client_map = {node_id_for(ALICE): ALICE, node_id_for(AGG): AGG}

    def __init__(self, unreachable: frozenset[int] = frozenset()) -> None:
        self.ready: dict[str, Message] = {}
        self.pushed = 0
        self.unreachable = unreachable

    def push_messages(self, messages: Any) -> list[str]:
        ids = []
        for message in messages:
            if message.metadata.dst_node_id not in self.unreachable:
                ids.append(f"f{self.pushed}")
                self.pushed += 1
        return ids

    def pull_messages(self, ids: list[str]) -> tuple[dict[str, Message], set[str]]:
        ready = {i: self.ready.pop(i) for i in ids if i in self.ready}
        return ready, set(ready)


def _push(adapter: SyftGridAdapter, *emails: str) -> list[str]:
    return adapter.push_messages(
        [Message(RecordDict(), node_id_for(e), "train", group_id="1") for e in emails]
    )


@pytest.mark.usefixtures("flower_env")
def test_replies_carry_their_future_id_and_destination() -> None:
    """syft-flwr never sets Flower ids; whatever the file says, a reply is the reply to
    its future from the node that future was pushed to. A reply to a future this grid
    did not push is dropped."""
    syft = _FakeSyftGrid()
    adapter = SyftGridAdapter(syft)
    ids = _push(adapter, ALICE, AGG)
    assert ids == ["f0", "f1"]
    syft.ready = {"f0": _reply(AGG, {}), "f1": _reply(AGG, {}), "zz": _reply(ALICE, {})}
    pulled = adapter.pull_messages(["f0", "f1", "zz"])
    got = sorted((r.metadata.reply_to_message_id, r.metadata.src_node_id) for r in pulled)
    assert got == [("f0", node_id_for(ALICE)), ("f1", node_id_for(AGG))]
    assert adapter.run == "the run"


@pytest.mark.usefixtures("flower_env")
def test_a_message_syft_flwr_could_not_send_gets_an_empty_id() -> None:
    """syft-flwr drops failed sends from its id list; the adapter keeps positions."""
    adapter = SyftGridAdapter(_FakeSyftGrid(unreachable=frozenset({node_id_for(ALICE)})))
    assert _push(adapter, ALICE, AGG) == ["", "f0"]


@pytest.mark.usefixtures("flower_env")
def test_hello_answer_naming_another_datasite_is_refused() -> None:
    """A datasite answering the hello sent to its node with another sealer cannot take
    another datasite's place: the answer becomes an error reply."""
    hello = {"v": 2, "kind": "hello"}
    syft = _FakeSyftGrid()
    adapter = SyftGridAdapter(syft)
    _push(adapter, ALICE, ALICE)
    right = _reply(ALICE, {"sealpack-info": {**hello, "sender": ALICE}})
    syft.ready = {"f0": _reply(ALICE, {"sealpack-info": {**hello, "sender": AGG}}), "f1": right}
    out = {r.metadata.reply_to_message_id: r for r in adapter.pull_messages(["f0", "f1"])}
    assert out["f0"].has_error() and out["f0"].error.code == WRONG_SENDER_CODE
    assert not out["f1"].has_error() and out["f1"] is right


@pytest.mark.usefixtures("flower_env")
def test_send_and_receive_polls_until_every_reply_or_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The adapter's own polling: late replies are waited for, missing ones end at the
    timeout, and a malformed poll interval is a typed config error."""
    syft = _FakeSyftGrid()
    clock = FakeClock(0.0)

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now >= 6:  # alice's reply syncs after two polls
            syft.ready.setdefault("f0", _reply(ALICE, {}))

    monkeypatch.setenv(POLL_INTERVAL_ENV, "3")
    adapter = SyftGridAdapter(syft, clock=clock.time, sleep=sleep)
    messages = [Message(RecordDict(), node_id_for(e), "train", group_id="1") for e in (ALICE, AGG)]
    replies = adapter.send_and_receive(messages, timeout=30)
    assert [r.metadata.reply_to_message_id for r in replies] == ["f0"]
    assert clock.now >= 30  # the aggregator's reply never came
    monkeypatch.setenv(POLL_INTERVAL_ENV, "soon")
    with pytest.raises(SyftFlwrConfigError, match=POLL_INTERVAL_ENV):
        adapter.send_and_receive(messages, timeout=1)
