"""Run the sealpack benchmarks side by side and check the targets of issues 2, 4 and 18.

    python benchmarks/run.py [--quick] [--only codec,envelope,warm,small,recipients,flower,pqxdh]
                             [--fobs-python PY] [--syft-python PY] [--output FILE]

Each benchmark module exposes ``run(quick) -> list[dict]``. The rows are printed as
tables, followed by every target with its measured value and MET / NOT MET, and the
same report is written as markdown to benchmarks/results/latest.md.

nvflare and syft-crypto cannot share one environment (they pin incompatible
cryptography releases): ``--fobs-python`` / ``--syft-python`` name interpreters that
have them (plus numpy). nvflare is looked for in the current interpreter; syft-crypto
in ``.venv-syftcrypto312``, built on the first run (benchmarks/syft_peer.py). A missing
package shows as "not installed" and the run goes on.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import targets18  # noqa: E402 - next to this script

# envelope: a fresh process per case; warm: one long-running process (issue 18)
BENCHMARKS = ("codec", "envelope", "warm", "small", "recipients", "flower", "pqxdh", "typed")
BENCHMARKS += ("nvflare_rounds",)  # sealpack inside NVFLARE's simulator (issue 11)
BENCHMARKS += ("session",)  # ratchet sessions beside a fresh X3DH seal (issue 15)
BENCHMARKS += ("syft_flwr",)  # sealpack inside syft-flwr vs syft-crypto (issue 12)
Row = dict[str, Any]
Target = tuple[str, str, bool | None]  # (target, measured, met; None = not measurable)


def _cpu_facts() -> str:
    model, flags = platform.processor() or "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    shown = [f for f in ("aes", "vaes", "vpclmulqdq", "sha_ni", "avx2", "avx512f") if f in flags]
    return f"{model}, {os.cpu_count()} cores, flags: {' '.join(shown) or 'unknown'}"


def _versions() -> str:
    names = ["numpy", "cryptography", "msgpack", "blake3"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.import_module(name).__version__}")
        except ImportError:
            found.append(f"{name} missing")
    return f"Python {platform.python_version()}, " + ", ".join(found)


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def markdown_table(rows: Sequence[Row]) -> str:
    """A markdown table whose columns are the rows' keys (first-seen order) minus 'bench'."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key != "bench" and key not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _find(rows: Sequence[Row], **match: Any) -> Row | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def codec_targets(rows: Sequence[Row]) -> list[Target]:
    """Issue 2: dumps_buffers / loads >= 10x pickle 5; dumps <= 1.3x a memcpy."""
    targets: list[Target] = []
    for op in ("dumps_buffers", "loads(bytearray)"):
        row = _find(rows, case="model", library="sealpack", op=op)
        speedup = row.get("speedup_vs_pickle") if row else None
        met = None if speedup is None else speedup >= 10
        targets.append((f"codec model {op} >= 10x pickle 5", f"{_cell(speedup)}x", met))
    dumps = _find(rows, case="model", library="sealpack", op="dumps")
    memcpy = _find(rows, case="model", library="memcpy", op="bytes(frame)")
    if dumps and memcpy:
        ratio = dumps["seconds"] / memcpy["seconds"]
        targets.append(("codec model dumps <= 1.3x memcpy time", f"{ratio:.2f}x", ratio <= 1.3))
    else:
        targets.append(("codec model dumps <= 1.3x memcpy time", "not measured", None))
    return targets


def envelope_targets(rows: Sequence[Row]) -> list[Target]:
    """Issue 4: >= 0.6x raw AES-GCM, peak extra <= 1.3x payload, >= 5x FOBS+AESGCM."""
    targets: list[Target] = []
    for op in ("seal", "unseal"):
        for recipients in (1, 10):
            row = _find(rows, library="sealpack", op=op, recipients=recipients) or {}
            where = f"{op} to {recipients}" if op == "seal" else f"{op} ({recipients} recipients)"
            ratio, peak = row.get("x_raw"), row.get("peak_x")
            fobs = row.get("x_faster_than_fobs")
            targets.append(
                (
                    f"{where}: >= 0.6x raw AES-GCM",
                    f"{_cell(ratio)}x",
                    None if ratio is None else ratio >= 0.6,
                )
            )
            targets.append(
                (
                    f"{where}: peak extra <= 1.3x payload",
                    f"{_cell(peak)}x",
                    None if peak is None else peak <= 1.3,
                )
            )
            fobs_row = _find(rows, library="fobs+aesgcm", op=op, recipients=recipients) or {}
            shown = f"{_cell(fobs)}x" if fobs is not None else fobs_row.get("status", "-")
            targets.append(
                (
                    f"{where}: >= 5x faster than FOBS+AESGCM",
                    shown,
                    None if fobs is None else fobs >= 5,
                )
            )
    return targets


