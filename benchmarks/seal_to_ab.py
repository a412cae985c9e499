"""A/B of ``seal_to`` (issue 18) in one warm process, rounds interleaved, order rotated.

Variants (256 MiB model of 24 float32 arrays by default):

* ``raw``: chunked AES-256-GCM into a fresh ``np.empty`` (the reference of issue 18);
* ``stream``: the two-thread stream (envelope.pipeline), no writeback hints, no
  reservation, and the previous round's file renamed over (its deletion timed), as the
  code and the warm benchmark were before the segmented writer;
* ``segmented``: what ``seal_to(path)`` does now (envelope.segmented + writeback hints +
  fallocate); the previous round's file deleted before the timing;
* ``segmented_over``: the same, renamed over the previous round's file (freed in a
  background thread);
* ``stream_file`` / ``segmented_file``: ``seal_to`` an open file object (no fsync).

Run ``python benchmarks/seal_to_ab.py [rounds] [MiB] [recipients]``; prints medians and
minima of the wall time and each variant's ratio to ``raw``.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MIB, make_model
from warm import _identities, _raw_pair

import sealpack
from sealpack.envelope import segmented, writeback

VARIANTS = ("raw", "stream", "segmented", "segmented_over", "stream_file", "segmented_file")
_NEW = (segmented.SEGMENTED_MIN_CHUNKS, writeback._SYNC_FILE_RANGE, writeback._FALLOCATE)


def _configure(new: bool) -> None:
    minimum, sync_range, fallocate = _NEW
    segmented.SEGMENTED_MIN_CHUNKS = minimum if new else 1 << 40
    writeback._SYNC_FILE_RANGE = sync_range if new else None
    writeback._FALLOCATE = fallocate if new else None


def main() -> None:
    given = [int(a) for a in sys.argv[1:4]]
    rounds, mib, recipients = given + [13, 256, 1][len(given) :]
    model = make_model(mib * MIB)
    raw_seal, _ = _raw_pair(model)
    sender, _, bundles, _ = _identities(recipients)
    folder = Path(tempfile.mkdtemp(prefix="bench-seal-to-"))
    path = folder / "model.sealed"

    def seal_to(target: object) -> None:
        sealpack.seal_to(model, target, sender=sender, recipients=bundles, one_time_prekey=False)

    def run(variant: str) -> float:
        _configure(variant.startswith("segmented"))
        renames_over = variant in ("stream", "segmented_over")
        if renames_over and not path.exists():
            seal_to(path)
        elif not renames_over:
            path.unlink(missing_ok=True)
        gc.collect()
        start = time.perf_counter()
        if variant == "raw":
            raw_seal()
        elif variant.endswith("_file"):
            with path.open("wb") as sink:
                seal_to(sink)
        else:
            seal_to(path)
        return time.perf_counter() - start

    times: dict[str, list[float]] = defaultdict(list)
    for index in range(rounds):
        shift = index % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            times[variant].append(run(variant))
    _configure(True)
    path.unlink(missing_ok=True)
    os.rmdir(folder)
    raw = times["raw"][1:]
    for variant in VARIANTS:
        samples = times[variant][1:]  # the first round warms up
        median, best = statistics.median(samples), min(samples)
        print(
            f"{variant:15s} median {median:.4f} s  min {best:.4f} s  "
            f"x_raw {statistics.median(raw) / median:.2f} (medians) "
            f"{min(raw) / best:.2f} (minima)"
        )


if __name__ == "__main__":
    main()
