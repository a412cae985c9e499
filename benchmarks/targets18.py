"""The targets of issue 18, read from the rows of the envelope, warm, small and recipients
benchmarks. Each returns ``(target, measured, met)`` tuples (``met`` None: not measured).

Throughput targets are checked on every (size, recipients) cell of a table and shown as
the worst cell (and the best), so one line per call and table says whether *every*
cell meets it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Row = dict[str, Any]
Target = tuple[str, str, bool | None]

RAW_TARGET, RAW_STRETCH = 0.6, 1.0
PEAK_TARGET = 1.3
FOBS_TARGET, PICKLE_TARGET = 3.0, 2.0
SMALL_TARGET_MS = 0.6
STANZA_TARGET, LOOKUP_TARGET = 1.3, 1.2


def _span(values: list[float]) -> str:
    if not values:
        return "not measured"
    low, high = min(values), max(values)
    return f"{low:.2f}x" if abs(high - low) < 0.005 else f"{low:.2f}x (worst) .. {high:.2f}x"


def _at_least(name: str, values: list[float], bound: float) -> Target:
    return (name, _span(values), min(values) >= bound if values else None)


def _column(rows: Sequence[Row], column: str, keep: Callable[[Row], bool]) -> list[float]:
    return [r[column] for r in rows if keep(r) and r.get(column) is not None]


def throughput_targets(rows: Sequence[Row], table: str, calls: dict[str, str]) -> list[Target]:
    """>= 0.6x (stretch 1.0x) raw AES-GCM per call; >= 3x FOBS and 2x pickle for seal/unseal.

    Args:
        rows: the table's rows.
        table: "fresh" or "warm" (shown in the target's name).
        calls: public call name -> (library, op) key as ``"library/op"``.
    """
    targets: list[Target] = []
    for call, key in calls.items():
        library, op = key.split("/")

        def mine(row: Row, library: str = library, op: str = op) -> bool:
            return row.get("library") == library and row.get("op") == op

        ratios = _column(rows, "x_raw", mine)
        targets.append(_at_least(f"{table}: {call} >= 0.6x raw AES-GCM", ratios, RAW_TARGET))
        targets.append(
            _at_least(f"{table}: {call} >= 1.0x raw AES-GCM (stretch)", ratios, RAW_STRETCH)
        )
        peaks = _column(rows, "peak_x", mine)
        if peaks:
            worst = max(peaks)
            targets.append(
                (f"{table}: {call} peak extra <= 1.3x payload", f"{worst:.2f}x", worst <= 1.3)
            )
        if call in ("seal", "unseal"):
            for column, peer, bound in (
                ("x_faster_than_fobs", "FOBS+AES-GCM", FOBS_TARGET),
                ("x_fobs", "FOBS+AES-GCM", FOBS_TARGET),
                ("x_faster_than_pickle", "pickle 5+AES-GCM", PICKLE_TARGET),
                ("x_pickle", "pickle 5+AES-GCM", PICKLE_TARGET),
            ):
                found = _column(rows, column, mine)
                if found:
                    targets.append(
                        _at_least(f"{table}: {call} >= {bound:g}x faster than {peer}", found, bound)
                    )
    return targets


FRESH_CALLS = {
    "seal": "sealpack/seal",
    "unseal": "sealpack/unseal",
    "seal_to": "sealpack-file/seal",
    "unseal_from": "sealpack-file/unseal",
}
WARM_CALLS = {
    "seal": "sealpack/seal",
    "unseal": "sealpack/unseal",
    "seal_to": "sealpack-file/seal_to",
    "unseal_from": "sealpack-file/unseal_from",
}


FLOOR_SLACK = 1.1
"""sealpack's own check: ``seal_to(path)`` within this factor of writing its bytes alone."""


def _cell_key(row: Row) -> tuple[Any, Any]:
    return row.get("recipients"), row.get("MiB")


def file_floor_targets(rows: Sequence[Row], table: str, seal_to: str, floor: str) -> list[Target]:
    """``seal_to(path)`` against the durable write of the same bytes without cryptography
    (benchmarks/io_floor.py), cell by cell, and what that write alone reaches.

    Args:
        rows: the table's rows. table: shown in the names.
        seal_to, floor: ``"library/op"`` keys of the seal_to rows and the floor's write rows.
    """
    (mine_lib, mine_op), (floor_lib, floor_op) = seal_to.split("/"), floor.split("/")
    floors = {
        _cell_key(r): r
        for r in rows
        if (r.get("library"), r.get("op")) == (floor_lib, floor_op) and r.get("seconds")
    }
    ratios, ceilings = [], []
    for row in rows:
        match = floors.get(_cell_key(row))
        if (row.get("library"), row.get("op")) != (mine_lib, mine_op) or not row.get("seconds"):
            continue
        if match is not None:
            ratios.append(match["seconds"] / row["seconds"])
            if match.get("x_raw") is not None:
                ceilings.append(match["x_raw"])
    name = (
        f"{table}: seal_to (path) within {FLOOR_SLACK:g}x of a durable write of its bytes "
        "with no cryptography (sealpack's check: the disk's bound)"
    )
    shown = f"{_span(ratios)} of that write's speed; the write alone: {_span(ceilings)} raw"
    met = min(ratios) >= 1 / FLOOR_SLACK if ratios else None
    return [(name, shown, met)]


def read_floor_target(rows: Sequence[Row], table: str, read: str) -> Target:
    """Shown, not judged: what reading the file alone costs against raw AES-GCM (one of
    the three passes ``unseal_from`` shares between the cores)."""
    library, op = read.split("/")
    ratios = _column(rows, "x_raw", lambda r: (r.get("library"), r.get("op")) == (library, op))
    return (f"{table}: unseal_from's file read alone, no cryptography", _span(ratios), None)


def fresh_targets(rows: Sequence[Row]) -> list[Target]:
    """Issue 18 on the fresh-process table (benchmarks/envelope.py)."""
    return [
        *throughput_targets(rows, "fresh process", FRESH_CALLS),
        *file_floor_targets(rows, "fresh process", "sealpack-file/seal", "file-floor/seal"),
        read_floor_target(rows, "fresh process", "file-floor/unseal"),
    ]


def warm_targets(rows: Sequence[Row]) -> list[Target]:
    """Issue 18 on the warm-process table (benchmarks/warm.py)."""
    return [
        *throughput_targets(rows, "warm process", WARM_CALLS),
        *file_floor_targets(
            rows, "warm process", "sealpack-file/seal_to", "file-floor/write+fsync"
        ),
        read_floor_target(rows, "warm process", "file-floor/read"),
    ]


def small_targets(rows: Sequence[Row]) -> list[Target]:
    """1 KiB round trip <= 0.6 ms; shown with its ratio to the public-key floor."""
    mine = next((r for r in rows if r.get("case") == "sealpack" and r.get("ms")), None)
    floors = [r for r in rows if str(r.get("case", "")).startswith("floor") and r.get("ms")]
    if mine is None:
        return [("1 KiB round trip <= 0.6 ms", "not measured", None)]
    floor = max(floors, key=lambda r: r["ms"]) if floors else None
    shown = f"{mine['ms']:.3f} ms"
    if floor is not None:
        shown += f" ({mine['ms'] / floor['ms']:.2f}x the {floor['case']} of {floor['ms']:.3f} ms)"
    return [("1 KiB round trip <= 0.6 ms", shown, mine["ms"] <= SMALL_TARGET_MS)]


def recipients_targets(rows: Sequence[Row]) -> list[Target]:
    """Per-recipient cost <= 1.3x the stanza floor; last of N opens <= 1.2x a sole recipient."""
    if not rows:
        return []
    largest = max(rows, key=lambda r: r["recipients"])
    count, per = largest["recipients"], largest.get("x_floor")
    return [
        (
            f"per-recipient stanza cost at {count} recipients <= 1.3x the floor",
            "not measured" if per is None else f"{per:.2f}x ({largest['per_recipient_ms']:.3f} ms)",
            None if per is None else per <= STANZA_TARGET,
        ),
        (
            f"last of {count} recipients opens <= 1.2x a sole recipient",
            f"{largest['open_x_single']:.2f}x ({largest['open_last_ms']:.1f} ms)",
            largest["open_x_single"] <= LOOKUP_TARGET,
        ),
    ]
