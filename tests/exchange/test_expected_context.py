"""Issue 10.2 in the datasite: a blob in the wrong context is refused without burning it."""

from __future__ import annotations

from pathlib import Path

from sealpack.exchange import DirectoryTransport, Peer
from sealpack.keys import Identity


def test_wrong_context_is_quarantined_unburned_and_opens_in_the_right_one(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=4))
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=4))
    (message_id,) = alice.send(b"update", to=["bob"], metadata={"round": 1})
    assert bob.receive(expect_metadata={"round": 2}) == []
    (record,) = bob.quarantined()
    assert record.reason == "context-mismatch"
    blob = site.quarantined_blob_path("bob", message_id)
    blob.rename(tmp_path / "bob" / "inbox" / blob.name)  # the operator moves it back
    (message,) = bob.receive(expect_metadata={"round": 1})
    assert (message.obj, message.redelivered) == (b"update", False)
