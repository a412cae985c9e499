"""Many recipients (issue 18): one 8 MiB model sealed for 1 / 10 / 100 / 1000 clients.

Rows (one process):

* ``seal`` to N recipients: median time; ``per_recipient_ms`` = (t(N) - t(1)) / (N - 1),
  the cost of one more stanza; ``floor_ms`` is what one stanza cannot avoid: one X25519
  key generation with its public key, three X25519 exchanges (no one-time prekey), and
  for a PQXDH stanza
  one ML-KEM-768 encapsulation (key objects built once, as pyca/cryptography allows).
  The sender remembers DH1 (its identity key x each recipient's signed prekey) from the
  first seal on, so a warm stanza runs two exchanges; ``per_recipient_cold_ms`` is the
  same cost with that memo emptied before every seal (a new recipient, a rotated prekey).
* ``open`` as the *last* recipient of N: median time of ``unseal`` (the blobs of every N
  opened in turn, round after round, so load hits them alike), and its ratio to the
  only recipient of a 1-recipient blob (a stanza look-up must not scan or parse all N).

Run ``python benchmarks/recipients.py [--quick]`` (quick stops at 100 recipients).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MIB, make_model


def _median_s(function: Callable[[], Any], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def stanza_floor_ms(post_quantum: bool, rounds: int = 300) -> float:
    """The unavoidable public-key work of one stanza, in ms."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    publics = [X25519PrivateKey.generate().public_key() for _ in range(3)]
    kem_public = None
    if post_quantum:
        from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

        kem_public = MLKEM768PrivateKey.generate().public_key()

    def stanza() -> None:
        ephemeral = X25519PrivateKey.generate()
        ephemeral.public_key().public_bytes_raw()  # EK_A travels in the stanza
        for public in publics:
            ephemeral.exchange(public)
        if kem_public is not None:
            kem_public.encapsulate()

    return _median_s(lambda: [stanza() for _ in range(20)], rounds // 20) / 20 * 1e3


def _interleaved_medians(functions: dict[int, Callable[[], Any]], rounds: int) -> dict[int, float]:
    """Median seconds of each function, called in turn each round (load hits all alike)."""
    for function in functions.values():
        function()  # warm: the recipient's first open computes its DH1
    samples: dict[int, list[float]] = {key: [] for key in functions}
    for _ in range(rounds):
        for key, function in functions.items():
            samples[key].append(_median_s(function, 1))
    return {key: statistics.median(values) for key, values in samples.items()}


def run(quick: bool) -> list[dict[str, Any]]:
    """Seal for each count, open as the last recipient; rows with the ratios."""
    import sealpack
    from sealpack.keys import Identity, MemoryReplayGuard

    counts = (1, 10, 100) if quick else (1, 10, 100, 1000)
    model = make_model(8 * MIB)
    sender = Identity.generate("server", one_time_prekeys=0)
    readers = [Identity.generate(f"client{i}", one_time_prekeys=0) for i in range(counts[-1])]
    bundles, senders = [r.bundle() for r in readers], [sender.bundle()]
    hybrid = getattr(bundles[0], "pq_prekey", None) is not None
    floor = stanza_floor_ms(hybrid)
    rows: list[dict[str, Any]] = []
    seal_s: dict[int, float] = {}
    openers: dict[int, Callable[[], Any]] = {}
    cold_s: dict[int, float] = {}
    memo = sender._identity_secret()._memo  # DH1 per recipient signed prekey (issue 18)
    for count in counts:
        targets = bundles[:count]

        def seal(targets: list[Any] = targets) -> bytes:
            return sealpack.seal(model, sender=sender, recipients=targets, one_time_prekey=False)

        seal_s[count] = _median_s(seal, 3 if count >= 1000 else 5)
        cold_s[count] = _median_s(lambda seal=seal: (memo.clear(), seal()), 3)
        blob, last = seal(), readers[count - 1]

        def unseal(blob: bytes = blob, last: Any = last) -> Any:
            last.replay_guard = MemoryReplayGuard()  # reopen the same blob (bench only)
            return sealpack.unseal(blob, recipient=last, senders=senders)

        openers[count] = unseal
    open_s = _interleaved_medians(openers, 7 if quick else 25)
    for count in counts:
        per = (seal_s[count] - seal_s[1]) / (count - 1) * 1e3 if count > 1 else None
        cold = (cold_s[count] - cold_s[1]) / (count - 1) * 1e3 if count > 1 else None
        rows.append(
            {
                "bench": "recipients",
                "recipients": count,
                "seal_ms": seal_s[count] * 1e3,
                "per_recipient_ms": per,
                "stanza_floor_ms": floor,
                "x_floor": per / floor if per else None,
                "per_recipient_cold_ms": cold,
                "open_last_ms": open_s[count] * 1e3,
                "open_x_single": open_s[count] / open_s[1],
                "pqxdh": hybrid,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="sealpack many-recipients benchmark")
    parser.add_argument("--quick", action="store_true")
    for row in run(parser.parse_args().quick):
        print(row)


if __name__ == "__main__":
    main()
