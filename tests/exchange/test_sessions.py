"""Issue 15: datasite peers talk through Double Ratchet sessions after the first sealed message.

The first message to a peer is a sealed blob that starts a session (and pins the peer);
once the peer answered, single-recipient sends are ratchet messages, opened held and
acknowledged like sealed blobs, with their metadata and validity window checked inside.
Out-of-order, duplicated, hostile and misdirected messages are handled without ever
stopping the inbox; ``sessions=False`` opts out.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sealpack.exchange import DirectoryTransport, Transport, sessions
from sealpack.exchange.peer import Peer
from sealpack.exchange.sessions import WRAPPER_KEY
from sealpack.keys import Identity, KeyStore
from sealpack.session import is_session_message
from tests.exchange.test_crash_delivery import lines, worker

FAST_SCRYPT = 2**10

MakeTransport = Callable[[], Transport]


def peer(name: str, transport: Transport, *, sessions: bool = True) -> Peer:
    identity = Identity.generate(name, one_time_prekeys=4)
    return Peer(name, transport, identity, sessions=sessions)


def inbox_blobs(transport: Transport, owner: str) -> list[bytes]:
    return [transport.read_message(owner, m) for m in transport.list_inbox(owner)]


def reasons(target: Peer) -> list[str]:
    return [record.reason for record in target.quarantined()]


def talking(transport: Transport) -> tuple[Peer, Peer]:
    """Alice started a session with Bob, and Bob answered: both sides are established."""
    alice, bob = peer("alice", transport), peer("bob", transport)
    alice.send("hello", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["hello"]
    bob.send("hi", to=["alice"])
    assert [m.obj for m in alice.receive()] == ["hi"]
    return alice, bob


def test_first_message_is_sealed_then_ratchet_messages_both_ways(
    make_transport: MakeTransport,
) -> None:
    transport = make_transport()
    alice, bob = peer("alice", transport), peer("bob", transport)
    alice.send({"n": 1}, to=["bob"], metadata={"round": 1})
    (start,) = inbox_blobs(transport, "bob")
    assert not is_session_message(start)  # the sealed start: X3DH, signed, pins alice
    (first,) = bob.receive()
    assert (first.sender, dict(first.metadata), first.obj) == ("alice", {"round": 1}, {"n": 1})
    assert first.first_contact
    bob.send({"n": 2}, to=["alice"], metadata={"round": 1})
    (reply,) = inbox_blobs(transport, "alice")
    assert is_session_message(reply)  # the responder can use the session at once
    (answer,) = alice.receive()
    assert (answer.sender, dict(answer.metadata), answer.obj) == ("bob", {"round": 1}, {"n": 2})
    alice.send({"n": 3}, to=["bob"], metadata={"round": 2})
    assert all(is_session_message(blob) for blob in inbox_blobs(transport, "bob"))
    assert [(m.sender, dict(m.metadata), m.obj) for m in bob.receive()] == [
        ("alice", {"round": 2}, {"n": 3})
    ]
    assert reasons(alice) == reasons(bob) == []


def test_broadcast_and_streamed_sends_stay_sealed_blobs(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob = talking(transport)
    carol = peer("carol", transport)
    alice.send("to both", to=["bob", "carol"])
    alice.send(b"large", to=["bob"], stream=True)
    assert not any(is_session_message(blob) for blob in inbox_blobs(transport, "bob"))
    assert [m.obj for m in bob.receive()] == ["to both", b"large"]
    assert [m.obj for m in carol.receive()] == ["to both"]


def test_out_of_order_messages_all_open(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob = talking(transport)
    for n in range(4):
        alice.send(n, to=["bob"], metadata={"seq": n})
    blobs = inbox_blobs(transport, "bob")
    for message_id in transport.list_inbox("bob"):
        transport.acknowledge("bob", message_id)
    for blob in reversed(blobs):  # the sync delivers them newest first
        transport.deliver("bob", blob, sender="alice")
    assert [m.obj for m in bob.receive()] == [3, 2, 1, 0]
    assert reasons(bob) == []


def test_duplicate_is_refused_as_replay_and_the_inbox_goes_on(
    make_transport: MakeTransport,
) -> None:
    transport = make_transport()
    alice, bob = talking(transport)
    alice.send("once", to=["bob"])
    (blob,) = inbox_blobs(transport, "bob")
    assert [m.obj for m in bob.receive()] == ["once"]
    transport.deliver("bob", blob, sender="alice")  # the same message synced again
    alice.send("next", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["next"]
    assert reasons(bob) == ["replayed"]


def test_hostile_session_messages_are_quarantined_never_stopping_the_inbox(
    make_transport: MakeTransport,
) -> None:
    transport = make_transport()
    alice, bob = talking(transport)
    mallory = peer("mallory", transport)
    mallory.send("pin me", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["pin me"]
    alice.send("real", to=["bob"])
    (blob,) = inbox_blobs(transport, "bob")
    transport.acknowledge("bob", transport.list_inbox("bob")[0])
    hostile = [
        (blob[:-1] + bytes([blob[-1] ^ 1]), "alice", "tampered"),
        (blob, "mallory", "not-a-recipient"),  # authentic bytes, another pinned peer's hint
        (blob[:20], "alice", "malformed"),  # truncated
        (blob, "nobody", "unknown-sender"),  # the hint names no pinned peer
    ]
    for data, hint, _ in hostile:
        transport.deliver("bob", data, sender=hint)
    transport.deliver("bob", blob, sender="alice")
    assert [(m.sender, m.obj) for m in bob.receive()] == [("alice", "real")]
    assert reasons(bob) == [reason for _, _, reason in hostile]
    assert mallory.quarantined() == []


def test_metadata_travels_inside_and_is_checked_before_the_application(
    make_transport: MakeTransport,
) -> None:
    transport = make_transport()
    alice, bob = talking(transport)
    alice.send("round 1", to=["bob"], metadata={"round": 1})
    alice.send("round 2", to=["bob"], metadata={"round": 2})
    got = bob.receive(expect_metadata={"round": 2})
    assert [(m.obj, dict(m.metadata)) for m in got] == [("round 2", {"round": 2})]
    assert reasons(bob) == ["context-mismatch"]


def test_validity_window_and_type_checked_inside_session_messages(
    make_transport: MakeTransport,
) -> None:
    transport = make_transport()
    alice, bob = talking(transport)
    alice.send(5, to=["bob"], expires_in=10, now=1_000)  # the right type, too old
    alice.send("text", to=["bob"])  # the wrong type (refused before it is built)
    alice.send(7, to=["bob"])
    assert [m.obj for m in bob.receive(expect=int)] == [7]
    assert sorted(reasons(bob)) == ["expired", "malformed"]


def test_session_message_without_the_datasite_context_is_refused(
    make_transport: MakeTransport,
) -> None:
    transport = make_transport()
    alice, bob = talking(transport)
    bare = alice._sessions.session(bob.identity.public_identity_key).seal({"obj": "no context"})
    transport.deliver("bob", bare, sender="alice")
    wrapped = {WRAPPER_KEY: {"metadata": {}, "sent": 0, "expires": True}, "obj": 1}
    odd = alice._sessions.session(bob.identity.public_identity_key).seal(wrapped)
    transport.deliver("bob", odd, sender="alice")
    assert bob.receive() == []
    assert reasons(bob) == ["malformed", "malformed"]


def test_opt_out_sends_sealed_blobs_and_still_talks_to_session_peers(
    make_transport: MakeTransport,
) -> None:
    transport = make_transport()
    alice, bob = peer("alice", transport), peer("bob", transport, sessions=False)
    for n in range(2):
        alice.send(n, to=["bob"])  # sealed starts: bob never answers with a session
        bob.send(n, to=["alice"])
    assert not any(is_session_message(b) for b in inbox_blobs(transport, "bob"))
    assert not any(is_session_message(b) for b in inbox_blobs(transport, "alice"))
    assert [m.obj for m in bob.receive()] == [0, 1]  # the start unwrapped, not accepted
    assert [m.obj for m in alice.receive()] == [0, 1]
    alice.send("still sealed", to=["bob"])
    assert not any(is_session_message(b) for b in inbox_blobs(transport, "bob"))


def test_forget_session_starts_again_with_a_sealed_message(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob = talking(transport)
    later = int(time.time()) + 5  # the newest session is preferred (second resolution)
    alice.forget_session("bob")
    alice.send("fresh start", to=["bob"], now=later)
    assert not any(is_session_message(b) for b in inbox_blobs(transport, "bob"))
    assert [m.obj for m in bob.receive(now=later)] == ["fresh start"]
    bob.send("on the new session", to=["alice"], now=later)
    assert is_session_message(inbox_blobs(transport, "alice")[0])
    assert [m.obj for m in alice.receive(now=later)] == ["on the new session"]
    assert reasons(alice) == []


def test_sessions_are_durable_in_the_key_store(tmp_path: Path) -> None:
    site, keys = tmp_path / "site", tmp_path / "keys"
    stores = {}
    for name in ("alice", "bob"):
        identity = Identity.generate(name, one_time_prekeys=4)
        stores[name] = KeyStore.create(
            keys / name, identity, passphrase=b"pw", scrypt_n=FAST_SCRYPT
        )
    alice, bob = (Peer(n, site, stores[n]) for n in ("alice", "bob"))
    alice.send("hello", to=["bob"])
    bob.receive()
    bob.send("hi", to=["alice"])
    alice.receive()
    alice.close()
    alice = Peer("alice", site, KeyStore.open(keys / "alice", passphrase=b"pw"))
    alice.send("after restart", to=["bob"])
    assert all(is_session_message(b) for b in inbox_blobs(DirectoryTransport(site), "bob"))
    assert [m.obj for m in bob.receive()] == ["after restart"]
    alice.close()
    bob.close()


PAYLOAD = os.urandom(200_000)


@pytest.mark.parametrize(
    ("mode", "redelivered"),
    [
        ("session-opened", [True]),  # held key written, the application never had it
        ("processing", [False, True]),  # processed, killed before acknowledging
        ("session-ack-between", [False]),  # file removed, key not released: journal ends it
    ],
)
def test_killed_receiver_gets_the_session_message_exactly_once(
    tmp_path: Path, mode: str, redelivered: list[bool]
) -> None:
    site, keys = tmp_path / "site", tmp_path / "keys"
    identity = Identity.generate("bob", one_time_prekeys=4)
    store = KeyStore.create(keys, identity, passphrase=b"pw", scrypt_n=FAST_SCRYPT)
    bob = Peer("bob", site, store)
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=2))
    alice.send("hello", to=["bob"])
    bob.receive()
    bob.send("hi", to=["alice"])
    alice.receive()
    bob.close()
    alice.send(PAYLOAD, to=["bob"], metadata={"seq": 0})
    (blob,) = inbox_blobs(DirectoryTransport(site), "bob")
    assert is_session_message(blob)
    log = tmp_path / "processed.log"
    args = (str(site), str(keys), "bob")
    killed = worker("receive_worker.py", *args, mode, str(log))
    assert killed.wait(timeout=60) == -signal.SIGKILL, killed.stderr.read().decode()  # type: ignore[union-attr]
    restarted = worker("receive_worker.py", *args, "none", str(log))
    assert restarted.wait(timeout=60) == 0, restarted.stderr.read().decode()  # type: ignore[union-attr]
    assert [d["redelivered"] for d in lines(Path(f"{log}.deliveries"))] == redelivered
    assert lines(log) == [
        {"processed": ["alice", 0], "digest": hashlib.sha256(PAYLOAD).hexdigest()}
    ]
    transport = DirectoryTransport(site)
    assert transport.list_inbox("bob") == []
    assert transport.list_quarantine("bob") == []
    assert list((keys / "datasite-acks").iterdir()) == []  # every acknowledgement finished
    transport.deliver("bob", blob, sender="alice")  # the acknowledged message, synced again
    with KeyStore.open(keys, passphrase=b"pw") as reopened:
        assert Peer("bob", site, reopened).receive() == []
    assert [r.reason for r in transport.list_quarantine("bob")] == ["replayed"]


def test_oversized_session_message_is_quarantined_unread(
    make_transport: MakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = make_transport()
    alice, bob = talking(transport)
    monkeypatch.setattr(sessions, "MAX_SESSION_MESSAGE", 1000)
    alice.send(b"x" * 2000, to=["bob"])
    alice.send(b"small", to=["bob"])
    assert [m.obj for m in bob.receive()] == [b"small"]
    assert reasons(bob) == ["malformed"]


def test_sending_to_oneself_stays_sealed(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice = peer("alice", transport)
    for n in range(3):  # the start's session id is already ours: no second state is added
        alice.send(n, to=["alice"])
        assert not any(is_session_message(b) for b in inbox_blobs(transport, "alice"))
        assert [m.obj for m in alice.receive()] == [n]
    assert reasons(alice) == []
