"""Runs inside the Python 3.12 syft-flwr environment: one federation, facts as JSON.

    python driver.py {plain|sealed|attacked} WORKDIR

Uses examples/syft_flwr/run.py (the example) to build and run the project; adds the
scan of every file under the datasites for the model's bytes (raw, or base64 inside
JSON as syft-rpc stores bodies), the marker log of each datasite and, for
``attacked``, the tap's record (tapped_server.py).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "examples" / "syft_flwr"))

import run as example  # noqa: E402

FLOATS = 4096
_B64 = re.compile(rb"[A-Za-z0-9+/_-]{64,}={0,2}")  # pydantic writes bytes as URL-safe base64


def model_needles() -> list[bytes]:
    """Slices of every model that crosses the wire (initial, and each datasite's update)."""
    sys.path.insert(0, str(ROOT / "examples" / "syft_flwr" / "app"))
    from sealed_fl.task import initial_model

    w0 = initial_model(FLOATS)
    models = [w0] + [w0 * np.float32(1.0 + float(d)) for d in example.DELTAS]
    return [m.tobytes()[i : i + 64] for m in models for i in (0, 4096, 8192)]


def holds_model(data: bytes, needles: list[bytes]) -> bool:
    """Whether ``data`` holds any needle, raw or base64-encoded (syft-rpc JSON bodies).

    Only base64 runs are decoded (a model slice inside a differently aligned run would
    be missed), which is how syft-rpc stores a body: one run from its first byte.
    """
    views = [data]
    for run in _B64.findall(data):
        try:
            standard = run.replace(b"-", b"+").replace(b"_", b"/")
            views.append(base64.b64decode(standard + b"=" * (-len(standard) % 4)))
        except ValueError:
            continue
    return any(n in v for v in views for n in needles)


class Scanner(FileSystemEventHandler):
    """Reads every version of every file written under a ``datasites`` folder.

    syft-flwr deletes request and response files once a reply is pulled, so a scan
    at the end would see almost nothing: every write is scanned when it happens.
    """

    def __init__(self, needles: list[bytes]) -> None:
        self.needles = needles
        self.hits: set[str] = set()
        self.versions = 0
        self.lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
            return
        path = str(getattr(event, "dest_path", "") or event.src_path)
        self.check(Path(path))

    def check(self, path: Path) -> None:
        if "/datasites/" not in str(path):
            return
        try:
            data = path.read_bytes()
        except OSError:
            return
        with self.lock:
            self.versions += 1
            if holds_model(data, self.needles):
                self.hits.add(str(path).split("/datasites/", 1)[1])


def main() -> int:
    mode, work = sys.argv[1], Path(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = ""
    if mode == "attacked":
        os.environ["SEALED_FL_TAP_OUT"] = str(work / "tap.json")
        server = "sealed_fl.tapped_server:app"
    (work / "tmp").mkdir()
    scanner = Scanner(model_needles())
    observer = Observer()
    observer.schedule(scanner, str(work / "tmp"), recursive=True)
    observer.start()
    try:
        facts = example.federate(
            work,
            sealed=mode != "plain",
            floats=FLOATS,
            rounds=2,
            server=server,
            extra_modules=[Path(__file__).with_name("tapped_server.py")] if server else (),
        )
    finally:
        observer.stop()
        observer.join()
    for path in Path(facts["network"]).rglob("*"):
        if path.is_file():
            scanner.check(path)
    facts["model_hits"] = sorted(scanner.hits)
    facts["file_versions_scanned"] = scanner.versions
    facts["trained"] = {
        Path(d).name: (Path(d) / "trained.log").read_text().split()
        if (Path(d) / "trained.log").exists()
        else []
        for d in facts["data"]
    }
    if mode == "attacked" and (work / "tap.json").exists():
        facts["tap"] = json.loads((work / "tap.json").read_text())
    if facts["final"]:
        facts["final_values"] = np.load(facts["final"])[:8].tolist()
    print("SEALPACK-FACTS " + json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
