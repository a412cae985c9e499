"""A watching receiver runs for months: no inbox pass may leak a file descriptor.

Listing a datasite folder once leaked a duplicated descriptor (``os.scandir`` of an
``os.dup``): two per inbox pass, one per send, so a ``receive --watch`` polling every
few seconds hit the default limit of 1024 within hours and every later pass failed
with "Too many open files" (review of issues 10.5 and 19.11).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sealpack.exchange import DirectoryTransport, Peer
from sealpack.keys import Identity

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_inbox_passes_and_sends_leak_no_descriptor(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=4))
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=4))
    alice.send(b"warm up", to=["bob"])
    assert [m.obj for m in bob.receive()] == [b"warm up"]
    before = open_descriptors()
    for _ in range(20):
        alice.send(b"update", to=["bob"])
        assert [m.obj for m in bob.receive()] == [b"update"]
        bob.receive()  # an empty pass, as a watch poll
        bob.quarantined()
    assert open_descriptors() == before
