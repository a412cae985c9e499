"""PQXDH next to classical X3DH (issue 14): handshake cost, per-recipient cost, sizes.

Rows (one process, warm caches):

* ``handshake``: median time of ``x3dh.initiate`` (sender) and ``x3dh.respond`` (recipient,
  ``consume=False``) for one message, classical X3DH and PQXDH (X25519 + ML-KEM-768).
* ``seal_small``: median time of ``api.seal`` of a small object to 1 and 10 recipients,
  and ``per_recipient_ms`` = (t(10) - t(1)) / 9, classical and hybrid.
* ``size``: the stanza bytes one recipient adds to a blob, and the bundle JSON size with
  100 one-time prekeys and 0 / 10 PQ one-time prekeys.

Run ``python benchmarks/pqxdh.py [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

NOW = 1_700_000_000


def _median_ms(function: Callable[[], Any], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def _handshake_rows(rounds: int) -> list[dict[str, Any]]:
    from sealpack import x3dh
    from sealpack.keys import Identity

    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    rows = []
    for hybrid in (False, True):
        bob = Identity.generate("bob", one_time_prekeys=0, post_quantum=hybrid, now=NOW)
        bundle = bob.bundle()
        pq_id = bundle.pq_prekey.id if bundle.pq_prekey is not None else None

        def initiate(bundle: Any = bundle, pq_id: int | None = pq_id) -> Any:
            return x3dh.initiate(
                alice, bundle, one_time_prekey_id=None, pq_prekey_id=pq_id, now=NOW
            )

        header = initiate().header
        respond_ms = _median_ms(
            lambda bob=bob, header=header: x3dh.respond(bob, header, now=NOW, consume=False),
            rounds,
        )
        rows.append(
            {
                "bench": "pqxdh",
                "case": "handshake",
                "suite": "PQXDH" if hybrid else "X3DH",
                "initiate_ms": _median_ms(initiate, rounds),
                "respond_ms": respond_ms,
            }
        )
    return rows


def _seal_rows(rounds: int) -> list[dict[str, Any]]:
    from sealpack import api
    from sealpack.keys import Identity

    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    rows = []
    for hybrid in (False, True):
        bundles = [
            Identity.generate(f"r{i}", one_time_prekeys=0, post_quantum=hybrid, now=NOW).bundle()
            for i in range(10)
        ]
        times = {}
        for count in (1, 10):
            chosen = bundles[:count]
            times[count] = _median_ms(
                lambda chosen=chosen, hybrid=hybrid: api.seal(
                    {"round": 1},
                    sender=alice,
                    recipients=chosen,
                    now=NOW,
                    allow_classical=not hybrid,
                ),
                rounds,
            )
        rows.append(
            {
                "bench": "pqxdh",
                "case": "seal_small",
                "suite": "PQXDH" if hybrid else "X3DH",
                "seal_1_ms": times[1],
                "seal_10_ms": times[10],
                "per_recipient_ms": (times[10] - times[1]) / 9,
            }
        )
    return rows


def _size_rows() -> list[dict[str, Any]]:
    from sealpack import api
    from sealpack.keys import Identity

    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    rows = []
    for hybrid in (False, True):
        recipients = [
            Identity.generate(f"r{i}", one_time_prekeys=1, post_quantum=hybrid, now=NOW).bundle()
            for i in range(2)
        ]
        sizes = [
            len(api.seal(1, sender=alice, recipients=recipients[:n], now=NOW, allow_classical=True))
            for n in (1, 2)
        ]
        bundle_sizes = {}
        for pq_opks in (0, 10) if hybrid else (0,):
            identity = Identity.generate(
                "bob", one_time_prekeys=100, pq_one_time_prekeys=pq_opks, post_quantum=hybrid
            )
            bundle_sizes[pq_opks] = len(identity.bundle().to_json())
        rows.append(
            {
                "bench": "pqxdh",
                "case": "size",
                "suite": "PQXDH" if hybrid else "X3DH",
                "stanza_bytes": sizes[1] - sizes[0],
                "bundle_json_bytes": bundle_sizes[0],
                "bundle_json_bytes_10_pq_opks": bundle_sizes.get(10),
            }
        )
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    """All rows of this benchmark (``quick``: fewer rounds)."""
    rounds = 20 if quick else 200
    return _handshake_rows(rounds) + _seal_rows(max(5, rounds // 4)) + _size_rows()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    for row in run(parser.parse_args().quick):
        print(row)


if __name__ == "__main__":
    main()
