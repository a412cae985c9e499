"""How the application acknowledges (issue 17): iterator, ``with message:``, ``ack()``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealpack import errors
from sealpack.exchange import DirectoryTransport, Peer
from sealpack.keys import Identity


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Peer, Peer, DirectoryTransport]:
    site = DirectoryTransport(tmp_path)
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=4))
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=4))
    return alice, bob, site


def test_an_exception_in_the_loop_body_leaves_the_message_for_redelivery(
    pair: tuple[Peer, Peer, DirectoryTransport],
) -> None:
    alice, bob, site = pair
    alice.send("work", to=["bob"])
    with pytest.raises(RuntimeError):
        for _message in bob.iter_messages():
            raise RuntimeError("the application failed while processing")
    (again,) = bob.receive()
    assert (again.obj, again.redelivered) == ("work", True)
    assert site.list_inbox("bob") == []
    assert bob.quarantined() == []


def test_the_loop_acknowledges_a_message_when_the_next_one_is_asked_for(
    pair: tuple[Peer, Peer, DirectoryTransport],
) -> None:
    alice, bob, site = pair
    alice.send(1, to=["bob"])
    alice.send(2, to=["bob"])
    messages = bob.iter_messages()
    first = next(messages)
    assert not first.acknowledged and len(site.list_inbox("bob")) == 2
    second = next(messages)
    assert first.acknowledged and not second.acknowledged
    assert list(messages) == []
    assert second.acknowledged and site.list_inbox("bob") == []


def test_with_block_and_explicit_ack(pair: tuple[Peer, Peer, DirectoryTransport]) -> None:
    alice, bob, site = pair
    alice.send("a", to=["bob"])
    alice.send("b", to=["bob"])
    first, second = list(bob.iter_messages(auto_ack=False))
    with pytest.raises(ValueError), first:
        raise ValueError("not processed")
    assert not first.acknowledged
    with second:
        pass
    assert second.acknowledged
    first.ack()
    first.ack()  # idempotent
    assert site.list_inbox("bob") == []
    assert bob.receive() == []


def test_a_planted_archive_folder_does_not_stop_the_inbox(tmp_path: Path) -> None:
    """Attack (exchange review C.3): bob archives; mallory's message sorts first and a
    folder stands at ``archive/<its id>.sealed``. Archiving raised a raw
    IsADirectoryError out of receive() on every run, before alice's message.
    Defence: the blob is archived under ``<id>.<16 hex>.sealed``; the folder stays."""
    site = DirectoryTransport(tmp_path / "site")
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=4), archive=True)
    mallory = Peer("mallory", site, Identity.generate("mallory", one_time_prekeys=4))
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=4))
    (mid,) = mallory.send(b"hi", to=["bob"])
    planted = site.root / "bob" / "archive" / f"{mid}.sealed"
    (planted / "x").mkdir(parents=True)
    alice.send(b"the real update", to=["bob"])
    got = [(m.sender, m.obj, m.acknowledged) for m in bob.receive()]
    assert sorted(got) == [("alice", b"the real update", True), ("mallory", b"hi", True)]
    archived = sorted(p.name for p in (site.root / "bob" / "archive").iterdir())
    assert len(archived) == 3 and planted.is_dir() and site.list_inbox("bob") == []


def test_a_blob_swapped_for_a_folder_while_processed_raises_nothing_raw(tmp_path: Path) -> None:
    """Attack (C.3): while bob's application processes mallory's message, she replaces
    her ``.sealed`` file by a folder. The acknowledgement's unlink raised a raw
    IsADirectoryError out of iter_messages(): the loop (``receive --watch``) died.
    Defence: a TransportError, and the loop goes on (the journal finishes it later)."""
    site = DirectoryTransport(tmp_path / "site")
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=4))
    mallory = Peer("mallory", site, Identity.generate("mallory", one_time_prekeys=4))
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=4))
    (mid,) = mallory.send(b"hi", to=["bob"])
    alice.send(b"the real update", to=["bob"])
    with pytest.raises(errors.TransportError):  # typed, also when called directly
        (site.root / "bob" / "inbox" / f"{mid}.sealed").rename(tmp_path / "kept")
        (site.root / "bob" / "inbox" / f"{mid}.sealed").mkdir()
        site.acknowledge("bob", mid)
    (site.root / "bob" / "inbox" / f"{mid}.sealed").rmdir()
    (tmp_path / "kept").rename(site.root / "bob" / "inbox" / f"{mid}.sealed")
    got = []
    for message in bob.iter_messages():
        got.append((message.sender, message.obj))
        if message.sender == "mallory":  # the race, made deterministic
            (site.root / "bob" / "inbox" / f"{mid}.sealed").unlink()
            (site.root / "bob" / "inbox" / f"{mid}.sealed").mkdir()
    assert sorted(got) == [("alice", b"the real update"), ("mallory", b"hi")]
    bob.receive()  # the folder is quarantined; the journal then finishes mallory's ack
    assert bob.receive() == [] and site.list_inbox("bob") == []
