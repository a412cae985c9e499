"""Small messages (issue 18): the 1 KiB seal + unseal round trip with cached bundles.

Rows (one process, medians of interleaved rounds):

* ``sealpack``: ``api.seal`` then ``api.unseal`` of a dict holding 1 KiB, bundles built
  once (the application caches them), one-time prekeys off (a long-running RPC peer
  spends its one-time prekeys on the first messages only). From the second message on,
  each side remembers DH1 (identity key x signed prekey, the same for every message) in
  its key handle, so a warm round trip runs four X25519 exchanges, not six.
* ``sealpack (DH1 not remembered)``: the same with both sides' DH1 memos emptied before
  every round trip (the first message between two peers, or a new signed prekey).
* ``floor``: the public-key operations a warm round trip cannot avoid, timed alone with
  pyca/cryptography key objects built once: one X25519 key generation, four X25519
  exchanges (DH2 and DH3 on each side; DH1 is remembered, as in the ``sealpack`` row),
  one Ed25519 signature and one verification, and, for PQXDH (format v2), one
  ML-KEM-768 encapsulation and one decapsulation. (Until 2026-11-29 this row counted
  six exchanges, DH1 on both sides too: ~0.06 ms more than the warm path does.)
* ``syft-crypto``: its ``encrypt_message`` + ``decrypt_message`` of the same 1 KiB,
  when installed.

Run ``python benchmarks/small.py [--quick]``; ``run(quick)`` returns the rows.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

PAYLOAD = {"step": 7, "metrics": {"loss": 0.25}, "blob": bytes(range(256)) * 4}
TARGET_MS = 0.6


def _median_ms(function: Callable[[], Any], rounds: int, inner: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            function()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples) * 1e3


def sealpack_round_trip() -> Callable[[], Any]:
    """A closure doing one seal + unseal of PAYLOAD with cached bundles."""
    import sealpack
    from sealpack.keys import Identity

    alice = Identity.generate("alice", one_time_prekeys=0)
    bob = Identity.generate("bob", one_time_prekeys=0)
    bob_bundle, alice_bundle = bob.bundle(), [alice.bundle()]

    def round_trip() -> Any:
        blob = sealpack.seal(PAYLOAD, sender=alice, recipients=[bob_bundle], one_time_prekey=False)
        return sealpack.unseal(blob, recipient=bob, senders=alice_bundle)

    assert round_trip() == PAYLOAD
    return round_trip


def sealpack_cold_round_trip() -> Callable[[], Any]:
    """As :func:`sealpack_round_trip`, forgetting the remembered DH1 on both sides first."""
    import sealpack
    from sealpack.keys import Identity

    alice = Identity.generate("alice", one_time_prekeys=0)
    bob = Identity.generate("bob", one_time_prekeys=0)
    bob_bundle, alice_bundle = bob.bundle(), [alice.bundle()]
    memos = [
        alice._identity_secret()._memo,
        bob._signed_prekey_secret(bob.signed_prekey_id, int(time.time()))._memo,
    ]

    def round_trip() -> Any:
        for memo in memos:
            memo.clear()
        blob = sealpack.seal(PAYLOAD, sender=alice, recipients=[bob_bundle], one_time_prekey=False)
        return sealpack.unseal(blob, recipient=bob, senders=alice_bundle)

    assert round_trip() == PAYLOAD
    return round_trip


def floor_operations(post_quantum: bool) -> Callable[[], Any]:
    """A closure doing only the unavoidable public-key operations of one warm round trip."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    signer = Ed25519PrivateKey.generate()
    verifier = signer.public_key()
    statics = [X25519PrivateKey.generate() for _ in range(2)]  # IK_B, SPK_B
    publics = [key.public_key() for key in statics]
    kem = None
    if post_quantum:
        from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

        kem = MLKEM768PrivateKey.generate()
    kem_public = kem.public_key() if kem is not None else None
    message = bytes(1200)

    def operations() -> None:
        ephemeral = X25519PrivateKey.generate()
        for public in publics:
            ephemeral.exchange(public)
        for key in statics:
            key.exchange(ephemeral.public_key())
        if kem is not None and kem_public is not None:
            _, ciphertext = kem_public.encapsulate()
            kem.decapsulate(ciphertext)
        verifier.verify(signer.sign(message), message)

    return operations


def syft_round_trip() -> Callable[[], Any]:
    """syft-crypto's encrypt + decrypt of the same payload (ImportError when absent)."""
    import base64
    import pickle

    from syft_crypto import decrypt_message, encrypt_message
    from syft_peer import syft_clients

    clients = syft_clients(2, Path(tempfile.mkdtemp(prefix="bench-syft-small-")))
    text = base64.b64encode(pickle.dumps(PAYLOAD, protocol=5)).decode("ascii")

    def round_trip() -> Any:
        sealed = encrypt_message(text, to=clients[1].config.email, client=clients[0])
        return decrypt_message(sealed, client=clients[1])

    return round_trip


def run(quick: bool) -> list[dict[str, Any]]:
    """Measure every row, rounds interleaved so load hits them alike."""
    cases: dict[str, Callable[[], Any]] = {
        "sealpack": sealpack_round_trip(),
        "sealpack (DH1 not remembered)": sealpack_cold_round_trip(),
        "floor (X25519+Ed25519)": floor_operations(False),
    }
    with contextlib.suppress(ImportError):  # cryptography without ML-KEM
        cases["floor (PQXDH: + ML-KEM-768)"] = floor_operations(True)
    rows_status: dict[str, str] = {}
    rounds, inner = (15, 40) if quick else (40, 100)
    syft_ms: float | None = None
    try:
        cases["syft-crypto"] = syft_round_trip()
    except ImportError:  # pins cryptography<45: timed in its own interpreter
        syft_ms, rows_status["syft-crypto"] = _syft_elsewhere(rounds, inner)
    for function in cases.values():  # warm up
        _median_ms(function, 1, 20)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, function in cases.items():
            samples[name].append(_median_ms(function, 1, inner))
    rows = [
        {"bench": "small", "case": name, "ms": statistics.median(values), "status": "ok"}
        for name, values in samples.items()
    ]
    rows += [
        {"bench": "small", "case": n, "ms": syft_ms, "status": s} for n, s in rows_status.items()
    ]
    return rows


def _syft_elsewhere(rounds: int, inner: int) -> tuple[float | None, str]:
    """syft-crypto's round trip in its own interpreter (benchmarks/syft_peer.py)."""
    from syft_peer import syft_small_ms

    try:
        return syft_small_ms(rounds, inner), "ok (own interpreter, cryptography<45)"
    except Exception as error:  # a missing peer never stops the run
        return None, f"not available ({type(error).__name__})"


def main() -> None:
    parser = argparse.ArgumentParser(description="sealpack small-message benchmark")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for row in run(args.quick):
        print(row)


if __name__ == "__main__":
    main()
