"""One command: a syft-flwr federation (1 aggregator, 2 datasites) sealed by sealpack.

    .venv-syft312/bin/python examples/syft_flwr/run.py            # sealed
    .venv-syft312/bin/python examples/syft_flwr/run.py --plain    # syft-flwr alone

Builds the project in a fresh temporary directory (syft-flwr's simulation reuses
``$TMPDIR/<project>``, so every run gets its own), bootstraps it, runs syft-flwr's
local simulation (one process per participant) and prints the final model's checksum,
the time and the bytes the datasites hold on disk. Environment: see
docs/integrations/syft-flwr.md (Python 3.12, syft-flwr 0.5.3 with cryptography>=47).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGGREGATOR = "aggregator@sealpack.example"
DATASITES = ("alice@hospital-a.example", "bob@hospital-b.example")
DELTAS = ("0.25", "-0.5")
ATOMIC_PREFIX = (
    "from sealpack.integrations.syft_flwr.compat import install_atomic_rpc_writes\n"
    "install_atomic_rpc_writes()\n"
)


def make_project(
    work: Path,
    *,
    sealed: bool,
    floats: int,
    rounds: int,
    server: str = "",
    extra_modules: Sequence[Path] = (),
) -> Path:
    """Copy the app into ``work/sealed-fl``, set its size and rounds, and bootstrap it.

    ``server`` replaces the ServerApp component and ``extra_modules`` are copied into
    the app package (the tests' attacked ServerApp).
    """
    project = work / "sealed-fl"
    shutil.copytree(HERE / "app", project, ignore=shutil.ignore_patterns("__pycache__"))
    for module in extra_modules:
        shutil.copy(module, project / "sealed_fl" / module.name)
    text = (project / "pyproject.toml").read_text()
    text = text.replace("model-floats = 16384", f"model-floats = {floats}")
    text = text.replace("num-server-rounds = 2", f"num-server-rounds = {rounds}")
    if not sealed:
        text = text.replace("sealed_fl.server_app:app", "sealed_fl.plain:server_app")
        text = text.replace("sealed_fl.client_app:app", "sealed_fl.plain:client_app")
    if server:
        old = 'serverapp = "sealed_fl.server_app:app"'
        text = text.replace(old, f'serverapp = "{server}"')
    (project / "pyproject.toml").write_text(text)
    if sealed:
        from sealpack.integrations.syft_flwr import bootstrap

        bootstrap(project, AGGREGATOR, DATASITES)
    else:
        import syft_flwr

        syft_flwr.bootstrap(project, aggregator=AGGREGATOR, datasites=list(DATASITES))
        main_py = project / "main.py"  # same syft-rpc fix as the sealed run, for a fair run
        main_py.write_text(ATOMIC_PREFIX + main_py.read_text())
    return project


def make_data(work: Path) -> list[Path]:
    """One mock data folder per datasite, holding its delta."""
    paths = []
    for email, delta in zip(DATASITES, DELTAS, strict=True):
        path = work / "data" / email
        path.mkdir(parents=True)
        (path / "delta.txt").write_text(delta)
        paths.append(path)
    return paths


def disk_bytes(root: Path) -> int:
    """Bytes of every file under ``root``."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def federate(
    work: Path,
    *,
    sealed: bool,
    floats: int,
    rounds: int,
    server: str = "",
    extra_modules: Sequence[Path] = (),
) -> dict:
    """Run one federation in ``work`` (kept for inspection); return its facts."""
    os.environ["SEALED_FL_OUT"] = str(work / "final.npy")
    project = make_project(
        work,
        sealed=sealed,
        floats=floats,
        rounds=rounds,
        server=server,
        extra_modules=extra_modules,
    )
    data = make_data(work)
    from sealpack.integrations.syft_flwr import run_simulation

    if not sealed:  # the same fresh-directory wrapper, with syft-crypto off as well
        os.environ.pop("SEALPACK_PASSPHRASE", None)
    started = time.perf_counter()
    ok, tmp = run_simulation(project, data, workdir=work / "tmp", keep_network=True)
    seconds = time.perf_counter() - started
    network = tmp / project.name / "datasites"
    final = work / "final.npy"
    return {
        "ok": ok,
        "seconds": seconds,
        "network": str(network),
        "datasite_bytes": disk_bytes(network) if network.exists() else 0,
        "final": str(final) if final.exists() else None,
        "final_sha256": hashlib.sha256(final.read_bytes()).hexdigest() if final.exists() else None,
        "logs": str(project / "simulation_logs"),
        "data": [str(p) for p in data],
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print a JSON summary; exit 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true", help="run syft-flwr without sealpack")
    parser.add_argument("--floats", type=int, default=16384, help="model size in float32 values")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", help="keep everything here (default: a new temp dir)")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sealpack-syft-example-"))
    facts = federate(work, sealed=not args.plain, floats=args.floats, rounds=args.rounds)
    print(json.dumps(facts, indent=2))
    return 0 if facts["ok"] and facts["final"] else 1


if __name__ == "__main__":
    sys.exit(main())
