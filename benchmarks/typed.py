"""Typed decoding (issue 13): what ``expect=`` adds to ``loads``, beside msgspec and pydantic.

Two cases: a 200 MiB model (20 float32 arrays; 20 MiB with --quick) checked with
``expect=sealpack.like(model)`` (target: <= 10% over ``loads``), and the ~300-value
message of benchmarks/codec.py checked with a TypedDict annotation and with
``like(message)`` (target: <= 2x ``loads``). Beside them, when installed:
msgspec's typed msgpack decoding and pydantic's validation of the same data (the
model as a dict of raw bytes, which is what those libraries can type).

    python benchmarks/typed.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:  # pydantic needs typing_extensions' TypedDict before Python 3.12
    from typing_extensions import TypedDict
except ImportError:  # pragma: no cover
    from typing import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from codec import MIB, make_model, make_small_message

from sealpack.serialization import Codec, like


class Small(TypedDict):
    """The annotation of make_small_message()'s value."""

    round: int
    client: str
    metrics: dict[str, float]
    counts: list[int]
    labels: list[str]
    pairs: list[tuple[int, str]]
    flags: list[bool | None]
    sent: dt.datetime
    blob: bytes


def best(function: Callable[[], Any], repeats: int, inner: int) -> float:
    """Best per-call CPU time over ``repeats`` rounds of ``inner`` calls (robust to load)."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(inner):
            function()
        times.append((time.process_time() - start) / inner)
    return min(times)


def _peers_small(message: dict[str, Any]) -> list[tuple[str, str, Callable[[], Any]]]:
    rows: list[tuple[str, str, Callable[[], Any]]] = []
    try:
        import msgspec

        data = msgspec.msgpack.encode(message)
        rows.append(("msgspec", "decode", lambda: msgspec.msgpack.decode(data)))
        decoder = msgspec.msgpack.Decoder(Small)
        rows.append(("msgspec", "decode(type=Small)", lambda: decoder.decode(data)))
    except ImportError:
        pass
    try:
        import pydantic

        adapter = pydantic.TypeAdapter(Small)
        rows.append(("pydantic", "validate_python", lambda: adapter.validate_python(message)))
    except ImportError:
        pass
    return rows


def _peers_model(model: dict[str, Any]) -> list[tuple[str, str, Callable[[], Any]]]:
    raw = {key: value.tobytes() for key, value in model.items()}
    rows: list[tuple[str, str, Callable[[], Any]]] = []
    try:
        import msgspec

        data = msgspec.msgpack.encode(raw)
        rows.append(("msgspec", "decode", lambda: msgspec.msgpack.decode(data)))
        decoder = msgspec.msgpack.Decoder(dict[str, bytes])
        rows.append(("msgspec", "decode(type=dict[str, bytes])", lambda: decoder.decode(data)))
    except ImportError:
        pass
    try:
        import pydantic

        adapter = pydantic.TypeAdapter(dict[str, bytes])
        rows.append(("pydantic", "validate_python", lambda: adapter.validate_python(raw)))
    except ImportError:
        pass
    return rows


def _case(
    name: str, obj: Any, expects: dict[str, Any], repeats: int, inner: int
) -> list[dict[str, Any]]:
    codec = Codec()
    frame = bytearray(codec.dumps(obj))
    plain = best(lambda: codec.loads(frame), repeats, inner)
    rows = [{"case": name, "library": "sealpack", "op": "loads", "seconds": plain, "x_loads": 1.0}]
    for label, expect in expects.items():
        seconds = best(lambda expect=expect: codec.loads(frame, expect=expect), repeats, inner)
        rows.append(
            {
                "case": name,
                "library": "sealpack",
                "op": f"loads(expect={label})",
                "seconds": seconds,
                "x_loads": seconds / plain,
            }
        )
    peers = _peers_model(obj) if name.startswith("model") else _peers_small(obj)
    for library, op, function in peers:
        seconds = best(function, repeats, inner)
        rows.append(
            {
                "case": name,
                "library": library,
                "op": op,
                "seconds": seconds,
                "x_loads": seconds / plain,
            }
        )
    return rows


def _target(
    rows: list[dict[str, Any]], case: str, op: str, limit: float, text: str
) -> dict[str, Any]:
    row = next(row for row in rows if row["case"] == case and row["op"] == op)
    ratio = row["x_loads"]
    return {
        "case": "target",
        "library": "sealpack",
        "op": text,
        "seconds": float("nan"),
        "x_loads": ratio,
        "result": "MET" if ratio <= limit else "NOT MET",
    }


def run(quick: bool) -> list[dict[str, Any]]:
    """Measure both cases; ``quick`` shrinks the model to 20 MiB."""
    size = 20 * MIB if quick else 200 * MIB
    model = make_model(size)
    model_case = f"model-{size // MIB}MiB"
    rows = _case(model_case, model, {"like(model)": like(model)}, 7, 50)
    del model
    small = make_small_message()
    rows += _case("small", small, {"Small": Small, "like(message)": like(small)}, 7, 500)
    rows.append(
        _target(
            rows,
            model_case,
            "loads(expect=like(model))",
            1.10,
            "model: expect= adds <= 10% to loads",
        )
    )
    rows.append(
        _target(
            rows, "small", "loads(expect=Small)", 2.0, "~300-value message: expect= <= 2x loads"
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 MiB model instead of 200 MiB")
    for row in run(parser.parse_args().quick):
        seconds = row["seconds"]
        shown = "" if seconds != seconds else f"{seconds * 1e6:10.1f} us"
        print(
            f"{row['case']:<14} {row['library']:<9} {row['op']:<40} {shown:>13} "
            f"{row['x_loads']:6.2f}x {row.get('result', '')}"
        )


if __name__ == "__main__":
    main()
