"""Shared set-up of the Flower refusal tests: a sealed federation over FakeGrid.

The ServerApp side is a real SealedGrid over an in-process FakeGrid (flower_fakes);
each SuperNode is a real sealed ClientApp (the sealpack mod called by Flower's
ClientApp). Tests play the untrusted relay: they drop, duplicate, rewrite or forge
messages, and check that nothing unverified reaches either application.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from sealpack.api import seal
from sealpack.integrations.flower import broadcast as broadcast_module
from sealpack.integrations.flower.server import REFUSED_ERROR_CODE, SealedGrid
from sealpack.integrations.flower.wire import unwrap_info, wrap_blob
from sealpack.keys import Identity, KeyBundle, KeyStore
from tests.integrations.flower_fakes import (
    PASSPHRASE,
    PASSPHRASE_ENV,
    RUN_ID,
    FakeGrid,
    FakeNode,
    create_store,
    model,
)

NODES = (11, 12, 13)
POISON = np.full(16, 6.02214076e23)  # content a forger wants the strategy to aggregate


@dataclass
class Federation:
    """A SealedGrid, the FakeGrid under it and its three nodes."""

    sealed: SealedGrid
    grid: FakeGrid
    nodes: dict[int, FakeNode]
    server: KeyStore
    client_bundles: dict[int, KeyBundle]
    seals: list[dict[str, Any]]  # payloads the ServerApp sealed (+ their "metadata")


@contextmanager
def flower_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Who this test process is to Flower (needed to create instruction Messages)."""
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = RUN_ID, 1, 1
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


def build_federation(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    server_identity: Identity | None = None,
    identities: dict[int, Identity] | None = None,
    **grid_options: Any,
) -> Federation:
    """A SealedGrid (seal calls spied on) over a FakeGrid with three honest sealed nodes.

    ``server_identity``: the server's identity (its bundle is the pin the nodes get);
    ``identities``: identities some nodes' stores are made with; ``grid_options`` go to
    SealedGrid.
    """
    server = create_store(tmp_path / "server", "server", identity=server_identity)
    server_json = tmp_path / "server.json"
    server_json.write_text(server.identity.bundle().to_json())
    nodes, bundles = {}, {}
    for node in NODES:
        identity = (identities or {}).get(node)
        store = create_store(tmp_path / f"client-{node}", f"client-{node}", identity=identity)
        bundles[node] = store.identity.bundle()
        store.close()
        nodes[node] = FakeNode(node, tmp_path / f"client-{node}", server_json)
    grid = FakeGrid(nodes.values())
    seals: list[dict[str, Any]] = []

    def spy_seal(obj: Any, **kwargs: Any) -> bytes:
        seals.append({**obj, "metadata": kwargs.get("metadata")})
        return seal(obj, **kwargs)

    monkeypatch.setattr(broadcast_module, "seal", spy_seal)
    sealed = SealedGrid(grid, keys=server, trusted=list(bundles.values()), **grid_options)
    return Federation(sealed, grid, nodes, server, bundles, seals)


def train(fed: Federation, server_round: int, message_type: str = "train") -> list[Message]:
    """One broadcast of the same RecordDict to every node; the unsealed replies."""
    content = RecordDict(
        {"arrays": ArrayRecord(model()), "config": ConfigRecord({"server-round": server_round})}
    )
    messages = [Message(content, n, message_type, group_id=str(server_round)) for n in NODES]
    return list(fed.sealed.send_and_receive(messages))


def by_node(replies: list[Message]) -> dict[int, list[Message]]:
    out: dict[int, list[Message]] = {}
    for reply in replies:
        out.setdefault(reply.metadata.src_node_id, []).append(reply)
    return out


def assert_accepted(reply: Message, node: int) -> None:
    assert not reply.has_error(), reply.error
    got = reply.content.array_records["arrays"].to_numpy_ndarrays()
    for a, b in zip(got, model(), strict=True):
        np.testing.assert_array_equal(a, b + node)


def assert_refused(reply: Message, error: type[Exception] | None = None) -> None:
    assert reply.has_error() and not reply.has_content()
    assert reply.error.code == REFUSED_ERROR_CODE
    if error is not None:
        assert reply.error.reason == f"sealpack refused reply: {error.__name__}"


def assert_no_poison(replies: list[Message]) -> None:
    for reply in replies:
        if reply.has_content():
            for record in reply.content.array_records.values():
                for array in record.to_numpy_ndarrays():
                    assert not np.isin(POISON[0], array).any()


def flip_bit(content: RecordDict, position: int, kind: str) -> RecordDict:
    blob, info = unwrap_info(content, kind=kind)
    flipped = bytearray(blob)
    flipped[position % len(blob)] ^= 0x10
    request = info.get("request")
    return wrap_blob(bytes(flipped), kind=kind, sender=str(info["sender"]), request=request)


def poison_content() -> RecordDict:
    return RecordDict({"arrays": ArrayRecord([POISON])})


def replace_reply(node: int, make: Callable[[Message], Message]) -> Callable[[Message], list]:
    def hook(reply: Message) -> list[Message]:
        return [make(reply)] if reply.metadata.src_node_id == node else [reply]

    return hook
