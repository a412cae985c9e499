"""Datasite sessions stay usable whatever the sync, the clock or the disk do (review of
issue 15): refused messages, a session the peer dropped, an inbox racing a send on the
same key store, and deliveries that fail. Each test is an attack or failure that lost
honest messages before its fix (docs/spec/datasite.md, "Sessions")."""

from __future__ import annotations

import time

import pytest

from sealpack.exchange import MemoryTransport, outbox
from sealpack.exchange import peer as peer_module
from sealpack.session import Session, SessionLimits
from tests.exchange.test_sessions import peer, talking


def test_refused_ratchet_messages_never_fill_the_held_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Messages refused after opening (here past their window, as a slow relay makes
    them) used to stay held; at ``max_held`` every later honest message of the peer was
    refused too. Now a refused message's key is set aside (bounded like skipped keys)."""
    monkeypatch.setitem(Session.__init__.__kwdefaults__, "limits", SessionLimits(max_held=3))
    transport = MemoryTransport()
    alice, bob = talking(transport)
    for n in range(5):
        alice.send(n, to=["bob"], expires_in=10, now=int(time.time()) - 100)
    assert bob.receive() == []
    assert [r.reason for r in bob.quarantined()] == ["expired"] * 5
    alice.send("honest", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["honest"]
    assert len(bob.quarantined()) == 5


def test_set_aside_message_opens_again_when_put_back() -> None:
    """Setting aside keeps the documented promise: a refused message opens again if
    delivered again (here with the expectation it failed first)."""
    transport = MemoryTransport()
    alice, bob = talking(transport)
    alice.send({"round": 1}, to=["bob"], metadata={"round": 1})
    (message_id,) = transport.list_inbox("bob")
    data = transport.read_message("bob", message_id)
    assert bob.receive(expect_metadata={"round": 2}) == []
    assert [r.reason for r in bob.quarantined()] == ["context-mismatch"]
    transport.deliver("bob", data, sender="alice")
    assert [m.obj for m in bob.receive(expect_metadata={"round": 1})] == [{"round": 1}]


def test_late_message_of_a_forgotten_session_does_not_wedge_replies() -> None:
    """Alice forgets her session and starts a new one; a message she had sent on the old
    one arrives at Bob after the new start. Bob used to answer on the old session (the
    one used last), which Alice no longer has, for ever. A newer start from the peer now
    retires the sessions Bob could send on: they still open late messages."""
    transport = MemoryTransport()
    alice, bob = talking(transport)
    t = int(time.time()) + 10
    alice.send("old session, delayed", to=["bob"], now=t)
    (late_id,) = transport.list_inbox("bob")
    late = transport.read_message("bob", late_id)
    transport.acknowledge("bob", late_id)  # held back by the sync
    alice.forget_session("bob")
    alice.send("fresh start", to=["bob"], now=t + 1)
    assert [m.obj for m in bob.receive(now=t + 1)] == ["fresh start"]
    transport.deliver("bob", late, sender="alice")
    assert [m.obj for m in bob.receive(now=t + 2)] == ["old session, delayed"]
    for n in range(3):
        bob.send(f"bob {n}", to=["alice"], now=t + 3 + n)
        assert [m.obj for m in alice.receive(now=t + 3 + n)] == [f"bob {n}"]
        alice.send(f"alice {n}", to=["bob"], now=t + 3 + n)
        assert [m.obj for m in bob.receive(now=t + 3 + n)] == [f"alice {n}"]
    assert alice.quarantined() == [] and bob.quarantined() == []


def test_send_racing_the_inbox_keeps_the_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """Peer.send decided "sealed start" in one transaction and sealed in another; an inbox
    on the same key store opening the peer's answer in between made it a ratchet message
    of the bare object (metadata and window dropped, quarantined at the receiver). The
    session now refuses start-only options once established, and the send retries."""
    transport = MemoryTransport()
    alice, bob = peer("alice", transport), peer("bob", transport)
    alice.send("hello", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["hello"]
    bob.send("hi", to=["alice"])  # waits in alice's inbox
    real = outbox.restrict_to_claimed_prekey

    def claim_while_the_inbox_runs(*args, **kwargs):  # type: ignore[no-untyped-def]
        bundle = real(*args, **kwargs)
        assert [m.obj for m in alice.receive()] == ["hi"]  # the receiving thread's pass
        return bundle

    monkeypatch.setattr(
        peer_module.outbox, "restrict_to_claimed_prekey", claim_while_the_inbox_runs
    )
    alice.send("round 7 result", to=["bob"], metadata={"round": 7})
    got = bob.receive()
    assert bob.quarantined() == []
    assert [(m.obj, dict(m.metadata)) for m in got] == [("round 7 result", {"round": 7})]


def test_failed_deliveries_use_up_no_message_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A delivery that fails (disk full, folder unmounted) used to burn a message number
    (the state was written first); past ``max_skip`` failures the receiver refused the
    rest of the chain, and the next chain too. The state is now written only after the
    delivery succeeded."""
    transport = MemoryTransport()
    alice, bob = talking(transport)
    real = MemoryTransport.deliver
    failures = {"left": 1001}

    def flaky(self, recipient, blob, *, sender):  # type: ignore[no-untyped-def]
        if recipient == "bob" and failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(28, "No space left on device")
        return real(self, recipient, blob, sender=sender)

    monkeypatch.setattr(MemoryTransport, "deliver", flaky)
    for _ in range(1001):
        with pytest.raises(OSError):
            alice.send("retry", to=["bob"])
    alice.send("delivered at last", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["delivered at last"]
    bob.send("got it", to=["alice"])
    assert [m.obj for m in alice.receive()] == ["got it"]
    alice.send("next round", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["next round"]
