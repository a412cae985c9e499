"""Ratchet sessions (issue 15): a 1 KiB message within a session beside a fresh X3DH seal.

Rows (one process, medians of interleaved rounds; a "round trip" is one seal plus one
open of the 1 KiB payload of benchmarks/small.py, as there):

* ``session, same turn``: the sender keeps the turn (symmetric ratchet only: two HMACs,
  one HKDF, one AES-256-GCM per side) -- the issue-15 target, <= 0.1 ms.
* ``session, turn changes``: every message answers the last one, so the receiver makes a
  DH ratchet step (one X25519 key generation and two exchanges) as the spec requires.
* ``session, turn changes, floor``: those three X25519 operations alone.
* ``session, durable (KeyStore)``: same turn, both states written to their key stores
  (lock, AES-256-GCM, temp + fsync + rename) before anything is returned.
* ``fresh X3DH seal+unseal``: ``sealpack.seal`` + ``sealpack.unseal`` (benchmarks/small.py).

Run ``python benchmarks/session.py [--quick]``; ``run(quick)`` returns the rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small import PAYLOAD, _median_ms, sealpack_round_trip  # next to this script

TARGET_MS = 0.1
TARGET_CASE = "session, same turn"


def _pair(durable: bool) -> tuple[Any, Any]:
    import sealpack
    from sealpack.session import Session

    alice = sealpack.Identity.generate("alice", one_time_prekeys=1)
    bob = sealpack.Identity.generate("bob", one_time_prekeys=1)
    owners: tuple[Any, Any] = (alice, bob)
    if durable:
        root = Path(tempfile.mkdtemp(prefix="bench-session-"))
        owners = tuple(  # type: ignore[assignment]
            sealpack.KeyStore.create(root / i.name, i, passphrase=b"bench", scrypt_n=2**10)
            for i in (alice, bob)
        )
    sa, sb = Session(owners[0], bob.bundle()), Session(owners[1], alice.bundle())
    assert sb.open(sa.seal(PAYLOAD)) == PAYLOAD and sa.open(sb.seal(PAYLOAD)) == PAYLOAD
    return sa, sb


def same_turn(durable: bool = False) -> Callable[[], Any]:
    """One seal + open, the sender keeping the turn."""
    sa, sb = _pair(durable)
    return lambda: sb.open(sa.seal(PAYLOAD))


def turn_changes() -> Callable[[], Any]:
    """One seal + open answering the previous message (a DH ratchet step each time)."""
    sa, sb = _pair(False)
    sides = [(sa, sb), (sb, sa)]

    def step() -> Any:
        sender, receiver = sides[0]
        sides.reverse()
        return receiver.open(sender.seal(PAYLOAD))

    return step


def dh_floor() -> Callable[[], Any]:
    """The X25519 work of one DH ratchet step: a key generation and two exchanges."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    peer = X25519PrivateKey.generate().public_key()
    mine = X25519PrivateKey.generate()

    def operations() -> None:
        mine.exchange(peer)
        fresh = X25519PrivateKey.generate()
        fresh.public_key()
        fresh.exchange(peer)

    return operations


def run(quick: bool) -> list[dict[str, Any]]:
    """Measure every row, rounds interleaved so load hits them alike."""
    cases: dict[str, Callable[[], Any]] = {
        TARGET_CASE: same_turn(),
        "session, turn changes": turn_changes(),
        "session, turn changes, floor (3 X25519 ops)": dh_floor(),
        "session, durable (KeyStore)": same_turn(durable=True),
        "fresh X3DH seal+unseal": sealpack_round_trip(),
    }
    rounds, inner = (9, 30) if quick else (25, 100)
    slow = {"session, durable (KeyStore)"}
    for function in cases.values():
        _median_ms(function, 1, 10)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, function in cases.items():
            samples[name].append(
                _median_ms(function, 1, max(inner // 10, 3) if name in slow else inner)
            )
    return [
        {"bench": "session", "case": name, "ms": statistics.median(values), "status": "ok"}
        for name, values in samples.items()
    ]


def targets(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """Issue 15: a 1 KiB round trip within a session <= 0.1 ms (shown beside fresh X3DH)."""
    mine = next((r for r in rows if r["case"] == TARGET_CASE and r.get("ms")), None)
    fresh = next((r for r in rows if r["case"] == "fresh X3DH seal+unseal" and r.get("ms")), None)
    name = "1 KiB round trip within a session <= 0.1 ms"
    if mine is None:
        return [(name, "not measured", None)]
    shown = f"{mine['ms']:.3f} ms"
    if fresh is not None:
        shown += f" (fresh X3DH seal+unseal: {fresh['ms']:.3f} ms)"
    return [(name, shown, mine["ms"] <= TARGET_MS)]


def main() -> None:
    parser = argparse.ArgumentParser(description="sealpack session benchmark")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = run(args.quick)
    for row in rows:
        print(row)
    for target in targets(rows):
        print(target)


if __name__ == "__main__":
    main()
