"""Warm process (issue 18): every library in one long-running process, rounds interleaved.

This is how a federated-learning client or server uses sealpack: one process seals a
model every round. Each round allocates nothing up front, runs every library's seal
then its open on the same model, and drops the results; the table shows medians over
the rounds, so load and memory state hit all libraries alike.

Libraries: ``raw-aesgcm`` (chunked AES-256-GCM ``encrypt_into``/``decrypt_into`` a fresh
``np.empty``, one thread: the reference every ratio uses), ``sealpack`` (``seal`` ->
bytes, ``unseal``), ``sealpack-file`` (``seal_to`` a path: temp file, fsync, rename;
``unseal_from`` it; the file lives in the page cache), ``sealpack-stream`` (the same
calls on open file objects: no fsync), ``file-floor`` (the raw reference's blob written
to a path as ``seal_to`` writes it, fsync included, and read back: no cryptography, the
disk's bound on ``sealpack-file``; benchmarks/io_floor.py), ``pickle5+aesgcm`` and
``fobs+aesgcm`` (serializer + one AESGCM + per-recipient X25519 key wrap; FOBS when
nvflare is importable).

Every output is freed outside the timing: arrays and blobs by ``del``, the sealed files
by ``unlink`` (deleting a 256 MiB file costs ~0.06 s here, as much as freeing memory
costs the in-memory libraries, which is not timed either); so ``seal_to`` writes a new
file each round instead of renaming over (or truncating) the previous round's.

Caveat on VMs with free-page reporting (virtio-balloon) and DAMON pageout, like the one
of issue 18: touching memory the host has taken back costs 0.3-0.7 s per 256 MiB
(measured: a fresh ``np.empty`` + one write per page, 0.045 s when the pages are warm),
so any output allocated fresh (``raw-aesgcm`` unseal most often, and a new file's page
cache) swings by that much from round to round.

Run ``python benchmarks/warm.py [--quick]``; ``run(quick)`` returns the rows.
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import io_floor
from common import GIB, MIB, gbps, make_model, model_bytes

from envelope import _chunk_lengths, _fobs_case, _pickle_case, _raw_seal, _raw_unseal, _same_model

Model = dict[str, np.ndarray]
Pair = tuple[Callable[[], Any], Callable[[Any], Any]]  # seal(), unseal(sealed)


def _raw_pair(model: Model) -> Pair:
    """The raw chunked AES-GCM reference, the same loops as the fresh-process table's."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(AESGCM.generate_key(256))
    lengths = _chunk_lengths(model)
    return (lambda: _raw_seal(aead, model)), lambda blob: _raw_unseal(aead, blob, lengths)


def _identities(recipients: int) -> tuple[Any, list[Any], list[Any], list[Any]]:
    from sealpack.keys import Identity

    sender = Identity.generate("bench-sender", one_time_prekeys=0)
    readers = [Identity.generate(f"reader{i}", one_time_prekeys=0) for i in range(recipients)]
    return sender, readers, [r.bundle() for r in readers], [sender.bundle()]


def _reopenable(reader: Any) -> None:
    """Forget accepted message ids so the bench can reopen (bench only)."""
    from sealpack.keys import MemoryReplayGuard

    reader.replay_guard = MemoryReplayGuard()


def _sealpack_pair(model: Model, recipients: int) -> Pair:
    import sealpack

    sender, readers, bundles, senders = _identities(recipients)

    def seal() -> bytes:
        return sealpack.seal(model, sender=sender, recipients=bundles, one_time_prekey=False)

    def unseal(blob: bytes) -> Any:
        _reopenable(readers[0])
        return sealpack.unseal(blob, recipient=readers[0], senders=senders)

    return seal, unseal


def _file_pair(model: Model, recipients: int, folder: Path) -> Pair:
    import sealpack

    sender, readers, bundles, senders = _identities(recipients)
    path = folder / "model.sealed"

    def seal() -> Path:
        sealpack.seal_to(model, path, sender=sender, recipients=bundles, one_time_prekey=False)
        return path

    def unseal(sealed: Path) -> Any:
        _reopenable(readers[0])
        return sealpack.unseal_from(sealed, recipient=readers[0], senders=senders)

    return seal, unseal


def _stream_pair(model: Model, recipients: int, folder: Path) -> Pair:
    """seal_to / unseal_from an open file object: the pipeline without fsync and rename."""
    import sealpack

    sender, readers, bundles, senders = _identities(recipients)
    path = folder / "model.stream"

    def seal() -> Path:
        with path.open("wb") as sink:
            sealpack.seal_to(model, sink, sender=sender, recipients=bundles, one_time_prekey=False)
        return path

    def unseal(sealed: Path) -> Any:
        _reopenable(readers[0])
        with sealed.open("rb") as source:
            return sealpack.unseal_from(source, recipient=readers[0], senders=senders)

    return seal, unseal


