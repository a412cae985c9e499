"""Codec benchmark: sealpack vs pickle protocol 5 (in-band) vs plain msgpack.

Run ``python benchmarks/codec.py [--quick | --small]``. ``run(quick)`` returns the rows
so benchmarks/run.py can combine them with other benchmarks, and ``targets(rows)`` the
issue 18 target (the small message within 2x of pickle 5, CPU time). Cases: a model of
20 float32 arrays (200 MiB), one 1 GiB float32 array, and a small message of about
300 mixed values (wall time, and CPU time for the target). Times are the best of
several runs; peak memory is measured in a separate run under tracemalloc (numpy
reports its buffers to it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from sealpack.serialization import Codec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MIB, traced_peak_extra


def make_model(total_bytes: int, count: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    per_array = total_bytes // count // 4
    return {f"layer{i}.weight": rng.random(per_array, dtype=np.float32) for i in range(count)}


def make_small_message() -> dict[str, Any]:
    return {
        "round": 17,
        "client": "site-3",
        "metrics": {f"m{i}": i * 0.25 for i in range(60)},
        "counts": list(range(100)),
        "labels": [f"label-{i}" for i in range(60)],
        "pairs": [(i, f"p{i}") for i in range(20)],
        "flags": [True, False, None] * 10,
        "sent": dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc),
        "blob": b"\x01" * 64,
    }


def msgpack_dumps(obj: Any) -> bytes:
    def default(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return {"dtype": value.dtype.str, "shape": list(value.shape), "data": value.tobytes()}
        if isinstance(value, dt.datetime):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    return msgpack.packb(obj, default=default, use_bin_type=True)


def msgpack_loads(data: bytes) -> Any:
    def hook(value: dict[str, Any]) -> Any:
        if value.keys() == {"dtype", "shape", "data"}:
            return np.frombuffer(value["data"], value["dtype"]).reshape(value["shape"])
        return value

    return msgpack.unpackb(data, object_hook=hook, raw=False, strict_map_key=False)


def best_time(function: Callable[[], Any], repeats: int, inner: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            result = function()
        best = min(best, (time.perf_counter() - start) / inner)
        del result
    return best


def peak_mib(function: Callable[[], Any]) -> float:
    """Peak of new allocations while ``function`` runs, in MiB (tracemalloc)."""
    return traced_peak_extra(function) / MIB


Factory = Callable[[], Callable[[], Any]]


def operations(obj: Any, codec: Codec) -> list[tuple[str, str, Factory]]:
    """(library, operation, factory) per measured operation.

    A factory prepares the operation's input (e.g. the encoded frame) and
    returns the function to time, so only one encoded copy is alive at a time.
    """

    def loads_of(dumps: Callable[[Any], Any], loads: Callable[[Any], Any], wrap: Any) -> Factory:
        def prepare() -> Callable[[], Any]:
            data = wrap(dumps(obj))
            return lambda: loads(data)

        return prepare

    def copy_of(copy: Callable[[memoryview], Any]) -> Factory:
        def prepare() -> Callable[[], Any]:
            frame = codec.dumps(obj)
            return lambda: copy(memoryview(frame))

        return prepare

    def pickle_dumps(value: Any) -> bytes:
        return pickle.dumps(value, protocol=5)

    same = lambda data: data  # noqa: E731
    return [
        ("sealpack", "dumps_buffers", lambda: lambda: codec.dumps_buffers(obj)),
        ("sealpack", "dumps", lambda: lambda: codec.dumps(obj)),
        ("sealpack", "loads(bytes)", loads_of(codec.dumps, codec.loads, same)),
        ("sealpack", "loads(bytearray)", loads_of(codec.dumps, codec.loads, bytearray)),
        ("pickle5", "dumps", lambda: lambda: pickle_dumps(obj)),
        ("pickle5", "loads", loads_of(pickle_dumps, pickle.loads, same)),
        ("msgpack", "dumps", lambda: lambda: msgpack_dumps(obj)),
        ("msgpack", "loads", loads_of(msgpack_dumps, msgpack_loads, same)),
        ("memcpy", "bytes(frame)", copy_of(bytes)),
        ("memcpy", "numpy copy", copy_of(lambda view: np.frombuffer(view, np.uint8).copy())),
    ]


def measure_case(
    case: str, obj: Any, payload: int, repeats: int, inner: int
) -> list[dict[str, Any]]:
    """Time (and for big cases, trace the peak memory of) every operation on ``obj``."""
    codec = Codec()
    rows = []
    for library, operation, factory in operations(obj, codec):
        function = factory()
        seconds = best_time(function, repeats, inner)
        rows.append(
            {
                "case": case,
                "library": library,
                "op": operation,
                "seconds": seconds,
                "gb_per_s": payload / seconds / 1e9,
                "peak_mib": peak_mib(function) if inner == 1 else float("nan"),
            }
        )
        del function
    pickle_times = {row["op"]: row["seconds"] for row in rows if row["library"] == "pickle5"}
    for row in rows:
        reference = pickle_times["loads"] if "loads" in row["op"] else pickle_times["dumps"]
        row["speedup_vs_pickle"] = reference / row["seconds"]
    return rows


SMALL_CPU_CASE = "small (CPU)"
SMALL_TARGET = 2.0
"""Issue 18: the small-object path within 2x of pickle 5, for dumps and for loads."""


def small_cpu_rows(rounds: int, calls: int = 1000) -> list[dict[str, Any]]:
    """CPU time per call (``time.process_time``, which other processes do not inflate) of
    dumps and loads of :func:`make_small_message`, sealpack and pickle 5 interleaved in
    each round, best of ``rounds`` rounds: the issue 18 target row."""
    codec, message = Codec(), make_small_message()
    frame, pickled = codec.dumps(message), pickle.dumps(message, protocol=5)
    functions: dict[tuple[str, str], Callable[[], Any]] = {
        ("sealpack", "dumps"): lambda: codec.dumps(message),
        ("pickle5", "dumps"): lambda: pickle.dumps(message, protocol=5),
        ("sealpack", "loads"): lambda: codec.loads(frame),
        ("pickle5", "loads"): lambda: pickle.loads(pickled),
    }
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(rounds):
        for key, function in functions.items():
            start = time.process_time()
            for _ in range(calls):
                function()
            best[key] = min(best[key], (time.process_time() - start) / calls)
    rows = []
    for (library, op), seconds in best.items():
        reference = best[("pickle5", op)]
        rows.append(
            {
                "case": SMALL_CPU_CASE,
                "library": library,
                "op": op,
                "seconds": seconds,
                "gb_per_s": len(pickled) / seconds / 1e9,
                "peak_mib": float("nan"),
                "speedup_vs_pickle": reference / seconds,
            }
        )
    return rows


def _small_row(rows: list[dict[str, Any]], library: str, op: str) -> dict[str, Any] | None:
    match = {"case": SMALL_CPU_CASE, "library": library, "op": op}
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """Issue 18: Codec dumps and loads of the small message within 2x of pickle 5 (CPU)."""
    found: list[tuple[str, str, bool | None]] = []
    for op in ("dumps", "loads"):
        name = f"codec small message {op} <= {SMALL_TARGET:g}x pickle 5 (CPU time)"
        mine, theirs = _small_row(rows, "sealpack", op), _small_row(rows, "pickle5", op)
        if mine is None or theirs is None:
            found.append((name, "not measured", None))
            continue
        ratio = mine["seconds"] / theirs["seconds"]
        shown = f"{ratio:.2f}x ({mine['seconds'] * 1e6:.1f} vs {theirs['seconds'] * 1e6:.1f} us)"
        found.append((name, shown, ratio <= SMALL_TARGET))
    return found


def run(quick: bool) -> list[dict[str, Any]]:
    """Measure every case; ``quick`` shrinks the data so the run takes seconds."""
    model_bytes = 20 * MIB if quick else 200 * MIB
    big_bytes = 64 * MIB if quick else 1024 * MIB
    rows = measure_case("model", make_model(model_bytes), model_bytes, 3, 1)
    big = {"array": np.random.default_rng(1).random(big_bytes // 4, dtype=np.float32)}
    rows += measure_case("1GiB-array" if not quick else "64MiB-array", big, big_bytes, 2, 1)
    del big
    small = make_small_message()
    rows += measure_case("small", small, len(pickle.dumps(small, protocol=5)), 5, 200)
    rows += small_cpu_rows(rounds=5 if quick else 15)
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'case':<12} {'library':<9} {'op':<17} {'time':>11} {'GB/s':>8} "
        f"{'x pickle':>9} {'peak MiB':>9}"
    )
    for row in rows:
        seconds = row["seconds"]
        shown = f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"
        print(
            f"{row['case']:<12} {row['library']:<9} {row['op']:<17} {shown:>11} "
            f"{row['gb_per_s']:>8.2f} {row['speedup_vs_pickle']:>9.2f} {row['peak_mib']:>9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, for CI)")
    parser.add_argument("--small", action="store_true", help="only the small-message target")
    args = parser.parse_args()
    rows = small_cpu_rows(rounds=15) if args.small else run(args.quick)
    print_rows(rows)
    for target, measured, met in targets(rows):
        print(f"{target}: {measured}: {'n/a' if met is None else 'MET' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
