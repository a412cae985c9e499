"""Make ML-KEM encapsulation repeatable inside a test (pyca draws its randomness in OpenSSL).

Inside :func:`replayed_encapsulation`, the first encapsulation to each public key is real
and every later one to the same key returns the same (shared secret, ciphertext): still a
valid encapsulation, so blobs open, and two seals from one seeded rng are byte-identical.
Test-only; sealpack itself never reuses an encapsulation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from sealpack import primitives


@contextlib.contextmanager
def replayed_encapsulation() -> Iterator[dict[bytes, tuple[bytes, bytes]]]:
    """Patch ``primitives.mlkem768_encapsulate``; yield the record (public -> (ss, ct))."""
    real = primitives.mlkem768_encapsulate
    record: dict[bytes, tuple[bytes, bytes]] = {}

    def encapsulate(public: bytes) -> tuple[bytes, bytes]:
        if public not in record:
            record[public] = real(public)
        return record[public]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(primitives, "mlkem768_encapsulate", encapsulate)
        yield record
