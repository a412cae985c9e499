"""How the application acknowledges (issue 17): iterator, ``with message:``, ``ack()``."""

from __future__ import annotations

from pathlib import Path

import pytest

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