TARGETS: dict[str, Callable[[Sequence[Row]], list[Target]]] = {
    "codec": codec_targets,
    "envelope": lambda rows: envelope_targets(rows) + targets18.fresh_targets(rows),
    "warm": targets18.warm_targets,
    "small": targets18.small_targets,
    "recipients": targets18.recipients_targets,
}
TARGETS["session"] = lambda rows: importlib.import_module("session").targets(rows)
TARGETS["codec"] = lambda rows: codec_targets(rows) + importlib.import_module("codec").targets(rows)


def run_benchmark(name: str, quick: bool) -> tuple[list[Row], str | None]:
    """Import benchmarks/<name>.py and call run(quick); an error becomes a message.

    The environment is put back afterwards: Flower's Ray backend and NVFLARE's
    simulator set ``PYTHONPATH`` to this interpreter's paths, which broke the Python
    3.12 children (syft-crypto, syft-flwr) of the benchmarks that ran after them.
    """
    saved = dict(os.environ)
    try:
        module = importlib.import_module(name)
        return list(module.run(quick)), None
    except Exception as error:  # report and go on with the other benchmarks
        traceback.print_exc()
        return [], f"{type(error).__name__}: {error}"
    finally:
        os.environ.clear()
        os.environ.update(saved)


def report(results: dict[str, tuple[list[Row], str | None]], header: list[str]) -> str:
    """The whole markdown report."""
    parts = ["# sealpack benchmark results", "", *header, ""]
    all_targets: list[Target] = []
    for name, (rows, error) in results.items():
        parts += [f"## {name}", ""]
        parts.append(f"FAILED: {error}" if error else markdown_table(rows) if rows else "no rows")
        parts.append("")
        if name in TARGETS and not error:
            all_targets += TARGETS[name](rows)
    if all_targets:
        parts += ["## targets", "", "| target | measured | result |", "|---|---|---|"]
        for target, measured, met in all_targets:
            verdict = "n/a" if met is None else "MET" if met else "NOT MET"
            parts.append(f"| {target} | {measured} | {verdict} |")
        parts.append("")
    return "\n".join(parts)


def _find_syft_crypto() -> None:
    """Point the envelope children at syft-crypto's own interpreter (built once)."""
    from syft_peer import syft_crypto_python

    try:
        os.environ["SEALPACK_BENCH_SYFT_PYTHON"] = syft_crypto_python()
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        print(f"syft-crypto unavailable ({type(error).__name__}); its rows say so", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run the sealpack benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help="comma-separated subset of: " + ",".join(BENCHMARKS),
    )
    parser.add_argument("--fobs-python", help="python that has nvflare (for FOBS+AESGCM)")
    parser.add_argument("--syft-python", help="python that has syft-crypto")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "latest.md")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    if args.fobs_python:
        os.environ["SEALPACK_BENCH_FOBS_PYTHON"] = args.fobs_python
    if args.syft_python:
        os.environ["SEALPACK_BENCH_SYFT_PYTHON"] = args.syft_python
    if "envelope" in chosen and not args.syft_python:  # its children need the interpreter
        _find_syft_crypto()
    started, load_before = time.time(), _load()
    results = {}
    for name in chosen:
        print(f"== {name} ...", file=sys.stderr, flush=True)
        results[name] = run_benchmark(name, args.quick)
    header = [
        f"- command: `python benchmarks/run.py {' '.join(argv or sys.argv[1:])}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}, "
        f"took {time.time() - started:.0f} s, mode: {'quick' if args.quick else 'full'}",
        f"- machine: {_cpu_facts()}",
        f"- software: {_versions()}",
        f"- load average before: {load_before}; after: {_load()} "
        "(above ~0.3 means other work shared the cores)",
    ]
    text = report(results, header)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(f"\nwritten to {args.output}", file=sys.stderr)
    return 1 if any(error for _, error in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
