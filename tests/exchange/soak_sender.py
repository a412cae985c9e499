"""A sending process for the receiver soak test (run as a script, not collected).

Usage:
    soak_sender.py SITE NAME RECIPIENT COUNT SPACING LOG

Peer NAME (a fresh in-memory identity) sends COUNT messages ``{"data": bytes}``
with metadata ``{"seq": i}`` to RECIPIENT, SPACING seconds apart, and appends
``[NAME, i, sha256(data)]`` to LOG after each completed send.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

from sealpack.exchange import Peer
from sealpack.keys import Identity


def main(site: str, name: str, recipient: str, count: str, spacing: str, log: str) -> None:
    peer = Peer(name, site, Identity.generate(name, one_time_prekeys=8))
    for seq in range(int(count)):
        data = os.urandom(1000 + (seq * 7919) % 200_000)
        peer.send({"data": data}, to=[recipient], metadata={"seq": seq})
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps([name, seq, hashlib.sha256(data).hexdigest()]) + "\n")
        time.sleep(float(spacing))


if __name__ == "__main__":
    main(*sys.argv[1:])
