"""Seal / unseal of a model (24 float32 arrays) to 1 and 10 recipients, side by side.

Libraries (each case runs in its own child process so memory peaks do not mix):

* ``raw-aesgcm``: chunked AES-256-GCM (1 MiB chunks, ``encrypt_into``/``decrypt_into``
  a fresh ``np.empty``, one thread) over the same array bytes; no serialization, no
  hash, no signature: the reference of issue 18's ratios.
* ``sealpack``: ``sealpack.api.seal`` -> bytes and ``sealpack.api.unseal`` -> object.
* ``sealpack-file``: ``sealpack.api.seal_to`` a path (temp file, fsync, rename) and
  ``sealpack.api.unseal_from`` that path (one read, decrypted in place).
* ``file-floor``: the raw reference's blob written to a path as ``seal_to`` writes
  (fsync included) / read back whole, no cryptography (benchmarks/io_floor.py): the
  disk's and the page cache's bound on ``sealpack-file``.
* ``sealpack-buffers``: diagnostic; ``envelope.sealer.seal_buffers`` (the bytearray
  ``seal`` copies into bytes) and ``envelope.opener.open_buffer`` + codec ``loads``.
* ``pickle5+aesgcm``: ``pickle.dumps(protocol=5)`` in-band, one AESGCM over it, the key
  wrapped per recipient (X25519 + HKDF + AES-GCM); unseal the reverse.
* ``fobs+aesgcm``: the same with NVFLARE's FOBS (``nvflare.fuel.utils.fobs`` and its
  numpy decomposers) instead of pickle, if nvflare is importable.
* ``syft-crypto``: ``syft_crypto.encrypt_message`` (it takes ``str``, so the pickle is
  base64-encoded) once per recipient and its JSON payload; unseal the reverse.

Optional libraries may live in other interpreters (nvflare and syft-crypto pin
incompatible cryptography versions): set SEALPACK_BENCH_FOBS_PYTHON /
SEALPACK_BENCH_SYFT_PYTHON to a python that has them (and numpy). Missing ->
the row says "not installed".

Run ``python benchmarks/envelope.py [--quick]``; ``run(quick)`` returns the rows.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import io_floor
from common import (
    GIB,
    MIB,
    best_time,
    gbps,
    make_model,
    model_bytes,
    rss_peak_extra,
    run_worker,
    traced_peak_extra,
)
from syft_peer import syft_clients

CHUNK = 1 << 20
TAG = 16
LIBRARIES = (
    "raw-aesgcm",
    "sealpack",
    "sealpack-file",
    io_floor.LIBRARY,
    "sealpack-buffers",
    "pickle5+aesgcm",
    "fobs+aesgcm",
    "syft-crypto",
)
PYTHON_ENV = {
    "fobs+aesgcm": "SEALPACK_BENCH_FOBS_PYTHON",
    "syft-crypto": "SEALPACK_BENCH_SYFT_PYTHON",
}
# Above this payload, syft-crypto to 10 recipients (10 JSON payloads of 1.8x the model
# each, all kept) does not fit a 24 GB machine next to everything else.
SYFT_MULTI_LIMIT = 256 * MIB

Model = dict[str, np.ndarray]
Case = tuple[Callable[[], Any], Callable[[Any], bool]]


# --- raw chunked AES-GCM ---------------------------------------------------------


def _chunk_lengths(model: Model) -> list[int]:
    """Plaintext chunk lengths: each array in 1 MiB chunks, ending with a short one."""
    lengths = []
    for array in model.values():
        full, rest = divmod(int(array.nbytes), CHUNK)
        lengths += [CHUNK] * full + [rest]
    return lengths


def _raw_seal(aead: Any, model: Model) -> np.ndarray:
    views = [memoryview(a).cast("B") for a in model.values()]
    size = sum(len(v) for v in views) + TAG * len(_chunk_lengths(model))
    out = np.empty(size, dtype=np.uint8)  # huge-page advised by numpy (issue 18's reference)
    target = memoryview(out)
    position = index = 0
    for view in views:
        for start in range(0, len(view) + 1, CHUNK):
            piece = view[start : start + CHUNK]
            end = position + len(piece) + TAG
            aead.encrypt_into(index.to_bytes(12, "big"), piece, None, target[position:end])
            position, index = end, index + 1
            if len(piece) < CHUNK:
                break
    return out


def _raw_unseal(aead: Any, blob: np.ndarray, lengths: list[int]) -> np.ndarray:
    out = np.empty(sum(lengths), dtype=np.uint8)
    target, source = memoryview(out), memoryview(blob)
    position = written = 0
    for index, length in enumerate(lengths):
        piece = source[position : position + length + TAG]
        aead.decrypt_into(
            index.to_bytes(12, "big"), piece, None, target[written : written + length]
        )
        position, written = position + length + TAG, written + length
    return out


def _raw_case(op: str, model: Model, recipients: int) -> Case:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(AESGCM.generate_key(256))
    if op == "seal":
        return (lambda: _raw_seal(aead, model)), lambda blob: len(blob) > model_bytes(model)
    blob = _raw_seal(aead, model)
    lengths = _chunk_lengths(model)
    first = next(iter(model.values()))
    check = memoryview(first).cast("B")[:4096].tobytes()
    return (lambda: _raw_unseal(aead, blob, lengths)), lambda out: bytes(out[:4096]) == check


# --- hybrid baselines: serializer + one AES-GCM + per-recipient key wrap ----------


def _wrap_for(content_key: bytes, publics: list[Any]) -> list[tuple[bytes, bytes]]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    stanzas = []
    for public in publics:
        ephemeral = X25519PrivateKey.generate()
        shared = ephemeral.exchange(public)
        wrap_key = HKDF(hashes.SHA256(), 32, None, b"bench wrap").derive(shared)
        raw = serialization.Encoding.Raw
        ephemeral_public = ephemeral.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
        stanzas.append((ephemeral_public, AESGCM(wrap_key).encrypt(bytes(12), content_key, None)))
    return stanzas


def _unwrap(private: Any, stanza: tuple[bytes, bytes]) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    shared = private.exchange(X25519PublicKey.from_public_bytes(stanza[0]))
    wrap_key = HKDF(hashes.SHA256(), 32, None, b"bench wrap").derive(shared)
    return AESGCM(wrap_key).decrypt(bytes(12), stanza[1], None)


def _hybrid_case(
    op: str,
    model: Model,
    recipients: int,
    dumps: Callable[[Any], bytes],
    loads: Callable[[bytes], Any],
) -> Case:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    privates = [X25519PrivateKey.generate() for _ in range(recipients)]
    publics = [p.public_key() for p in privates]

    def seal() -> tuple[list[tuple[bytes, bytes]], bytes, bytes]:
        content_key, nonce = AESGCM.generate_key(256), os.urandom(12)
        ciphertext = AESGCM(content_key).encrypt(nonce, dumps(model), None)
        return _wrap_for(content_key, publics), nonce, ciphertext

    if op == "seal":
        return seal, lambda blob: len(blob[2]) > model_bytes(model)
    stanzas, nonce, ciphertext = seal()

    def unseal() -> Any:
        content_key = _unwrap(privates[0], stanzas[0])
        return loads(AESGCM(content_key).decrypt(nonce, ciphertext, None))

    return unseal, lambda out: _same_model(out, model)


def _same_model(out: Any, model: Model) -> bool:
    return isinstance(out, dict) and all(np.array_equal(out[k], v) for k, v in model.items())


def _pickle_case(op: str, model: Model, recipients: int) -> Case:
    return _hybrid_case(op, model, recipients, lambda m: pickle.dumps(m, protocol=5), pickle.loads)


def _fobs_case(op: str, model: Model, recipients: int) -> Case:
    from nvflare.app_common.decomposers import numpy_decomposers
    from nvflare.fuel.utils import fobs

    numpy_decomposers.register()
    return _hybrid_case(op, model, recipients, fobs.dumps, fobs.loads)


# --- syft-crypto --------------------------------------------------------------------


def _syft_case(op: str, model: Model, recipients: int) -> Case:
    from syft_crypto import EncryptedPayload, decrypt_message, encrypt_message

    if recipients > 1 and model_bytes(model) > SYFT_MULTI_LIMIT:
        raise _Skipped("skipped: >256 MiB to 10 recipients does not fit in memory")
    home = tempfile.TemporaryDirectory(prefix="bench-syft-")
    atexit.register(home.cleanup)
    clients = syft_clients(recipients + 1, Path(home.name))
    sender, receivers = clients[0], clients[1:]

    def seal() -> list[str]:
        text = base64.b64encode(pickle.dumps(model, protocol=5)).decode("ascii")
        return [
            encrypt_message(text, to=r.config.email, client=sender).model_dump_json()
            for r in receivers
        ]

    if op == "seal":
        return seal, lambda blobs: len(blobs) == recipients
    blob = seal()[0]

    def unseal() -> Any:
        payload = EncryptedPayload.model_validate_json(blob)
        return pickle.loads(base64.b64decode(decrypt_message(payload, client=receivers[0])))

    return unseal, lambda out: _same_model(out, model)


# --- sealpack ---------------------------------------------------------------------


def _file_case(op: str, model: Model, recipients: int) -> Case:
    from sealpack import api
    from sealpack.keys import Identity, MemoryReplayGuard

    sender = Identity.generate("bench-sender", one_time_prekeys=0)
    readers = [Identity.generate(f"reader{i}", one_time_prekeys=0) for i in range(recipients)]
    bundles, senders = [r.bundle() for r in readers], [sender.bundle()]
    home = tempfile.TemporaryDirectory(prefix="bench-file-")
    atexit.register(home.cleanup)
    path = Path(home.name) / "model.sealed"

    def seal() -> _SealedFile:
        api.seal_to(model, path, sender=sender, recipients=bundles, one_time_prekey=False)
        return _SealedFile(path)

    if op == "seal":
        return seal, lambda sealed: sealed.path.stat().st_size > model_bytes(model)
    api.seal_to(model, path, sender=sender, recipients=bundles, one_time_prekey=False)

    def unseal() -> Any:
        readers[0].replay_guard = MemoryReplayGuard()  # reopen the same file (bench only)
        return api.unseal_from(path, recipient=readers[0], senders=senders)

    return unseal, lambda out: _same_model(out, model)


class _SealedFile:
    """A sealed file deleted when its result is dropped, i.e. outside the timing (like
    every other library's output is freed): the next seal_to writes a new file instead
    of renaming over this one (deleting 256 MiB costs ~0.06 s here)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __del__(self) -> None:
        self.path.unlink(missing_ok=True)


def _sealpack_case(op: str, model: Model, recipients: int, buffers: bool = False) -> Case:
    from sealpack import api
    from sealpack.envelope import opener, sealer
    from sealpack.envelope.senders import sender_resolver
    from sealpack.keys import Identity, MemoryReplayGuard
    from sealpack.serialization import Codec

    codec = Codec()
    sender = Identity.generate("bench-sender", one_time_prekeys=0)
    readers = [Identity.generate(f"reader{i}", one_time_prekeys=0) for i in range(recipients)]
    bundles, senders = [r.bundle() for r in readers], [sender.bundle()]

    def seal() -> bytes | bytearray:
        if buffers:
            return sealer.seal_buffers(
                codec.dumps_buffers(model), sender=sender, recipients=bundles
            )
        return api.seal(model, sender=sender, recipients=bundles, codec=codec)

    if op == "seal":
        return seal, lambda blob: len(blob) > model_bytes(model)
    blob = seal()

    def unseal() -> Any:
        readers[0].replay_guard = MemoryReplayGuard()  # reopen the same blob (bench only)
        if buffers:
            resolve = sender_resolver(senders, None)
            plain, _ = opener.open_buffer(blob, recipient=readers[0], resolve_sender=resolve)
            return codec.loads(plain)
        return api.unseal(blob, recipient=readers[0], senders=senders, codec=codec)

    return unseal, lambda out: _same_model(out, model)


class _Skipped(Exception):
    """A case that is deliberately not run (the message says why)."""


def _file_floor_case(op: str, model: Model) -> Case:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = _raw_seal(AESGCM(AESGCM.generate_key(256)), model)
    home = tempfile.TemporaryDirectory(prefix="bench-floor-")
    atexit.register(home.cleanup)
    seal, unseal = io_floor.seal_and_open(blob, Path(home.name))
    if op == "seal":
        return seal, lambda written: io_floor.same_size(written, blob)
    written = seal()
    return (lambda: unseal(written)), lambda out: io_floor.same_size(out, blob)


def _build_case(library: str, op: str, model: Model, recipients: int) -> Case:
    if library == "raw-aesgcm":
        return _raw_case(op, model, recipients)
    if library == io_floor.LIBRARY:
        return _file_floor_case(op, model)
    if library == "sealpack-file":
        return _file_case(op, model, recipients)
    if library in ("sealpack", "sealpack-buffers"):
        return _sealpack_case(op, model, recipients, buffers=library == "sealpack-buffers")
    if library == "pickle5+aesgcm":
        return _pickle_case(op, model, recipients)
    if library == "fobs+aesgcm":
        return _fobs_case(op, model, recipients)
    if library == "syft-crypto":
        return _syft_case(op, model, recipients)
    raise ValueError(f"unknown library {library!r}")


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one (library, op, recipients, size) case in this process."""
    model = make_model(spec["size"])
    size = model_bytes(model)
    try:
        function, check = _build_case(spec["library"], spec["op"], model, spec["recipients"])
    except ImportError as error:
        return {"status": f"not installed ({error.name})"}
    except _Skipped as skipped:
        return {"status": str(skipped)}
    started = time.perf_counter()
    rss = rss_peak_extra(function)  # the first call in this fresh process
    first = time.perf_counter() - started
    seconds = best_time(function, spec["repeat"])
    traced = traced_peak_extra(function) if spec.get("traced", True) else None
    ok = check(function())
    return {
        "status": "ok" if ok else "WRONG RESULT",
        "bytes": size,
        "seconds": seconds,
        "first_seconds": first,
        "rss_extra": rss,
        "traced_extra": traced,
    }


def _python_for(library: str) -> str | None:
    variable = PYTHON_ENV.get(library)
    return os.environ.get(variable) if variable else None


def _row(spec: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    size = result.get("bytes", spec["size"])
    seconds = result.get("seconds")
    rss, traced = result.get("rss_extra"), result.get("traced_extra")
    return {
        "bench": "envelope",
        "library": spec["library"],
        "op": spec["op"],
        "recipients": spec["recipients"],
        "MiB": round(size / MIB),
        "seconds": seconds,
        "GB/s": gbps(size, seconds) if seconds else None,
        "first_GB/s": gbps(size, result["first_seconds"]) if result.get("first_seconds") else None,
        "x_raw": None,
        "peak_x": max(rss or 0.0, traced or 0.0) / size if seconds else None,
        "rss_x": rss / size if rss is not None else None,
        "traced_x": traced / size if traced is not None else None,
        "status": result.get("status", "?"),
    }


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    def seconds_of(library: str, op: str, recipients: int) -> float | None:
        for row in rows:
            key = (row["library"], row["op"], row["recipients"])
            if key == (library, op, recipients) and row["status"] == "ok":
                return row["seconds"]  # type: ignore[no-any-return]
        return None

    for row in rows:
        raw = seconds_of("raw-aesgcm", row["op"], row["recipients"])
        fobs = seconds_of("fobs+aesgcm", row["op"], row["recipients"])
        if row["status"] == "ok" and raw:
            row["x_raw"] = raw / row["seconds"]
        if row["status"] == "ok" and fobs and row["library"].startswith("sealpack"):
            row["x_faster_than_fobs"] = fobs / row["seconds"]
        pickled = seconds_of("pickle5+aesgcm", row["op"], row["recipients"])
        if row["status"] == "ok" and pickled and row["library"].startswith("sealpack"):
            row["x_faster_than_pickle"] = pickled / row["seconds"]


def run(quick: bool, libraries: tuple[str, ...] = LIBRARIES) -> list[dict[str, Any]]:
    """Measure every case (64 MiB when quick, else 256 MiB and 1 GiB), each in a fresh
    child process: ``first_GB/s`` is its first call, ``GB/s`` the best of the repeats."""
    rows: list[dict[str, Any]] = []
    for size in (64 * MIB,) if quick else (256 * MIB, GIB):
        block = []
        for op in ("seal", "unseal"):
            for recipients in (1, 10):
                for library in libraries:
                    spec = {
                        "library": library,
                        "op": op,
                        "recipients": recipients,
                        "size": size,
                        "repeat": 3 if quick else 2,
                    }
                    result = run_worker(Path(__file__), spec, _python_for(library))
                    block.append(_row(spec, result))
        _add_ratios(block)
        rows += block
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="sealpack envelope benchmark")
    parser.add_argument("--quick", action="store_true", help="64 MiB instead of 1 GiB")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    for row in run(args.quick):
        print(row)


if __name__ == "__main__":
    main()
