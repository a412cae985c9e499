"""sealpack inside syft-flwr versus syft-crypto: time per round and bytes per message.

``run(quick)`` runs syft-flwr's local simulation (1 aggregator, 2 datasites, 2 rounds of
numpy FedAvg, one process per participant) three ways, at 10 MB (and 100 MB unless
``quick``) of model:

* ``plain``: syft-flwr with syft-crypto off (no protection; the floor);
* ``sealpack``: sealed by sealpack (``sealpack.integrations.syft_flwr``);
* ``syft-crypto``: syft-flwr's own encryption (``SYFT_FLWR_ENCRYPTION_ENABLED=true``).

Each run executes this file with ``--inside`` in a Python 3.12 environment: sealpack's
(``.venv-syft312``, built by the documented recipe) for ``plain`` and ``sealpack``, and
one with cryptography<45 for ``syft-crypto`` (``SEALPACK_BENCH_SYFT_PYTHON`` if it has
syft-flwr, else ``.venv-syftcrypto312`` built with ``uv pip install syft-flwr==0.5.3``).
Rows: seconds per round (the ServerApp's ``send_and_receive`` of a training round:
seal, write, sync, train, reply, open), and the largest request and response file a
datasite holds for one message. syft-rpc's non-atomic writes are fixed in all three
(without it a round may stall for the 3600 s reply timeout).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODES = ("plain", "sealpack", "syft-crypto")
ROUNDS = 2

_ATOMIC = """
def _sealpack_bench_atomic_dump(self, path):  # same fix as sealpack's compat module
    import os, tempfile
    from pathlib import Path
    target = Path(path)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix="." + target.name + ".", suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(self.dumps())
    os.replace(temp, target)
import syft_rpc.protocol
syft_rpc.protocol.Base.dump = _sealpack_bench_atomic_dump
"""

_TIMED_SERVER = '''
"""Bench ServerApp: times each training round's send_and_receive (written by the bench)."""
import json, os, time
from flwr.serverapp import ServerApp
from sealed_fl import task

class Timer:
    def __init__(self, grid):
        self._grid, self.rounds = grid, []
    def __getattr__(self, name):
        return getattr(self._grid, name)
    def send_and_receive(self, messages, *, timeout=None):
        messages = list(messages)
        started = time.perf_counter()
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        if any(m.metadata.message_type == "train" for m in messages):
            ok = sum(1 for r in replies if not r.has_error())
            self.rounds.append([time.perf_counter() - started, ok])
        return replies

app = ServerApp()

@app.main()
def _main(grid, context):
    timers = []
    def wrap(inner):
        if os.environ.get("BENCH_SEALED") == "1":
            from sealpack.integrations.syft_flwr import install_flwr_shims, sealed_grid
            install_flwr_shims()
            inner = sealed_grid(inner, context)
        timers.append(Timer(inner))
        return timers[0]
    task.serve(grid, context, wrap=wrap)
    with open(os.environ["BENCH_OUT"], "w") as out:
        json.dump(timers[0].rounds, out)
