"""Issue 19.11: a long-running watcher keeps its one-time prekeys and signed prekey fresh."""

from __future__ import annotations

import time
from pathlib import Path

from sealpack.exchange import DirectoryTransport, Peer
from sealpack.keys import Identity, KeyBundle


def test_watch_replenishes_one_time_prekeys_inside_the_loop(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=2))
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=2))
    for n in range(3):
        alice.send(n, to=["bob"])
    assert site.available_one_time_prekeys("bob") == 0
    got = [m.obj for m in bob.watch(timeout=0.3, maintain_every=0.0, sleep=lambda _: None)]
    assert got == [0, 1, 2]
    assert site.available_one_time_prekeys("bob") >= 10


def test_watch_rotates_a_signed_prekey_near_its_end(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    now = int(time.time())
    identity = Identity.generate(
        "bob", one_time_prekeys=20, signed_prekey_lifetime=1000, now=now - 900
    )
    bob = Peer("bob", site, identity, publish=False)
    site.publish_bundle("bob", identity.bundle().to_json(), {})
    before = identity.bundle().signed_prekey.id
    list(bob.watch(timeout=0.2, maintain_every=0.0, sleep=lambda _: None))
    assert identity.bundle().signed_prekey.id != before
    published = KeyBundle.from_json(site.fetch_bundle("bob"), now=0)
    assert published.signed_prekey.id == identity.bundle().signed_prekey.id


def test_a_failing_maintenance_never_stops_the_watch(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=20))
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=2))
    alice.send("hi", to=["bob"])

    def broken(**_: object) -> None:
        from sealpack import errors

        raise errors.TransportError("disk full")

    bob.maintain = broken  # type: ignore[method-assign]
    got = [m.obj for m in bob.watch(timeout=0.2, maintain_every=0.0, sleep=lambda _: None)]
    assert got == ["hi"]