def _floor_pair(model: Model, folder: Path) -> Pair:
    """The file work of ``sealpack-file`` without the cryptography (benchmarks/io_floor.py)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = _raw_seal(AESGCM(AESGCM.generate_key(256)), model)
    return io_floor.seal_and_open(blob, folder)


def _hybrid_pair(case: Callable[[str, Model, int], Any], model: Model, recipients: int) -> Pair:
    """Seal each round; open a blob sealed once up front (the peers' own round trip)."""
    seal, _ = case("seal", model, recipients)
    unseal, _ = case("unseal", model, recipients)
    return seal, lambda _sealed: unseal()


def _pairs(model: Model, recipients: int, folder: Path) -> dict[str, Pair | str]:
    pairs: dict[str, Pair | str] = {
        "raw-aesgcm": _raw_pair(model),
        "sealpack": _sealpack_pair(model, recipients),
        "sealpack-file": _file_pair(model, recipients, folder),
        "sealpack-stream": _stream_pair(model, recipients, folder),
        io_floor.LIBRARY: _floor_pair(model, folder),
        "pickle5+aesgcm": _hybrid_pair(_pickle_case, model, recipients),
    }
    try:
        pairs["fobs+aesgcm"] = _hybrid_pair(_fobs_case, model, recipients)
    except ImportError as error:
        pairs["fobs+aesgcm"] = f"not installed ({error.name})"
    return pairs


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def _round(
    pairs: dict[str, Pair | str], model: Model, times: dict[str, list[float]], shift: int = 0
) -> None:
    """One round; the library order is rotated by ``shift`` so that none always runs
    right after the one that freed the most memory (huge-page compaction stalls)."""
    names = list(pairs)
    for library in names[shift % len(names) :] + names[: shift % len(names)]:
        pair = pairs[library]
        if isinstance(pair, str):
            continue
        seal, unseal = pair
        gc.collect()
        seconds, sealed = _timed(seal)
        times[f"{library}/seal"].append(seconds)
        seconds, opened = _timed(functools.partial(unseal, sealed))
        times[f"{library}/unseal"].append(seconds)
        if library.startswith("sealpack") and not _same_model(opened, model):
            raise AssertionError(f"{library} returned a different model")
        if isinstance(sealed, Path):  # freed outside the timing, like every other output
            sealed.unlink()
        del sealed, opened


def measure(size: int, recipients: int, rounds: int) -> list[dict[str, Any]]:
    """One (size, recipients) table: medians over ``rounds`` interleaved rounds."""
    model = make_model(size)
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as folder:
        pairs = _pairs(model, recipients, Path(folder))
        times: dict[str, list[float]] = {
            f"{lib}/{op}": [] for lib in pairs for op in ("seal", "unseal")
        }
        _round(pairs, model, {k: [] for k in times})  # warm-up round, not counted
        for index in range(rounds):
            _round(pairs, model, times, shift=index)
    rows = []
    for key, samples in times.items():
        library, op = key.split("/")
        status = pairs[library] if isinstance(pairs[library], str) else "ok"
        seconds = statistics.median(samples) if samples else None
        rows.append(_row(library, op, recipients, model_bytes(model), seconds, str(status)))
    _ratios(rows)
    return rows


def _row(
    library: str, op: str, recipients: int, size: int, seconds: float | None, status: str
) -> dict[str, Any]:
    calls = {"seal": "seal_to", "unseal": "unseal_from"}
    floor = {"seal": "write+fsync", "unseal": "read"}
    shown = {"sealpack-file": calls, "sealpack-stream": calls, io_floor.LIBRARY: floor}
    return {
        "bench": "warm",
        "library": library,
        "op": shown.get(library, {}).get(op, op),
        "kind": op,
        "recipients": recipients,
        "MiB": round(size / MIB),
        "seconds": seconds,
        "GB/s": gbps(size, seconds) if seconds else None,
        "x_raw": None,
        "status": status,
    }


def _ratios(rows: list[dict[str, Any]]) -> None:
    def seconds_of(library: str, kind: str) -> float | None:
        return next(
            (r["seconds"] for r in rows if r["library"] == library and r["kind"] == kind), None
        )

    for row in rows:
        raw = seconds_of("raw-aesgcm", row["kind"])
        if row["seconds"] and raw:
            row["x_raw"] = raw / row["seconds"]
        for peer, column in (("pickle5+aesgcm", "x_pickle"), ("fobs+aesgcm", "x_fobs")):
            theirs = seconds_of(peer, row["kind"])
            if row["seconds"] and theirs and row["library"].startswith("sealpack"):
                row[column] = theirs / row["seconds"]


def run(quick: bool) -> list[dict[str, Any]]:
    """Quick: 64 MiB, 1 and 10 recipients; full: 256 MiB and 1 GiB."""
    sizes = (64 * MIB,) if quick else (256 * MIB, GIB)
    rows = []
    for size in sizes:
        for recipients in (1, 10):
            rounds = 5 if quick or size <= 256 * MIB else 3
            rows += measure(size, recipients, rounds)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="sealpack warm-process benchmark")
    parser.add_argument("--quick", action="store_true")
    for row in run(parser.parse_args().quick):
        print(row)


if __name__ == "__main__":
    main()
