"""Flower's own FedAvg over ratchet sessions (issue 15): broadcasts through per-node tickets.

FedAvg sends one RecordDict to all nodes per round step. The demo ClientApp (the one the
example and the ray end-to-end test use) runs behind the sealpack mod on every node of a
flower_fakes.FakeGrid, so every message crosses Flower's own serialization; the grid's
record of what it carried is the wire tap. After the first train step every
instruction is a ticket (ratchet message) beside one shared body and every reply is a
ratchet message, and the final model equals the plain run's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr")

from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, RecordDict
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from sealpack.integrations.flower.demo import build_client_app, initial_model, make_keys
from sealpack.integrations.flower.keyconfig import load_pins, open_keystore
from sealpack.integrations.flower.server import SealedGrid
from sealpack.integrations.flower.wire import unwrap_info, unwrap_instruction
from sealpack.session import is_session_message
from tests.integrations.flower_fakes import PASSPHRASE, PASSPHRASE_ENV, RUN_ID, FakeGrid

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py

ROUNDS = 3
NODE_IDS = (21, 22, 23)


class AppNode:
    """A SuperNode running one ClientApp (exceptions become error replies, as in Flower)."""

    def __init__(self, node_id: int, partition: int, keys: Path | None) -> None:
        self.node_id = node_id
        self.app = build_client_app(keys, PASSPHRASE_ENV if keys else None)
        self.context = Context(RUN_ID, node_id, {"partition-id": partition}, RecordDict(), {})

    def handle(self, message: Message) -> Message:
        try:
            return self.app(message, self.context)
        except Exception as exc:
            error = Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, type(exc).__name__)
            return Message(error, reply_to=message)


def run_fedavg(grid: Grid) -> list[np.ndarray]:
    strategy = FedAvg(min_train_nodes=3, min_evaluate_nodes=3, min_available_nodes=3)
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(initial_model(64)),
        num_rounds=ROUNDS,
        train_config=ConfigRecord({"lr": 0.1}),
    )
    arrays: list[np.ndarray] = result.arrays.to_numpy_ndarrays()
    return arrays


def _carried(messages: list[Message]) -> list[Message]:
    """The round-step messages (not the handshake), in the order the grid carried them."""
    return [m for m in messages if m.metadata.message_type in ("train", "evaluate")]


def test_fedavg_goes_through_sessions_after_the_first_round(tmp_path: Path) -> None:
    make_keys(tmp_path, len(NODE_IDS), passphrase=PASSPHRASE, scrypt_n=2**10)
    plain_grid = FakeGrid([AppNode(n, i, None) for i, n in enumerate(NODE_IDS)])
    plain = run_fedavg(plain_grid)
    grid = FakeGrid([AppNode(n, i, tmp_path) for i, n in enumerate(NODE_IDS)])
    store = open_keystore(str(tmp_path / "server"), PASSPHRASE_ENV, {})
    sealed_grid = SealedGrid(grid, keys=store, trusted=load_pins(tmp_path / "trusted"))
    sealed = run_fedavg(sealed_grid)

    for a, b in zip(plain, sealed, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(plain[0], initial_model(64)[0])  # training happened
    assert sealed_grid.refused == []
    instructions = _carried(grid.pushed)
    replies = _carried(grid.replied)
    steps = ROUNDS * 2  # train + evaluate, each one broadcast to every node
    assert len(instructions) == len(replies) == steps * len(NODE_IDS)
    opened = [unwrap_instruction(m.content) for m in instructions]
    first, later = opened[: len(NODE_IDS)], opened[len(NODE_IDS) :]
    assert all(body is None and not is_session_message(blob) for blob, body in first)
    assert all(body is not None and is_session_message(blob) for blob, body in later)
    reply_blobs = [unwrap_info(m.content, kind="reply")[0] for m in replies]
    assert not any(is_session_message(b) for b in reply_blobs[: len(NODE_IDS)])  # starts
    assert all(is_session_message(b) for b in reply_blobs[len(NODE_IDS) :])
    # one body per broadcast, shared by its three tickets (encrypted once):
    bodies = [body for _, body in later]
    per_step = [set(bodies[i : i + len(NODE_IDS)]) for i in range(0, len(bodies), len(NODE_IDS))]
    assert [len(s) for s in per_step] == [1] * (steps - 1)
    assert len(set().union(*per_step)) == steps - 1  # a fresh body (and key) every step
    seals = [e for e in sealed_grid.events if e.action == "seal"]
    assert [len(e.nodes) for e in seals] == [3] * steps
