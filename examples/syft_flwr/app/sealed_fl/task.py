"""The federated task, free of sealpack: model, local step, FedAvg driver.

Used by the sealed apps (client_app.py, server_app.py) and the plain ones (plain.py),
so both runs train exactly the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAvg

GridWrapper = Callable[[Any], Any]


def initial_model(floats: int) -> np.ndarray:
    """The starting model: fixed-seed random float32 values (distinctive bytes)."""
    return np.random.default_rng(2026).standard_normal(floats).astype(np.float32)


def train(msg: Message, context: Context) -> Message:
    """One local step: model * (1 + delta), delta from ``$DATA_DIR/delta.txt``.

    The instruction's ``marker`` is appended to ``$DATA_DIR/trained.log``.
    """
    data_dir = Path(os.environ["DATA_DIR"])
    factor = np.float32(1.0 + float((data_dir / "delta.txt").read_text()))
    config = msg.content.get("config")
    marker = str(config.get("marker", "")) if config is not None else ""
    with (data_dir / "trained.log").open("a", encoding="utf-8") as log:
        log.write(f"{marker or 'round'}\n")
    arrays = [a * factor for a in msg.content["arrays"].to_numpy_ndarrays()]
    content = RecordDict(
        {"arrays": ArrayRecord(arrays), "metrics": MetricRecord({"num-examples": 1})}
    )
    return Message(content, reply_to=msg)


def serve(grid: Any, context: Context, *, wrap: GridWrapper | None = None) -> Any:
    """Run FedAvg on ``wrap(grid)``; save the final model to ``$SEALED_FL_OUT``.

    Returns:
        The grid used (after ``wrap``).
    """
    if wrap is not None:
        grid = wrap(grid)
    config = context.run_config
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2)
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord([initial_model(int(config["model-floats"]))]),
        num_rounds=int(config["num-server-rounds"]),
        timeout=float(os.environ.get("SEALED_FL_ROUND_TIMEOUT", "120")),
        train_config=ConfigRecord({"marker": "round"}),
    )
    out = os.environ.get("SEALED_FL_OUT")
    if out:
        np.save(out, result.arrays.to_numpy_ndarrays()[0])
    return grid
