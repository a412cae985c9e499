"""Peer: first contact (TOFU or strict), the bundle cache, prekey upkeep on publish."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sealpack import api, errors
from sealpack.exchange import DirectoryTransport, PeerNotTrustedError, Transport
from sealpack.exchange.peer import Peer
from sealpack.keys import Identity, KeyBundle

MakeTransport = Callable[[], Transport]
DAY = 86400


def peer(name: str, transport: Transport, prekeys: int = 2, *, strict: bool = False) -> Peer:
    identity = Identity.generate(name, one_time_prekeys=prekeys)
    return Peer(name, transport, identity, trust_new_peers=not strict)


def reasons(target: Peer) -> list[str]:
    return [record.reason for record in target.quarantined()]


def test_injected_new_peer_is_tofu_by_default_and_flagged(make_transport: MakeTransport) -> None:
    transport = make_transport()
    bob = peer("bob", transport)
    eve = peer("eve", transport)  # anyone who can write to the datasite: bundle + blob
    eve.send("hello, I am new", to=["bob"])
    (message,) = bob.receive()
    assert (message.sender, message.obj, message.first_contact) == ("eve", "hello, I am new", True)
    assert bob.trust.pinned_key("eve") == eve.identity.public_identity_key
    eve.send("again", to=["bob"])
    (again,) = bob.receive()
    assert again.first_contact is False


def test_strict_peer_quarantines_new_peers_until_trusted(make_transport: MakeTransport) -> None:
    transport = make_transport()
    bob = peer("bob", transport, strict=True)
    eve = peer("eve", transport)
    eve.send("inject", to=["bob"])
    assert bob.receive() == []
    (record,) = bob.quarantined()
    assert record.reason == "untrusted"
    assert eve.identity.fingerprint() in record.detail
    assert bob.trust.pinned_key("eve") is None
    with pytest.raises(PeerNotTrustedError, match="not trusted yet"):
        bob.send("reply", to=["eve"])
    bob.trust_peer("eve")
    eve.send("after trust", to=["bob"])
    (message,) = bob.receive()
    assert (message.sender, message.obj, message.first_contact) == ("eve", "after trust", False)
    assert reasons(bob) == ["untrusted"]


def test_strict_peer_still_receives_from_pinned_peers(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice = peer("alice", transport)
    bob = peer("bob", transport, strict=True)
    bob.trust_peer("alice")
    alice.send("known", to=["bob"])
    assert [m.obj for m in bob.receive()] == ["known"]


def test_refused_first_blob_pins_nothing(make_transport: MakeTransport) -> None:
    transport = make_transport()
    bob = peer("bob", transport)
    eve = peer("eve", transport)
    eve.send(b"x" * 1000, to=["bob"])
    (message_id,) = transport.list_inbox("bob")
    blob = bytearray(transport.read_message("bob", message_id))
    transport.acknowledge("bob", message_id)
    blob[len(blob) // 2] ^= 1
    transport.deliver("bob", bytes(blob), sender="eve")
    assert bob.receive() == []
    assert reasons(bob) == ["tampered"]
    assert bob.trust.pinned_key("eve") is None  # only a verified message pins
    eve.send("good", to=["bob"])
    (message,) = bob.receive()
    assert message.first_contact is True


def test_unchanged_bundle_is_not_reread_and_a_changed_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = DirectoryTransport(tmp_path / "site")
    alice, bob = peer("alice", transport), peer("bob", transport, prekeys=1)
    reads: list[str] = []
    parses: list[int] = []
    original_fetch = transport.fetch_bundle
    original_parse = KeyBundle.from_json.__func__  # type: ignore[attr-defined]

    def counting_fetch(name: str) -> str:
        reads.append(name)
        return original_fetch(name)

    def counting_parse(cls: type[KeyBundle], text: str, /, **kw: int | None) -> KeyBundle:
        parses.append(1)
        return original_parse(cls, text, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(transport, "fetch_bundle", counting_fetch)
    monkeypatch.setattr(KeyBundle, "from_json", classmethod(counting_parse))
    alice.send("one", to=["bob"])
    alice.send("two", to=["bob"])
    assert (reads, len(parses)) == (["bob"], 1)
    bob.replenish_prekeys(low_water=1, batch=3)  # republishes bundle.json with new prekeys
    alice.send("three", to=["bob"])
    assert reads == ["bob", "bob"]
    last = transport.read_message("bob", transport.list_inbox("bob")[-1])
    assert api.inspect(last).recipients[0].one_time_prekey_id == 2  # only in the new bundle
    alice.send("four", to=["bob"])
    assert reads == ["bob", "bob"]
    assert [m.obj for m in bob.receive()] == ["one", "two", "three", "four"]


def test_cached_bundle_still_checks_expiry(make_transport: MakeTransport) -> None:
    transport = make_transport()
    alice, _bob = peer("alice", transport), peer("bob", transport)
    alice.fetch_bundle("bob")
    with pytest.raises(errors.BundleError, match="expired"):
        alice.fetch_bundle("bob", now=int(time.time()) + 365 * DAY)


def test_publish_rotates_late_signed_prekey_and_purges_retired(
    make_transport: MakeTransport,
) -> None:
    transport, start = make_transport(), int(time.time())
    alice = peer("alice", transport)
    bob_identity = Identity.generate(
        "bob", one_time_prekeys=0, signed_prekey_lifetime=1000, now=start
    )
    bob = Peer("bob", transport, bob_identity)
    alice.send("first", to=["bob"], expires_in=30 * DAY, now=start + 700)
    alice.send("kept back", to=["bob"], expires_in=30 * DAY, now=start + 700)
    held_id = transport.list_inbox("bob")[1]
    held = transport.read_message("bob", held_id)
    transport.acknowledge("bob", held_id)
    bob.publish(now=start + 700)  # 70 % of the lifetime: no rotation
    assert bob.identity.signed_prekey_id == 1
    bob.publish(now=start + 801)  # last 20 %: rotated, old one kept for the grace period
    assert bob.identity.signed_prekey_id == 2
    assert KeyBundle.from_json(transport.fetch_bundle("bob"), now=0).signed_prekey.id == 2
    assert [m.obj for m in bob.receive(now=start + 802)] == ["first"]
    bob.publish(now=start + 1000 + 8 * DAY)  # past the grace period: SPK 1 deleted
    transport.deliver("bob", held, sender="alice")
    assert bob.receive(now=start + 802) == []  # would open if SPK 1 still existed
    assert reasons(bob) == ["prekey"]


def test_publish_purges_retired_signed_prekeys_without_rotating(
    make_transport: MakeTransport,
) -> None:
    transport, start = make_transport(), int(time.time())
    alice = peer("alice", transport)
    bob = Peer("bob", transport, Identity.generate("bob", one_time_prekeys=0, now=start))
    alice.send("sealed to SPK 1", to=["bob"], now=start + 50)
    bob.identity.rotate_signed_prekey(grace_period=10, now=start + 100)  # SPK 1 kept until +110
    bob.publish(now=start + 200)  # SPK 2 is young: no rotation, but SPK 1 is purged
    assert bob.identity.signed_prekey_id == 2
    assert bob.receive(now=start + 105) == []  # inside the grace period, yet SPK 1 is gone
    assert reasons(bob) == ["prekey"]
