"""Peer: verified send/receive over both transports, quarantine reasons, trust, restarts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sealpack import api, errors
from sealpack.exchange import DirectoryTransport, Transport
from sealpack.exchange.peer import Peer
from sealpack.keys import Identity, KeyStore

FAST_SCRYPT = 2**10

MakeTransport = Callable[[], Transport]


def peer(name: str, transport: Transport, prekeys: int = 4) -> Peer:
    return Peer(name, transport, Identity.generate(name, one_time_prekeys=prekeys))


def store_peer(name: str, site: Path, keys: Path, prekeys: int = 4) -> Peer:
    identity = Identity.generate(name, one_time_prekeys=prekeys)
    store = KeyStore.create(keys / name, identity, passphrase=b"pw", scrypt_n=FAST_SCRYPT)
    return Peer(name, site, store)


def reopen(name: str, site: Path, keys: Path) -> Peer:
    return Peer(name, site, KeyStore.open(keys / name, passphrase=b"pw"))


def only_blob(transport: Transport, owner: str) -> bytes:
    (message_id,) = transport.list_inbox(owner)
    return transport.read_message(owner, message_id)


def reasons(target: Peer) -> list[str]:
    return [record.reason for record in target.quarantined()]


def test_round_trip_with_numpy_and_metadata(make_transport: MakeTransport) -> None:
    alice, bob = peer("alice", make_transport()), peer("bob", make_transport())
    model = {"w": np.arange(1000, dtype=np.float32), "b": np.ones((3, 4))}
    alice.send(model, to=["bob"], metadata={"round": 3})
    (message,) = bob.receive()
    sender, metadata, obj = message
    assert sender == "alice"
    assert metadata == {"round": 3}
    np.testing.assert_array_equal(obj["w"], model["w"])
    np.testing.assert_array_equal(obj["b"], model["b"])
    assert bob.receive() == []
    assert bob.quarantined() == []


def test_broadcast_is_one_blob_with_one_prekey_per_recipient(make_transport: MakeTransport) -> None:
    transport = make_transport()
    server = peer("server", transport)
    clients = [peer(f"c{i}", transport) for i in range(3)]
    server.send({"x": 1}, to=[c.name for c in clients])
    blobs = {only_blob(transport, c.name) for c in clients}
    assert len(blobs) == 1
    stanzas = api.inspect(blobs.pop()).recipients
    assert len(stanzas) == 3
    assert all(s.one_time_prekey_id is not None for s in stanzas)
    assert [transport.available_one_time_prekeys(c.name) for c in clients] == [3, 3, 3]
    for client in clients:
        assert [m.obj for m in client.receive()] == [{"x": 1}]


def test_no_prekey_left_falls_back_to_signed_prekey(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob = peer("alice", transport), peer("bob", transport, prekeys=1)
    alice.send("first", to=["bob"])
    alice.send("second", to=["bob"])
    opk_ids = [
        api.inspect(transport.read_message("bob", mid)).recipients[0].one_time_prekey_id
        for mid in transport.list_inbox("bob")
    ]
    assert opk_ids[0] is not None
    assert opk_ids[1] is None
    assert [m.obj for m in bob.receive()] == ["first", "second"]


@pytest.mark.parametrize("stream", [False, True])
def test_streaming_send_to_one_and_many(make_transport: MakeTransport, stream: bool) -> None:
    transport = make_transport()
    alice, bob, carol = (peer(n, transport) for n in ("alice", "bob", "carol"))
    payload = np.random.default_rng(1).standard_normal(300_000).astype(np.float32)
    seen: list[int] = []
    alice.send(payload, to=["bob"], stream=stream, progress=lambda done, _: seen.append(done))
    alice.send(payload, to=["bob", "carol"], stream=stream)
    assert seen and seen == sorted(seen) and seen[-1] > payload.nbytes
    read: list[int] = []
    for target in (bob, carol):
        for message in target.receive(progress=lambda done, _: read.append(done)):
            np.testing.assert_array_equal(message.obj, payload)
    assert read and max(read) > payload.nbytes


def test_tampered_blob_is_quarantined_not_returned(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob = peer("alice", transport), peer("bob", transport)
    alice.send(b"secret" * 1000, to=["bob"])
    blob = bytearray(only_blob(transport, "bob"))
    transport.acknowledge("bob", transport.list_inbox("bob")[0])
    blob[len(blob) // 2] ^= 0x40
    message_id = transport.deliver("bob", bytes(blob), sender="alice")
    assert bob.receive() == []
    (record,) = bob.quarantined()
    assert record.reason == "tampered"
    assert record.message_id == message_id
    assert record.detail == errors.TamperedError.MESSAGE
    assert transport.list_inbox("bob") == []


@pytest.mark.parametrize("prekeys", [0, 2])
def test_replayed_blob_is_quarantined(make_transport: MakeTransport, prekeys: int) -> None:
    transport = make_transport()
    alice, bob = peer("alice", transport), peer("bob", transport, prekeys=prekeys)
    alice.send("once", to=["bob"])
    blob = only_blob(transport, "bob")
    assert [m.obj for m in bob.receive()] == ["once"]
    transport.deliver("bob", blob, sender="alice")
    assert bob.receive() == []
    assert reasons(bob) == ["replayed"]  # also with a one-time prekey: checked before X3DH


def test_expired_blob_is_quarantined(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob = peer("alice", transport), peer("bob", transport)
    alice.send("old", to=["bob"], expires_in=60)
    assert bob.receive(now=10**10) == []
    assert reasons(bob) == ["expired"]


def test_blob_for_someone_else_is_quarantined(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob, _carol = (peer(n, transport) for n in ("alice", "bob", "carol"))
    alice.send("for carol", to=["carol"])
    transport.deliver("bob", only_blob(transport, "carol"), sender="alice")
    assert bob.receive() == []
    assert reasons(bob) == ["not-a-recipient"]


def test_sender_impersonation_is_quarantined(make_transport: MakeTransport) -> None:
    transport = make_transport()
    _alice, bob, mallory = (peer(n, transport) for n in ("alice", "bob", "mallory"))
    mallory.send("hi, I am alice", to=["bob"])
    blob = only_blob(transport, "bob")
    transport.acknowledge("bob", transport.list_inbox("bob")[0])
    transport.deliver("bob", blob, sender="alice")  # the transport claims "alice"
    assert bob.receive() == []
    assert reasons(bob) == ["unknown-sender"]
    # Once bob trusts mallory, the blob is delivered as mallory's, whatever the
    # transport claimed: the sender comes from the signature, not the file name.
    bob.fetch_bundle("mallory")
    mallory.send("hi again", to=["bob"])
    message_id = transport.list_inbox("bob")[0]
    blob = transport.read_message("bob", message_id)
    transport.acknowledge("bob", message_id)
    transport.deliver("bob", blob, sender="alice")
    (message,) = bob.receive()
    assert (message.sender, message.obj) == ("mallory", "hi again")


@pytest.mark.parametrize("junk", [b"", b"\x00" * 10, b"not a sealed blob at all" * 50])
def test_garbage_is_quarantined(make_transport: MakeTransport, junk: bytes) -> None:
    transport = make_transport()
    peer("alice", transport)
    bob = peer("bob", transport)
    transport.deliver("bob", junk, sender="alice")
    assert bob.receive() == []
    assert len(bob.quarantined()) == 1
    assert reasons(bob)[0] in ("malformed", "tampered")


def test_changed_identity_stops_delivery_until_retrusted(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob = peer("alice", transport), peer("bob", transport)
    alice.send("hello", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["hello"]
    impostor = peer("alice", transport)  # republishes a different "alice" bundle
    impostor.send("trust me", to=["bob"])
    assert bob.receive() == []
    (record,) = bob.quarantined()
    assert record.reason == "identity-changed"
    assert alice.identity.fingerprint() in record.detail or "fingerprint" in record.detail
    with pytest.raises(errors.IdentityChangedError, match="fingerprint"):
        bob.send("reply", to=["alice"])
    bob.trust_peer("alice")
    impostor.send("now trusted", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["now trusted"]


@pytest.mark.parametrize("prekeys", [0, 2])
def test_receiver_restart_does_not_reaccept(tmp_path: Path, prekeys: int) -> None:
    site, keys = tmp_path / "site", tmp_path / "keys"
    alice = store_peer("alice", site, keys)
    bob = store_peer("bob", site, keys, prekeys=prekeys)
    alice.send({"v": 1}, to=["bob"])
    transport = DirectoryTransport(site)
    blob = only_blob(transport, "bob")
    assert [m.obj for m in bob.receive()] == [{"v": 1}]
    bob.close()
    restarted = reopen("bob", site, keys)
    transport.deliver("bob", blob, sender="alice")
    assert restarted.receive() == []
    assert reasons(restarted) == ["replayed"]
    alice.send({"v": 2}, to=["bob"])
    assert [m.obj for m in restarted.receive()] == [{"v": 2}]


def test_trust_pins_persist_in_the_keystore(tmp_path: Path) -> None:
    site, keys = tmp_path / "site", tmp_path / "keys"
    alice = store_peer("alice", site, keys)
    bob = store_peer("bob", site, keys)
    alice.send("x", to=["bob"])
    bob.receive()
    assert "alice" in bob.trust.names()
    store_peer("alice", site, tmp_path / "other-keys")  # a new identity named alice
    restarted = reopen("bob", site, keys)
    with pytest.raises(errors.IdentityChangedError):
        restarted.fetch_bundle("alice")


def test_watch_backs_off_and_yields_new_messages(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob = peer("alice", transport), peer("bob", transport)
    delays: list[float] = []

    def fake_sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 4:
            alice.send("late", to=["bob"])

    watcher = bob.watch(min_interval=0.1, max_interval=0.5, sleep=fake_sleep)
    message = next(watcher)
    assert message.obj == "late"
    assert delays == [0.1, 0.2, 0.4, 0.5]
    watcher.close()


def test_watch_stops_at_timeout(make_transport: MakeTransport) -> None:
    bob = peer("bob", make_transport())
    assert list(bob.watch(timeout=0.05, min_interval=0.01, max_interval=0.02)) == []


def test_name_must_match_identity(make_transport: MakeTransport) -> None:
    with pytest.raises(errors.KeyStoreError, match="not 'bob'"):
        Peer("bob", make_transport(), Identity.generate("alice", one_time_prekeys=1))


def test_send_needs_recipients_with_bundles(make_transport: MakeTransport) -> None:
    alice = peer("alice", make_transport())
    with pytest.raises(errors.TransportError):
        alice.send("x", to=[])
    with pytest.raises(errors.TransportError):
        alice.send("x", to=["nobody"])


def test_replenish_prekeys_tops_up_the_offer(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, bob = peer("alice", transport), peer("bob", transport, prekeys=2)
    assert bob.replenish_prekeys(low_water=2, batch=5) == 0
    alice.send("x", to=["bob"])
    assert transport.available_one_time_prekeys("bob") == 1
    assert bob.replenish_prekeys(low_water=2, batch=5) == 5
    assert transport.available_one_time_prekeys("bob") == 6
    for index in range(6):
        alice.send(index, to=["bob"])
    assert [m.obj for m in bob.receive()] == ["x", *range(6)]
    assert bob.quarantined() == []


def test_archive_keeps_processed_messages(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path / "site")
    alice = peer("alice", site)
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=2), archive=True)
    alice.send("kept", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["kept"]
    assert len(list((tmp_path / "site" / "bob" / "archive").glob("*.sealed"))) == 1


def test_symlink_in_inbox_is_quarantined_unread(tmp_path: Path) -> None:
    from sealpack.exchange.transport import new_message_id

    site = DirectoryTransport(tmp_path / "site")
    bob = peer("bob", site)
    secret = tmp_path / "secret"
    secret.write_bytes(b"private")
    message_id = new_message_id("alice")
    (tmp_path / "site" / "bob" / "inbox" / f"{message_id}.sealed").symlink_to(secret)
    assert bob.receive() == []
    assert reasons(bob) == ["malformed"]
    assert secret.read_bytes() == b"private"
