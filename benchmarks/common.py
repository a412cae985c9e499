"""Shared helpers for the benchmarks: models, timing, peak memory, child processes.

Nothing here imports sealpack, so a worker can run under another interpreter (for
example a venv holding an optional competitor) as long as numpy is installed there.

Memory is measured two ways for one operation:
* ``rss``: the rise of the process's resident-set high-water mark (VmHWM, reset via
  /proc/self/clear_refs) over its resident size just before the operation. This sees
  every allocation, including C libraries and freed-then-reused pages.
* ``traced``: tracemalloc's peak (Python objects and numpy buffers, which numpy
  reports to tracemalloc). It ignores memory a C library allocates on its own.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MIB = 1 << 20
GIB = 1 << 30


def make_model(total_bytes: int, count: int = 24, seed: int = 0) -> dict[str, np.ndarray]:
    """A model of ``count`` float32 arrays of unequal sizes totalling ~``total_bytes``.

    Sizes vary (1x..3x of the smallest) like real layers; values are random normal.
    """
    rng = np.random.default_rng(seed)
    weights = np.array([1 + (i % 3) for i in range(count)], dtype=np.float64)
    elements = (weights / weights.sum() * (total_bytes // 4)).astype(np.int64)
    elements[-1] += total_bytes // 4 - int(elements.sum())
    return {
        f"layer{i:02d}.weight": rng.standard_normal(int(n), dtype=np.float32)
        for i, n in enumerate(elements)
    }


def model_bytes(model: dict[str, np.ndarray]) -> int:
    """Total array bytes of a model."""
    return sum(int(a.nbytes) for a in model.values())


def best_time(function: Callable[[], Any], repeat: int) -> float:
    """Best wall time in seconds over ``repeat`` calls (the result is dropped each time)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
        del result
    return best


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def rss_peak_extra(function: Callable[[], Any]) -> float | None:
    """Bytes the resident set grew to above its size before ``function`` (None: unsupported).

    The result of ``function`` is still alive when the peak is read, so an output the
    operation returns counts as extra memory (as it should).
    """
    gc.collect()
    try:
        if not _reset_high_water_mark():
            return None
        before = _status_kib("VmRSS")
        result = function()
        peak = _status_kib("VmHWM")
    except (OSError, RuntimeError):
        return None
    del result
    return float(max(peak - before, 0) * 1024)


def traced_peak_extra(function: Callable[[], Any]) -> float:
    """tracemalloc's peak of new allocations while ``function`` runs, in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return float(peak)


def run_worker(
    script: Path, spec: dict[str, Any], python: str | None = None, timeout: float = 3600
) -> dict[str, Any]:
    """Run ``python script --worker JSON`` in a fresh process; return its last JSON line.

    A child that fails returns ``{"status": "error: ..."}`` instead of raising.
    """
    command = [python or sys.executable, str(script), "--worker", json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"status": f"error: {type(error).__name__}"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": f"error: {tail[:160]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def gbps(size: int, seconds: float) -> float:
    """Throughput in GB/s (10^9 bytes per second)."""
    return size / seconds / 1e9 if seconds > 0 else float("inf")