'''


# --- inside the syft-flwr environment --------------------------------------------------
def _inside(mode: str, floats: int, work: Path) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "examples" / "syft_flwr"))
    import run as example  # the example's project and data helpers
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    sizes = {"request": 0, "response": 0}

    class Sizes(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            path = str(getattr(event, "dest_path", "") or event.src_path)
            kind = path.rsplit(".", 1)[-1]
            if kind in sizes and "/datasites/" in path:
                with contextlib.suppress(OSError):
                    sizes[kind] = max(sizes[kind], os.stat(path).st_size)

    project = _project(example, work, mode, floats)
    data = example.make_data(work)
    tmp = work / "tmp"
    tmp.mkdir()
    observer = Observer()
    observer.schedule(Sizes(), str(tmp), recursive=True)
    observer.start()
    os.environ.update(BENCH_OUT=str(work / "rounds.json"), TMPDIR=str(tmp))
    os.environ["BENCH_SEALED"] = "1" if mode == "sealpack" else "0"
    os.environ["SYFT_FLWR_SKIP_MODULE_CHECK"] = "true"
    tempfile.tempdir = str(tmp)
    started = time.perf_counter()
    try:
        if mode == "sealpack":
            from sealpack.integrations.syft_flwr import run_simulation

            ok, _ = run_simulation(project, data, workdir=tmp, keep_network=True)
        else:
            os.environ["SYFT_FLWR_ENCRYPTION_ENABLED"] = (
                "true" if mode == "syft-crypto" else "false"
            )
            import syft_flwr.run_simulation as simulation

            ok = bool(simulation.run(project, [str(p) for p in data]))
    finally:
        observer.stop()
        observer.join()
    rounds = json.loads((work / "rounds.json").read_text()) if ok else []
    return {"ok": ok, "total": time.perf_counter() - started, "rounds": rounds, **sizes}


def _project(example: Any, work: Path, mode: str, floats: int) -> Path:
    project = work / "sealed-fl"
    shutil.copytree(example.HERE / "app", project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "sealed_fl" / "bench_server.py").write_text(_TIMED_SERVER)
    text = (project / "pyproject.toml").read_text()
    text = text.replace("model-floats = 16384", f"model-floats = {floats}")
    text = text.replace("sealed_fl.server_app:app", "sealed_fl.bench_server:app")
    if mode != "sealpack":
        text = text.replace("sealed_fl.client_app:app", "sealed_fl.plain:client_app")
    (project / "pyproject.toml").write_text(text)
    if mode == "sealpack":
        from sealpack.integrations.syft_flwr import bootstrap

        bootstrap(project, example.AGGREGATOR, example.DATASITES)
    else:
        import syft_flwr

        syft_flwr.bootstrap(
            project, aggregator=example.AGGREGATOR, datasites=list(example.DATASITES)
        )
        main_py = project / "main.py"
        main_py.write_text(_ATOMIC + main_py.read_text())
    return project


# --- in the benchmark runner ------------------------------------------------------------
def _pythons() -> dict[str, str]:
    sys.path.insert(0, str(REPO))
    from syft_peer import syft_crypto_python  # next to this script
    from tests.integrations.syft_flwr.syft_env import ensure_env, find_python312

    python = find_python312()
    if python is None:
        raise RuntimeError("syft-flwr needs Python 3.12 or 3.13 (set SEALPACK_PYTHON312)")
    sealed = str(ensure_env(python))
    return {
        "plain": sealed,
        "sealpack": sealed,
        "syft-crypto": syft_crypto_python(python, needs="syft_flwr"),
    }


def run(quick: bool) -> list[dict[str, object]]:
    """One row per (model size, mode)."""
    pythons = _pythons()
    rows: list[dict[str, object]] = []
    for megabytes in (10,) if quick else (10, 100):
        for mode in MODES:
            with tempfile.TemporaryDirectory(prefix="bench-syft-flwr-") as work:
                facts = _run_one(pythons[mode], mode, megabytes * 1024 * 1024 // 4, Path(work))
            rows.append(_row(mode, megabytes, facts))
    return rows


def _run_one(python: str, mode: str, floats: int, work: Path) -> dict[str, Any]:
    env = {**os.environ, "SYFT_FLWR_POLL_INTERVAL": "0.5", "SEALED_FL_ROUND_TIMEOUT": "300"}
    done = subprocess.run(
        [python, __file__, "--inside", mode, str(floats), str(work / "w")],
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
        check=False,
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} run failed: {(done.stdout + done.stderr)[-2000:]}")
    return dict(json.loads(lines[-1][6:]))


def _row(mode: str, megabytes: int, facts: dict[str, Any]) -> dict[str, object]:
    rounds = facts["rounds"]
    return {
        "benchmark": "syft_flwr_round",
        "model_MB": megabytes,
        "mode": mode,
        "completed": bool(facts["ok"]) and len(rounds) == ROUNDS,
        "s_per_round": round(sum(r[0] for r in rounds) / len(rounds), 2) if rounds else None,
        "replies_per_round": min((r[1] for r in rounds), default=0),
        "request_MB_on_disk": round(facts["request"] / 2**20, 1),
        "response_MB_on_disk": round(facts["response"] / 2**20, 1),
        "run_s": round(facts["total"], 1),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inside"]:
        # this file's folder would shadow the real syft_flwr package (same name)
        sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
        mode, floats, work = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
        work.mkdir(parents=True)
        print("BENCH " + json.dumps(_inside(mode, floats, work)), flush=True)
    else:
        for row in run(quick="--quick" in sys.argv):
            print(row)
