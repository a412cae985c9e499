"""Issue 10.10: a one-time prekey can only be consumed by the sender that claimed it.

Claims are signed by the claimer; the recipient records the first valid claim of
each prekey and refuses, before opening and so without consuming the prekey, a
blob that names a prekey claimed by someone else or not claimed at all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from sealpack import api
from sealpack.exchange import DirectoryTransport, MemoryTransport, Peer, Transport
from sealpack.exchange.claim_book import ClaimBook
from sealpack.exchange.claims import Claim, decode_claim, encode_claim
from sealpack.exchange.message_ids import new_message_id
from sealpack.keys import Identity, KeyStore

FAST_SCRYPT = 2**10


def make_peer(name: str, transport: Transport) -> Peer:
    return Peer(name, transport, Identity.generate(name, one_time_prekeys=4))


def claimed_ids(transport: Transport, owner: str) -> list[int]:
    return sorted(decode_claim(data).prekey_id for data in transport.list_claims(owner))


def thief_blob(thief: Peer, victim_bundle_json: str, prekey_id: int) -> bytes:
    """What the thief does: seal a tiny blob to a prekey someone else claimed."""
    from sealpack.keys import KeyBundle

    bundle = KeyBundle.from_json(victim_bundle_json, now=0)
    return api.seal(
        b"tiny", sender=thief.identity, recipients=[bundle.with_one_time_prekeys([prekey_id])]
    )


def deliver_first(transport: Transport, owner: str, blob: bytes, sender: str) -> str:
    """Deliver ``blob`` under an id that sorts before every message in the inbox."""
    early = new_message_id(sender, now_ns=time.time_ns() - 10**9)
    if isinstance(transport, DirectoryTransport):
        inbox = transport.root / owner / "inbox"
        late = transport.deliver(owner, blob, sender=sender)
        (inbox / f"{late}.sealed").rename(inbox / f"{early}.sealed")
    else:
        transport._sites[owner].inbox[early] = blob  # type: ignore[attr-defined]
    assert transport.list_inbox(owner)[0] == early
    return early


@pytest.fixture(params=["memory", "directory"])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Transport:
    return MemoryTransport() if request.param == "memory" else DirectoryTransport(tmp_path)


def test_a_stolen_prekey_is_refused_without_consuming_it(transport: Transport) -> None:
    bob, alice, mallory = (make_peer(n, transport) for n in ("bob", "alice", "mallory"))
    alice.send(b"the real update", to=["bob"])
    (stolen,) = claimed_ids(transport, "bob")  # mallory reads claimed/ ...
    blob = thief_blob(mallory, transport.fetch_bundle("bob"), stolen)
    deliver_first(transport, "bob", blob, "mallory")  # ... and gets it opened first
    inbox = transport.list_inbox("bob")
    assert len(inbox) == 2
    messages = bob.receive()
    assert [(m.sender, m.obj) for m in messages] == [("alice", b"the real update")]
    (record,) = bob.quarantined()
    assert record.reason == "prekey"
    assert "claimed by another sender" in record.detail
    assert stolen not in bob.identity.one_time_prekey_ids()  # consumed by alice's blob only


def test_the_thief_wins_nothing_by_claiming_afterwards(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    bob, alice, mallory = (make_peer(n, site) for n in ("bob", "alice", "mallory"))
    alice.send(b"real", to=["bob"])
    (stolen,) = claimed_ids(site, "bob")
    bundle = bob.identity.bundle()
    forged = encode_claim(mallory.identity, bundle, stolen)  # a valid claim, but later
    (tmp_path / "bob" / "public" / "claimed" / f"{stolen}-{'f' * 16}.json").write_bytes(forged)
    deliver_first(site, "bob", thief_blob(mallory, site.fetch_bundle("bob"), stolen), "mallory")
    assert [m.sender for m in bob.receive()] == ["alice"]
    assert [r.reason for r in bob.quarantined()] == ["prekey"]


def test_a_forged_claim_of_a_still_offered_prekey_is_never_recorded(tmp_path: Path) -> None:
    """The thief skips the claiming rename: writes its own claim and seals to the prekey."""
    site = DirectoryTransport(tmp_path)
    bob, mallory = make_peer("bob", site), make_peer("mallory", site)
    target = bob.identity.one_time_prekey_ids()[0]  # still offered in prekeys/
    forged = encode_claim(mallory.identity, bob.identity.bundle(), target)
    (tmp_path / "bob" / "public" / "claimed" / f"{target}-{'a' * 16}.json").write_bytes(forged)
    assert bob.receive() == []  # bob's next pass sees the claim of an offered prekey: void
    alice = make_peer("alice", site)
    alice.send(b"honest", to=["bob"])  # alice claims the lowest offered id: the same one
    blob = thief_blob(mallory, site.fetch_bundle("bob"), target)
    deliver_first(site, "bob", blob, "mallory")  # older claim file, blob opened first
    assert [m.obj for m in bob.receive()] == [b"honest"]
    assert [r.reason for r in bob.quarantined()] == ["prekey"]


def test_a_blob_to_a_still_offered_prekey_waits_even_with_a_forged_claim(
    tmp_path: Path,
) -> None:
    site = DirectoryTransport(tmp_path)
    bob, mallory = make_peer("bob", site), make_peer("mallory", site)
    target = bob.identity.one_time_prekey_ids()[0]
    forged = encode_claim(mallory.identity, bob.identity.bundle(), target)
    (tmp_path / "bob" / "public" / "claimed" / f"{target}-{'a' * 16}.json").write_bytes(forged)
    site.deliver("bob", thief_blob(mallory, site.fetch_bundle("bob"), target), sender="mallory")
    assert bob.receive() == []  # not opened: waits for a genuine claim
    assert target in bob.identity.one_time_prekey_ids()
    alice = make_peer("alice", site)
    alice.send(b"honest", to=["bob"])
    assert [m.obj for m in bob.receive()] == [b"honest"]


def test_an_unclaimed_prekey_waits_then_is_refused_without_consuming(
    transport: Transport,
) -> None:
    bob, mallory = make_peer("bob", transport), make_peer("mallory", transport)
    bundle_json = transport.fetch_bundle("bob")
    target = bob.identity.one_time_prekey_ids()[0]  # offered, never claimed
    blob = thief_blob(mallory, bundle_json, target)
    transport.deliver("bob", blob, sender="mallory")
    assert bob.receive() == []
    assert bob.quarantined() == []  # young: its claim may still be syncing
    assert len(transport.list_inbox("bob")) == 1
    old = new_message_id("mallory", now_ns=10**18)  # delivered long ago
    transport.deliver("bob", blob, sender="mallory")
    if isinstance(transport, DirectoryTransport):
        inbox = transport.root / "bob" / "inbox"
        newest = max(inbox.iterdir())
        newest.rename(inbox / f"{old}.sealed")
        assert bob.receive() == []
        assert [r.reason for r in bob.quarantined()] == ["prekey"]
    assert target in bob.identity.one_time_prekey_ids()


def test_claims_are_signed_by_the_claimer_and_bound_to_the_prekey() -> None:
    alice, bob = Identity.generate("alice"), Identity.generate("bob")
    claim = decode_claim(encode_claim(alice, bob.bundle(), 7))
    assert claim.prekey_id == 7 and claim.claimer == "alice" and claim.recipient == "bob"
    assert claim.verify(alice.public_identity_key)
    assert not claim.verify(bob.public_identity_key)
    other = Claim(claim.recipient, claim.recipient_key, 8, claim.claimer, claim.signature)
    assert not other.verify(alice.public_identity_key)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b"{" * 5000,
        json.dumps({"id": 1, "public": "00" * 32}).encode(),  # an unsigned (offered) file
        b'{"claimer": "a", "prekey_id": 1' + b"9" * 5000 + b"}",
        b" " * 5000,
    ],
)
def test_malformed_claims_are_refused_with_a_transport_error(data: bytes) -> None:
    from sealpack import errors

    with pytest.raises(errors.TransportError, match="malformed prekey claim"):
        decode_claim(data)


def test_the_claim_book_keeps_the_first_claimer_across_handles(tmp_path: Path) -> None:
    first, second = b"\x01" * 32, b"\x02" * 32
    book = ClaimBook(tmp_path / "claims")
    assert book.record(5, first) == first
    again = ClaimBook(tmp_path / "claims")  # another process of the same peer
    assert again.record(5, second) == first
    assert again.claimer_of(5) == first
    assert ClaimBook().record(5, second) == second  # in memory


def test_a_key_store_peer_records_claims_durably(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path / "site")
    identity = Identity.generate("bob", one_time_prekeys=3)
    store = KeyStore.create(tmp_path / "keys", identity, passphrase=b"pw", scrypt_n=FAST_SCRYPT)
    bob = Peer("bob", site, store)
    alice = make_peer("alice", site)
    alice.send(b"one", to=["bob"])
    assert [m.obj for m in bob.receive()] == [b"one"]
    assert (tmp_path / "keys" / "datasite-claims").read_text().count("\n") == 1
    bob.close()


def test_both_transports_store_claims_alike(transport: Transport) -> None:
    bob, alice = make_peer("bob", transport), make_peer("alice", transport)
    first, second = bob.identity.one_time_prekey_ids()[:2]
    assert transport.offers_one_time_prekey("bob", first)
    signed = {i: encode_claim(alice.identity, bob.identity.bundle(), i) for i in (first, second)}
    won = transport.claim_one_time_prekey("bob", claim=signed.__getitem__)
    assert won == first
    assert not transport.offers_one_time_prekey("bob", first)
    assert transport.offers_one_time_prekey("bob", second)
    assert transport.list_claims("bob") == [signed[first]]
    assert transport.list_claims("bob", first) == [signed[first]]
    assert transport.list_claims("bob", second) == []


def test_a_claim_seen_in_a_pass_is_recorded_before_its_blob_arrives(tmp_path: Path) -> None:
    """The thief deletes (or replaces) the honest claim file while the honest blob is
    still syncing (a large blob arrives long after its claim), then claims the prekey
    itself: the recipient recorded the honest claimer at its first pass that saw it."""
    site = DirectoryTransport(tmp_path / "site")
    bob, alice, mallory = (make_peer(n, site) for n in ("bob", "alice", "mallory"))
    alice.send(b"the real update", to=["bob"])
    (stolen,) = claimed_ids(site, "bob")
    inbox = tmp_path / "site" / "bob" / "inbox"
    (honest,) = inbox.iterdir()
    syncing = honest.rename(tmp_path / honest.name)  # the blob has not arrived yet ...
    assert bob.receive() == []  # ... but bob's pass sees alice's claim
    claimed = tmp_path / "site" / "bob" / "public" / "claimed"
    for entry in claimed.iterdir():  # mallory swaps the claim for her own
        entry.unlink()
    forged = encode_claim(mallory.identity, bob.identity.bundle(), stolen)
    (claimed / f"{stolen}-{'e' * 16}.json").write_bytes(forged)
    deliver_first(site, "bob", thief_blob(mallory, site.fetch_bundle("bob"), stolen), "mallory")
    syncing.rename(inbox / honest.name)  # the honest blob arrives
    assert [(m.sender, m.obj) for m in bob.receive()] == [("alice", b"the real update")]
    (record,) = bob.quarantined()
    assert record.reason == "prekey" and "claimed by another sender" in record.detail


def test_a_claim_written_before_its_prekey_exists_is_never_recorded(tmp_path: Path) -> None:
    """Prekey ids are a counter: the thief signs a claim of the next id before the
    recipient made it. It must not count once that id is made and offered."""
    site = DirectoryTransport(tmp_path / "site")
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=1))
    alice, mallory = make_peer("alice", site), make_peer("mallory", site)
    future = max(bob.identity.one_time_prekey_ids()) + 1
    forged = encode_claim(mallory.identity, bob.identity.bundle(), future)
    claimed = tmp_path / "site" / "bob" / "public" / "claimed"
    (claimed / f"{future}-{'d' * 16}.json").write_bytes(forged)
    assert bob.receive() == []  # a pass while the id does not exist yet
    bob.publish()  # the claim file of an id bob does not hold is cleaned up
    bob.identity.replenish_one_time_prekeys(1)
    bob.publish()  # now the id exists and is offered
    alice.send(b"first", to=["bob"])  # takes the older prekey
    alice.send(b"second", to=["bob"])  # takes the new one
    assert future in claimed_ids(site, "bob")
    deliver_first(site, "bob", thief_blob(mallory, site.fetch_bundle("bob"), future), "mallory")
    assert sorted(m.obj for m in bob.receive()) == [b"first", b"second"]
    assert [r.reason for r in bob.quarantined()] == ["prekey"]


class SwapAfterFirstOpen(DirectoryTransport):
    """The sync layer replaces an inbox file right after the recipient first opened it."""

    swap: tuple[str, Path] | None = None

    def open_message(self, owner: str, message_id: str) -> BinaryIO:
        stream = super().open_message(owner, message_id)
        if self.swap is not None and self.swap[0] == message_id:
            replacement, self.swap = self.swap[1], None
            replacement.replace(self.root / owner / "inbox" / f"{message_id}.sealed")
        return stream


def test_the_claim_is_checked_on_the_very_bytes_that_are_opened(tmp_path: Path) -> None:
    """Checking the header in one open and unsealing in another let a swap in between
    open the thief's blob under the honest claim (time of check, time of use)."""
    site = SwapAfterFirstOpen(tmp_path / "site")
    bob, alice, mallory = (make_peer(n, site) for n in ("bob", "alice", "mallory"))
    mallory.send(b"hello", to=["bob"])
    assert [m.sender for m in bob.receive()] == ["mallory"]  # a known, pinned peer
    alice.send(b"the real update", to=["bob"])
    (stolen,) = {
        c.prekey_id for c in map(decode_claim, site.list_claims("bob")) if c.claimer == "alice"
    }
    (honest,) = site.list_inbox("bob")
    thief = tmp_path / "thief.sealed"
    thief.write_bytes(thief_blob(mallory, site.fetch_bundle("bob"), stolen))
    site.swap = (honest, thief)
    assert [(m.sender, m.obj) for m in bob.receive()] == [("alice", b"the real update")]
