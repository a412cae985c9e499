"""Session's sealed path and session choice (review of issue 15): a sealed blob is
checked in full before anything is consumed, start-only options are never dropped, and
a late message on a session the peer dropped never takes the sending back to it."""

from __future__ import annotations

import time

import pytest

import sealpack
from sealpack import errors
from sealpack.session import Session, SessionEstablishedError
from sealpack.session.state_codec import decode_states, encode_states
from sealpack.session.storage import MemoryStorage


def _identity(name: str) -> sealpack.Identity:
    return sealpack.Identity.generate(name, one_time_prekeys=4, post_quantum=False)


def test_expect_is_checked_on_a_plain_sealed_blob() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    blob = sealpack.seal(
        {"not": "an int"}, sender=alice, recipients=[bob.bundle()], allow_classical=True
    )
    with pytest.raises(errors.SchemaError):
        Session(bob, alice.bundle(), storage=MemoryStorage()).open_message(blob, expect=int)


def test_expect_mismatch_of_a_sealed_start_changes_nothing() -> None:
    """The check used to run after the blob was consumed and the start registered, so
    the message was lost (ReplayError the next time)."""
    alice, bob = _identity("alice"), _identity("bob")
    blob = Session(alice, bob.bundle()).seal("start text", allow_classical=True)
    sb = Session(bob, alice.bundle(), storage=MemoryStorage())
    with pytest.raises(errors.SchemaError):
        sb.open(blob, expect=int)
    assert not sb.established  # no session was registered by the refused open
    assert sb.open(blob, expect=str) == "start text"
    with pytest.raises(errors.ReplayError):
        sb.open(blob, expect=str)  # opened once for good: consumed now


def test_blob_of_another_sender_is_refused_without_being_consumed() -> None:
    alice, bob, carol = _identity("alice"), _identity("bob"), _identity("carol")
    blob = Session(carol, bob.bundle()).seal("from carol", allow_classical=True)
    with pytest.raises(errors.UnknownSenderError):
        Session(bob, alice.bundle()).open(blob, senders=[alice.bundle(), carol.bundle()])
    with pytest.raises(errors.UnknownSenderError):
        Session(bob, alice.bundle()).open(blob, senders=[carol.bundle()])
    assert Session(bob, carol.bundle()).open(blob) == "from carol"


def test_start_only_options_are_refused_once_established() -> None:
    """They were silently dropped: the peer got an object without the signed metadata."""
    alice, bob = _identity("alice"), _identity("bob")
    sa, sb = Session(alice, bob.bundle()), Session(bob, alice.bundle())
    assert sb.open(sa.seal("hi", allow_classical=True, metadata={"round": 1})) == "hi"
    assert sa.open(sb.seal("hello")) == "hello"
    with pytest.raises(SessionEstablishedError, match="metadata"):
        sa.seal("x", metadata={"round": 2})
    assert sb.open(sa.seal("y", allow_classical=True)) == "y"  # key-agreement options: moot


def test_failed_delivery_leaves_the_state_as_it_was() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    sa, sb = Session(alice, bob.bundle()), Session(bob, alice.bundle())
    assert sb.open(sa.seal("hi", allow_classical=True)) == "hi"
    assert sa.open(sb.seal("hello")) == "hello"

    def broken(message: bytes) -> None:
        raise OSError(5, "I/O error")

    with pytest.raises(OSError):
        sa.seal("lost", deliver=broken)
    sent: list[bytes] = []
    message = sa.seal("kept", deliver=sent.append)
    assert sent == [message]  # delivered what it returned
    assert sb.open(message) == "kept"
    assert message[62:66] == (0).to_bytes(4, "big")  # N = 0: the failed one used up nothing


def test_late_message_of_a_dropped_session_does_not_take_the_sending_back() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    sa = Session(alice, bob.bundle(), storage=MemoryStorage())
    sb = Session(bob, alice.bundle(), storage=MemoryStorage())
    t = int(time.time())
    assert sb.open(sa.seal("hello", allow_classical=True, now=t), now=t) == "hello"
    assert sa.open(sb.seal("welcome", now=t), now=t) == "welcome"
    late = sa.seal("sent on the old session", now=t + 1)
    sa.forget()
    assert sb.open(sa.seal("fresh start", allow_classical=True, now=t + 2), now=t + 2)
    assert sb.open(late, now=t + 3) == "sent on the old session"  # still opens
    for n in range(3):
        reply = sb.seal(f"reply {n}", now=t + 4 + n)
        assert sa.open(reply, now=t + 4 + n) == f"reply {n}"
        assert sb.open(sa.seal(f"again {n}", now=t + 4 + n), now=t + 4 + n) == f"again {n}"


def test_retired_mark_survives_the_state_file() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    storage = MemoryStorage()
    sb = Session(bob, alice.bundle(), storage=storage)
    for text in ("one", "two"):
        sa = Session(alice, bob.bundle(), storage=MemoryStorage())
        sb.open(sa.seal(text, allow_classical=True))
    with storage.transaction(alice.public_identity_key) as states:
        decoded = decode_states(encode_states(states))
    assert [s.retired for s in decoded] == [s.retired for s in states] == [True, False]


def test_start_options_apply_to_a_sealed_start_only() -> None:
    """For callers whose object carries its context anyway (the Flower client)."""
    alice, bob = _identity("alice"), _identity("bob")
    sa, sb = Session(alice, bob.bundle()), Session(bob, alice.bundle())
    options = {"metadata": {"round": 1}, "allow_classical": True}
    opened = sb.open_message(sa.seal({"round": 1}, start_options=options))
    assert opened.started and opened.info is not None
    assert dict(opened.info.metadata) == {"round": 1}
    assert sa.open(sb.seal("hello")) == "hello"
    message = sa.seal({"round": 2}, start_options={"metadata": {"round": 2}})
    assert sb.open_message(message).info is None  # a ratchet message: options not needed
