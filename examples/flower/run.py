"""Run a sealed 3-node FedAvg federation on Flower's simulation engine and show what was sealed.

Usage: python examples/flower/run.py   (needs: pip install 'sealpack[flower]' 'flwr[simulation]')

The key stores are passphrase-protected: the passphrase travels in the environment
variable ``SEALPACK_FLOWER_DEMO_PASSPHRASE`` (set it yourself, or a random one is made for
this run), which Flower's simulation workers inherit, exactly as a deployment would set it
for each SuperNode (config key ``sealpack-passphrase-env``).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from sealpack.integrations.flower.demo import make_keys, run_demo

PASSPHRASE_ENV = "SEALPACK_FLOWER_DEMO_PASSPHRASE"


def main() -> None:
    passphrase = os.environ.setdefault(PASSPHRASE_ENV, secrets.token_urlsafe(24))
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp)
        make_keys(keys, 3, passphrase=passphrase.encode())
        result = run_demo(
            keys_dir=keys, num_nodes=3, num_rounds=2, model_size=4096, passphrase_env=PASSPHRASE_ENV
        )
    print("\nnode id -> proven identity:", result.bound_nodes)
    print(
        f"{'action':8} {'kind':12} {'nodes':>5} {'array bytes':>12} {'sealed bytes':>13} {'ms':>7}"
    )
    for e in result.events:
        print(
            f"{e.action:8} {e.kind:12} {len(e.nodes):5d} {e.array_bytes:12d} {e.sealed_bytes:13d}"
            f" {e.seconds * 1000:7.2f}"
        )
    print("final global model (first row):", result.arrays[0][0])


if __name__ == "__main__":
    main()
