"""Bounded extra memory: nothing is joined, the blob or plaintext is allocated once."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sealpack import api
from sealpack.keys import Identity
from sealpack.serialization import Codec

SIZE = 16 << 20
MiB = 1 << 20


def _peak(function: Callable[[], Any]) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_peak_memory_of_seal_and_unseal(tmp_path: Path) -> None:
    codec = Codec()
    alice = Identity.generate("alice", one_time_prekeys=0)
    bob = Identity.generate("bob", one_time_prekeys=0)
    model = {f"w{i}": np.full(SIZE // 4 // 4, i, dtype=np.float32) for i in range(4)}
    path = tmp_path / "model.sealed"
    kwargs: dict[str, Any] = {"sender": alice, "recipients": [bob.bundle()], "codec": codec}

    _, streaming = _peak(lambda: api.seal_to(model, path, **kwargs))
    assert streaming < 6 * MiB  # a few chunks of staging (hash pipeline), not the payload
    blob, in_memory = _peak(lambda: api.seal_buffer(model, **kwargs))
    assert in_memory < len(blob) + 4 * MiB  # the blob itself, nothing joined
    opened, unsealing = _peak(
        lambda: api.unseal(blob, recipient=bob, senders=[alice.bundle()], codec=codec)
    )
    assert unsealing < SIZE + 4 * MiB  # one plaintext buffer; arrays are views into it
    assert all(np.array_equal(opened[k], v) for k, v in model.items())
    bob.replay_guard = type(bob.replay_guard)()
    from_file, reading = _peak(
        lambda: api.unseal_from(path, recipient=bob, senders=[alice.bundle()], codec=codec)
    )
    assert reading < SIZE + 4 * MiB
    assert np.array_equal(from_file["w3"], model["w3"])
