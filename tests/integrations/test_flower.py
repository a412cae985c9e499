"""A real Flower run on Flower's simulation engine, sealed end to end by sealpack."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("flwr")
if importlib.util.find_spec("ray") is None:
    pytest.skip("Flower's simulation engine needs flwr[simulation] (ray)", allow_module_level=True)
pytest.importorskip("sealpack.api")

from flwr.app import Message
from flwr.serverapp import Grid

from sealpack.integrations.flower.demo import initial_model, make_keys, run_demo


def _object_bytes(obj: Any) -> Iterable[bytes]:
    """Every serialized object Flower makes of a message (what its engine stores and ships)."""
    yield obj.deflate()
    for child in (obj.children or {}).values():
        yield from _object_bytes(child)


class TapGrid(Grid):  # type: ignore[misc]
    """Sits between the engine and whatever the ServerApp uses; records every message."""

    def __init__(self, inner: Grid, seen: list[bytes]) -> None:
        self._inner, self._seen = inner, seen

    def _record(self, messages: Iterable[Message]) -> list[Message]:
        messages = list(messages)
        for message in messages:
            self._seen.append(b"".join(_object_bytes(message)))
        return messages

    def set_run(self, run: Any) -> None:
        self._inner.set_run(run)

    @property
    def run(self) -> Any:
        return self._inner.run

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        return self._inner.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return self._inner.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._inner.push_messages(self._record(messages))

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._record(self._inner.pull_messages(message_ids))

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self._record(self._inner.send_and_receive(self._record(messages), timeout=timeout))


def _raw_chunks(arrays: list[np.ndarray]) -> list[bytes]:
    """32-byte windows of each array's raw bytes (any would betray plaintext weights)."""
    chunks = []
    for array in arrays:
        raw = np.ascontiguousarray(array).tobytes()
        chunks += [raw[i : i + 32] for i in range(0, len(raw) - 31, 64)]
    return [c for c in chunks if len(set(c)) >= 4]  # skip runs of zeros/padding-like bytes


PASSPHRASE_ENV = "SEALPACK_TEST_FLOWER_E2E_PASSPHRASE"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    keys = tmp_path_factory.mktemp("flower-keys")
    passphrase = "e2e test passphrase"
    make_keys(keys, 3, passphrase=passphrase.encode(), scrypt_n=2**10)
    os.environ[PASSPHRASE_ENV] = passphrase  # before the engine starts: its workers inherit it
    plain_seen: list[bytes] = []
    sealed_seen: list[bytes] = []
    try:
        plain = run_demo(
            keys_dir=None, num_nodes=3, num_rounds=2, tap=lambda g: TapGrid(g, plain_seen)
        )
        sealed = run_demo(
            keys_dir=keys,
            num_nodes=3,
            num_rounds=2,
            tap=lambda g: TapGrid(g, sealed_seen),
            passphrase_env=PASSPHRASE_ENV,
        )
    finally:
        del os.environ[PASSPHRASE_ENV]
    yield {"plain": plain, "sealed": sealed, "plain_seen": plain_seen, "sealed_seen": sealed_seen}


def test_sealed_fedavg_gives_the_same_model(runs: dict[str, Any]) -> None:
    plain, sealed = runs["plain"], runs["sealed"]
    assert len(plain.arrays) == len(sealed.arrays) == 2
    for a, b in zip(plain.arrays, sealed.arrays, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(plain.arrays[0], initial_model(64)[0])  # training happened
    assert sorted(sealed.bound_nodes.values()) == ["client-0", "client-1", "client-2"]


def test_engine_carries_no_plaintext_weights(runs: dict[str, Any]) -> None:
    weights = initial_model(64) + runs["plain"].arrays
    chunks = _raw_chunks(weights)
    plain_wire = b"".join(runs["plain_seen"])
    sealed_wire = b"".join(runs["sealed_seen"])
    assert any(c in plain_wire for c in chunks)  # the scan does find weights when they are there
    assert (
        len(runs["sealed_seen"]) >= 2 * 2 * 3 * 2
    )  # 2 rounds x (train+eval) x 3 nodes x both ways
    leaked = [c for c in chunks if c in sealed_wire]
    assert leaked == []


def test_broadcast_is_sealed_once_per_round_step(runs: dict[str, Any]) -> None:
    events = runs["sealed"].events
    instructions = [e for e in events if e.action == "seal" and e.kind == "instruction"]
    assert len(instructions) == 4  # 2 rounds x (train, evaluate): one blob each for all 3 nodes
    assert all(len(e.nodes) == 3 for e in instructions)
    assert sum(1 for e in events if e.kind == "reply") == 12
    assert sum(1 for e in events if e.kind == "hello") == 3
