"""Child process for the streaming memory test (run as a script, not collected).

Usage: stream_memory_worker.py ROOT SIZE_MIB

Sends a SIZE_MIB float32 model from alice to bob with ``stream=True`` over a
DirectoryTransport, drops the sender's copy, receives it, checks it, and prints
``<model bytes> <peak RSS growth in bytes>`` (peak RSS after minus before).
"""

from __future__ import annotations

import contextlib
import gc
import resource
import sys
from pathlib import Path

import numpy as np

from sealpack.exchange import DirectoryTransport, Peer
from sealpack.keys import Identity


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far.

    On Linux ``ru_maxrss`` starts at the *parent's* high-water mark (the kernel
    carries it over at exec), which would hide the growth when a large pytest
    process spawns us; ``VmHWM`` belongs to this process's own memory map.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def main(root: str, size_mib: str) -> None:
    transport = DirectoryTransport(root)
    alice = Peer("alice", transport, Identity.generate("alice", one_time_prekeys=1))
    bob = Peer("bob", transport, Identity.generate("bob", one_time_prekeys=1))
    per_layer = int(size_mib) * (1 << 20) // 4 // 8
    gc.collect()
    before = peak_rss_bytes()
    model = {f"layer{i}": np.full(per_layer, i, dtype=np.float32) for i in range(8)}
    size = sum(array.nbytes for array in model.values())
    alice.send(model, to=["bob"], stream=True)
    del model
    gc.collect()
    (message,) = bob.receive()
    received = message.obj
    for index in range(8):
        layer = received[f"layer{index}"]
        if layer.shape != (per_layer,) or layer[0] != index or layer[-1] != index:
            raise SystemExit("received model differs")
    print(size, peak_rss_bytes() - before, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
