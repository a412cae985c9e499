"""Run a sealed NVFLARE FedAvg job in NVFLARE's simulator, with one command:

    python examples/nvflare/run.py [--workdir DIR] [--rounds N] [--clients N] [--plain]

It creates a key store per site (``DIR/keys/stores/<site>``, passphrase from
``SEALPACK_PASSPHRASE`` or a demo one) and a folder of every site's bundle, adds
sealpack to a ``NumpyFedAvgRecipe`` with ``add_sealpack`` and runs it with
``SimEnv``. Logs land in ``DIR/ws/<job>/<site>/log.txt``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ENV = "SEALPACK_PASSPHRASE"


def make_keys(root: Path, sites: list[str]) -> tuple[str, str]:
    """One encrypted KeyStore per site and a bundles folder with every site's bundle."""
    import sealpack

    bundles = root / "bundles"
    bundles.mkdir(parents=True, exist_ok=True)
    for site in sites:
        store_dir = root / "stores" / site
        if not store_dir.exists():
            identity = sealpack.Identity.generate(site)
            store = sealpack.KeyStore.create(
                store_dir, identity, passphrase=os.environ[ENV].encode()
            )
            (bundles / f"{site}.json").write_text(store.identity.bundle().to_json())
            store.close()
    return str(root / "stores" / "{site}"), str(bundles)


def build(args: argparse.Namespace, workdir: Path) -> object:
    """The recipe: plain NVFLARE FedAvg, plus one add_sealpack call."""
    from nvflare.app_common.np.recipes.fedavg import NumpyFedAvgRecipe

    from sealpack.integrations.nvflare import add_sealpack, allow_sealpack_components

    model = np.zeros((4, 256), dtype=np.float32)
    recipe = NumpyFedAvgRecipe(
        name="plain_fedavg" if args.plain else "sealed_fedavg",
        model=model.tolist(),
        min_clients=args.clients,
        num_rounds=args.rounds,
        train_script=str(HERE / "client.py"),
    )
    if not args.plain:
        sites = ["server"] + [f"site-{i}" for i in range(1, args.clients + 1)]
        keystore, bundles = make_keys(workdir / "keys", sites)
        add_sealpack(recipe, keystore=keystore, bundles=bundles, unlock_env=ENV, tasks=["train"])
        # NVFLARE 2.9 only builds allow-listed classes: let the simulated sites build sealpack's.
        allow_sealpack_components(workdir / "ws" / recipe.name / "local" / "resources.json.default")
    return recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--plain", action="store_true", help="run without sealpack")
    args = parser.parse_args()
    os.environ.setdefault(ENV, "demo passphrase: set SEALPACK_PASSPHRASE in real use")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sealpack-nvflare-"))

    from nvflare.recipe import SimEnv

    recipe = build(args, workdir)
    start = time.perf_counter()
    recipe.execute(SimEnv(num_clients=args.clients, workspace_root=str(workdir / "ws")))
    seconds = time.perf_counter() - start
    job = workdir / "ws" / recipe.name
    final = np.load(job / "server" / "simulate_job" / "models" / "server.npy")
    print(f"\n{recipe.name}: {args.rounds} rounds, {args.clients} clients in {seconds:.1f} s")
    print(f"final model: shape {final.shape}, mean {final.mean():+.5f}")
    print(f"logs: {job}/<site>/log.txt")


if __name__ == "__main__":
    main()
