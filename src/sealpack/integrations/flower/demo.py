"""A tiny numpy FedAvg app on Flower's simulation engine, sealed or not.

Shared by examples/flower, benchmarks/flower.py and the integration tests.
Updates are small integers and the weights (1, 1, 2, 4, ...) sum to a power of
two, so FedAvg's result is exact whatever order the replies arrive in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation

from sealpack.integrations.flower.client import SealpackClientMod, sealed_client_app
from sealpack.integrations.flower.keyconfig import load_pins, open_keystore
from sealpack.integrations.flower.server import SealedGrid, SealEvent
from sealpack.keys import Identity, KeyStore
from sealpack.keys.keystore import DEFAULT_SCRYPT_N

__all__ = ["DemoResult", "make_keys", "run_demo"]

GridTap = Callable[[Grid], Grid]


@dataclass
class DemoResult:
    """What one demo run produced."""

    arrays: list[np.ndarray]
    round_seconds: list[float]
    events: list[SealEvent] = field(default_factory=list)
    bound_nodes: dict[int, str] = field(default_factory=dict)


def make_keys(
    directory: Path,
    num_nodes: int,
    *,
    passphrase: bytes | None = None,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> None:
    """Create demo KeyStores ``server`` and ``client-<i>`` plus bundle files.

    Args:
        directory: Empty directory to fill.
        num_nodes: Number of ClientApp identities.
        passphrase: Encrypts every store (None: unencrypted stores, which warn when opened).
        scrypt_n: scrypt cost of the passphrase stores.
    """

    def create(path: Path, identity: Identity) -> None:
        if passphrase is None:
            KeyStore.create(path, identity, passphrase=None, unencrypted=True).close()
        else:
            KeyStore.create(path, identity, passphrase=passphrase, scrypt_n=scrypt_n).close()

    server = Identity.generate("server", one_time_prekeys=8)
    (directory / "server.json").write_text(server.bundle().to_json())
    create(directory / "server", server)
    (directory / "trusted").mkdir()
    for index in range(num_nodes):
        client = Identity.generate(f"client-{index}", one_time_prekeys=16)
        (directory / "trusted" / f"client-{index}.json").write_text(client.bundle().to_json())
        create(directory / f"client-{index}", client)


def initial_model(size: int) -> list[np.ndarray]:
    """The starting global model: two float64 arrays of small integers."""
    return [np.arange(size, dtype=np.float64).reshape(-1, 4) % 7, np.zeros(8)]


def _train(message: Message, context: Context) -> Message:
    arrays = message.content.array_records["arrays"].to_numpy_ndarrays()
    partition = int(str(context.node_config["partition-id"]))
    server_round = int(str(message.content.config_records["config"]["server-round"]))
    rng = np.random.default_rng(1000 * server_round + partition)
    updated = [a + rng.integers(-4, 5, size=a.shape).astype(a.dtype) for a in arrays]
    weight = 1 if partition == 0 else 2 ** (partition - 1)
    metrics = MetricRecord({"num-examples": weight, "loss": float(partition)})
    return Message(
        RecordDict({"arrays": ArrayRecord(updated), "metrics": metrics}), reply_to=message
    )


def _evaluate(message: Message, context: Context) -> Message:
    arrays = message.content.array_records["arrays"].to_numpy_ndarrays()
    total = float(sum(float(a.sum()) for a in arrays))
    metrics = MetricRecord({"num-examples": 1, "checksum": total})
    return Message(RecordDict({"metrics": metrics}), reply_to=message)


def build_client_app(keys_dir: Path | None, passphrase_env: str | None = None) -> ClientApp:
    """The demo ClientApp, behind the sealpack mod when ``keys_dir`` is given."""
    if keys_dir is None:
        app = ClientApp()
    else:
        mod = SealpackClientMod(
            keystore=str(keys_dir / "client-{partition-id}"),
            server_bundle=str(keys_dir / "server.json"),
            passphrase_env=passphrase_env,
        )
        app = sealed_client_app(mod=mod)
    app.train()(_train)
    app.evaluate()(_evaluate)
    return app


def build_server_app(
    keys_dir: Path | None,
    num_rounds: int,
    model_size: int,
    out: DemoResult,
    tap: GridTap | None,
    passphrase_env: str | None = None,
    num_nodes: int = 1,
) -> ServerApp:
    """The demo ServerApp running FedAvg over ``num_nodes`` nodes; fills ``out`` when done."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        engine_grid = tap(grid) if tap is not None else grid
        used: Grid = engine_grid
        if keys_dir is not None:
            store = open_keystore(str(keys_dir / "server"), passphrase_env, {})
            used = SealedGrid(engine_grid, keys=store, trusted=load_pins(keys_dir / "trusted"))
        strategy = _TimedFedAvg(out, num_nodes)
        result = strategy.start(
            grid=used,
            initial_arrays=ArrayRecord(initial_model(model_size)),
            num_rounds=num_rounds,
            train_config=ConfigRecord({"lr": 0.1}),
        )
        out.arrays = result.arrays.to_numpy_ndarrays()
        if isinstance(used, SealedGrid):
            out.events, out.bound_nodes = list(used.events), used.bound_nodes

    return app


class _TimedFedAvg(FedAvg):
    """FedAvg recording the wall time of each round (train + evaluate)."""

    def __init__(self, out: DemoResult, num_nodes: int) -> None:
        # Wait for every node: sampling while some are still starting would train on fewer.
        super().__init__(
            min_train_nodes=num_nodes,
            min_evaluate_nodes=num_nodes,
            min_available_nodes=num_nodes,
        )
        self._out = out
        self._round_start = 0.0

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._round_start = time.perf_counter()
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        result = super().aggregate_evaluate(server_round, replies)
        self._out.round_seconds.append(time.perf_counter() - self._round_start)
        return result


def run_demo(
    *,
    keys_dir: Path | None,
    num_nodes: int = 3,
    num_rounds: int = 2,
    model_size: int = 64,
    tap: GridTap | None = None,
    passphrase_env: str | None = None,
) -> DemoResult:
    """Run the demo federation on Flower's simulation engine (needs ``flwr[simulation]``).

    Args:
        keys_dir: Directory made by :func:`make_keys` to seal everything; None for plaintext.
        num_nodes: Number of simulated SuperNodes.
        num_rounds: FedAvg rounds.
        model_size: Elements of the first model array (a multiple of 4).
        tap: Optional wrapper around the engine's Grid (sees exactly what the engine carries).
        passphrase_env: Environment variable holding the stores' passphrase (set it before
            calling: the engine's worker processes inherit it); None for unencrypted stores.

    Returns:
        The final global arrays, per-round seconds and (sealed) the seal events.
    """
    out = DemoResult(arrays=[], round_seconds=[])
    run_simulation(
        server_app=build_server_app(
            keys_dir, num_rounds, model_size, out, tap, passphrase_env, num_nodes
        ),
        client_app=build_client_app(keys_dir, passphrase_env),
        num_supernodes=num_nodes,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": 2},
        },
    )
    return out
