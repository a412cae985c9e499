"""Per-round overhead of sealing a Flower FedAvg run, against the same run in plaintext.

Both runs use Flower's simulation engine (needs flwr[simulation]); ``run(quick)`` returns
one row per (model size, round) plus the engine start-up excluded.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path


def run(quick: bool) -> list[dict[str, object]]:
    """Run sealed and plain federations; report per-round seconds and overhead."""
    from sealpack.integrations.flower.demo import make_keys, run_demo

    warnings.filterwarnings("ignore", message="sealpack key store", category=UserWarning)
    sizes = [4096] if quick else [4096, 1 << 20]
    rows: list[dict[str, object]] = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            make_keys(Path(tmp), 3)
            plain = run_demo(keys_dir=None, num_rounds=2, model_size=size)
            sealed = run_demo(keys_dir=Path(tmp), num_rounds=2, model_size=size)
        for index, (p, s) in enumerate(zip(plain.round_seconds, sealed.round_seconds, strict=True)):
            rows.append(
                {
                    "bench": "flower_round",
                    "model_bytes": size * 8 + 64,
                    "nodes": 3,
                    "round": index + 1,
                    "plain_s": round(p, 4),
                    "sealed_s": round(s, 4),
                    "overhead_s": round(s - p, 4),
                    "seal_ops": sum(1 for e in sealed.events if e.action == "seal"),
                }
            )
    return rows


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
