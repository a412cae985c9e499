"""Cost of sealing an NVFLARE job: per round against plaintext, and per filter call.

(Named ``nvflare_rounds`` rather than ``nvflare``: benchmarks/ is put first on
``sys.path`` by run.py, and a ``nvflare.py`` there would shadow the real package.)

``run(quick)`` returns two kinds of rows:

* ``nvflare_round``: NVFLARE's simulator (SimEnv) running a ``NumpyFedAvgRecipe``
  with 2 clients and 3 rounds, plain and sealed (``add_sealpack``), per model size;
  the round time is read from the server log (round start to model persisted), so
  the simulator's start-up is excluded. NVFLARE's task polling sets a floor of
  about 2-3 s per round whatever the model size.
* ``nvflare_filter``: the four sealpack filters called in-process on one model,
  the exact work sealing adds to a round: the server seals the task once for all
  clients, each client opens it and seals its result, the server opens each result.
  Opening a site's KeyStore (scrypt, once per process and job) is timed apart.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CLIENT_SCRIPT = REPO / "examples" / "nvflare" / "client.py"
_ENV = "SEALPACK_BENCH_NVFLARE_PASSPHRASE"
SIZES = {"400 KB": 100_000, "100 MB": 25_000_000}  # float32 elements
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_START = re.compile(r"Round (\d+) started\.")


def _make_keys(root: Path, sites: list[str]) -> tuple[str, str]:
    import sealpack

    bundles = root / "bundles"
    bundles.mkdir(parents=True)
    for site in sites:
        identity = sealpack.Identity.generate(site, one_time_prekeys=1)
        store = sealpack.KeyStore.create(
            root / "stores" / site, identity, passphrase=os.environ[_ENV].encode()
        )
        (bundles / f"{site}.json").write_text(store.identity.bundle().to_json())
        store.close()
    return str(root / "stores" / "{site}"), str(bundles)


def round_seconds(log: str) -> list[float]:
    """Seconds from each "Round N started." to the model persisted at its end."""
    starts: dict[int, datetime] = {}
    ends: list[datetime] = []
    stamp: datetime | None = None
    for line in log.splitlines():
        found = _STAMP.match(line)
        if found:
            stamp = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f")
        started = _START.search(line)
        if started and stamp is not None:
            starts[int(started.group(1))] = stamp
        elif "End persist model on server." in line and stamp is not None:
            ends.append(stamp)
    return [(end - starts[i]).total_seconds() for i, end in enumerate(ends) if i in starts]


def _job(root: Path, elements: int, keys: tuple[str, str] | None, rounds: int) -> list[float]:
    from nvflare.app_common.np.recipes.fedavg import NumpyFedAvgRecipe
    from nvflare.recipe import SimEnv

    from sealpack.integrations.nvflare import add_sealpack

    checkpoint = root / "initial.npy"
    np.save(checkpoint, np.linspace(-1, 1, elements, dtype=np.float32))
    name = "sealed" if keys else "plain"
    recipe = NumpyFedAvgRecipe(
        name=name,
        initial_ckpt=str(checkpoint),
        min_clients=2,
        num_rounds=rounds,
        train_script=str(CLIENT_SCRIPT),
    )
    if keys:
        add_sealpack(recipe, keystore=keys[0], bundles=keys[1], unlock_env=_ENV)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        recipe.execute(SimEnv(num_clients=2, workspace_root=str(root / "ws")))
    finally:
        os.chdir(cwd)
    return round_seconds((root / "ws" / name / "server" / "log.txt").read_text(errors="replace"))


def _round_rows(quick: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    sizes = ["400 KB"] if quick else list(SIZES)
    for label in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            keys = _make_keys(root / "keys", ["server", "site-1", "site-2"])
            (root / "p").mkdir()
            (root / "s").mkdir()
            plain = _job(root / "p", SIZES[label], None, 3)
            sealed = _job(root / "s", SIZES[label], keys, 3)
        for index, (p, s) in enumerate(zip(plain, sealed, strict=False)):
            rows.append(
                {
                    "bench": "nvflare_round",
                    "model": label,
                    "clients": 2,
                    "round": index,
                    "plain_s": round(p, 3),
                    "sealed_s": round(s, 3),
                    "overhead_s": round(s - p, 3),
                }
            )
    return rows


def _timed(times: dict[str, float], name: str, call: Any) -> Any:
    started = time.perf_counter()
    value = call()
    times[name] = time.perf_counter() - started
    return value


def _filter_row(label: str) -> dict[str, object]:
    sys.path.insert(0, str(REPO))
    from nvflare.apis.shareable import make_copy
    from tests.integrations.nvflare import fakes

    from sealpack.integrations.nvflare import filters as flt
    from sealpack.integrations.nvflare.keys import KeyConfig, close_site_keys, site_keys
    from sealpack.integrations.nvflare.wire import find_blob

    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        keystore, bundles = _make_keys(Path(tmp), ["server", "site-1", "site-2"])
        args: dict[str, Any] = {"keystore": keystore, "bundles": bundles, "unlock_env": _ENV}
        task = fakes.task_data({"w": np.linspace(-1, 1, SIZES[label], dtype=np.float32)})
        config = KeyConfig(keystore, bundles, _ENV)
        _timed(times, "open_keystore", lambda: site_keys(config, "server"))  # once per process
        site_keys(config, "site-1")
        server_ctx, client_ctx = fakes.context("server"), fakes.context("site-1")
        seal_task = flt.SealTaskDataFilter(**args).process
        sealed = _timed(times, "server_seal_task", lambda: seal_task(make_copy(task), server_ctx))
        opened = _timed(
            times,
            "client_open_task",
            lambda: flt.OpenTaskDataFilter(**args).process(sealed, client_ctx),
        )
        result = _timed(
            times,
            "client_seal_result",
            lambda: flt.SealTaskResultFilter(**args).process(opened, client_ctx),
        )
        peer_ctx = fakes.context("server", peer="site-1")
        open_result = flt.OpenTaskResultFilter(**args).process
        _timed(times, "server_open_result", lambda: open_result(result, peer_ctx))
        blob = find_blob(sealed)
        close_site_keys()
    return {
        "bench": "nvflare_filter",
        "model": label,
        "blob_bytes": int(blob.nbytes) if blob is not None else 0,
        **{f"{k}_ms": round(v * 1000, 1) for k, v in times.items()},
    }


def _filter_rows(quick: bool) -> list[dict[str, object]]:
    return [_filter_row(label) for label in (["400 KB"] if quick else list(SIZES))]


def run(quick: bool) -> list[dict[str, object]]:
    """In-process filter cost per model size, then per-round overhead in the simulator."""
    os.environ.setdefault(_ENV, "benchmark passphrase")
    return _filter_rows(quick) + _round_rows(quick)


def summary(rows: list[dict[str, object]]) -> str:
    """Median overhead per model size (rounds after the first)."""
    lines = []
    for label in SIZES:
        over = [float(r["overhead_s"]) for r in rows if r.get("model") == label and r.get("round")]  # type: ignore[arg-type]
        if over:
            lines.append(f"{label}: median overhead {statistics.median(over):.3f} s per round")
    return "\n".join(lines)


if __name__ == "__main__":
    found = run(quick="--quick" in sys.argv)
    for row in found:
        print(row)
    print(summary(found))
