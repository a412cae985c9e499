"""The DH ratchet step in two halves: opening pays one exchange, the next seal the rest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

import sealpack
from sealpack import errors
from sealpack.keys.fingerprint import key_id
from sealpack.keys.fsutil import atomic_write
from sealpack.session import Session, StoreStorage, ratchet, storage
from tests.session.conftest import PASS, established


class _Counter:
    """Counts X25519 key generations (key objects built from private bytes) and exchanges."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.keys = self.exchanges = 0
        real_class, real_exchange = ratchet.X25519PrivateKey, ratchet._exchange
        counter = self

        class Keys:
            @staticmethod
            def from_private_bytes(data: bytes) -> Any:
                counter.keys += 1
                return real_class.from_private_bytes(data)

        def exchange(private: Any, peer: Any) -> bytes:
            counter.exchanges += 1
            return real_exchange(private, peer)

        monkeypatch.setattr(ratchet, "X25519PrivateKey", Keys)
        monkeypatch.setattr(ratchet, "_exchange", exchange)

    def take(self) -> tuple[int, int]:
        done, self.keys, self.exchanges = (self.keys, self.exchanges), 0, 0
        return done


def _states(session: Session, peer: bytes) -> list[ratchet.RatchetState]:
    with session._storage.transaction(peer) as states:
        return list(states)


def test_open_pays_one_exchange_and_the_next_seal_the_rest(pair, monkeypatch):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    counter = _Counter(monkeypatch)
    for _ in range(3):  # ping-pong: every message changes the turn
        message = sa.seal("ping")
        assert counter.take() == (1, 1)  # Alice's pending sending half: key + exchange
        assert sb.open(message) == "ping"
        assert counter.take() == (0, 1)  # Bob's receiving half only
        (state,) = _states(sb, alice.public_identity_key)
        assert state.sending_pending and state.dhs_public is None and state.cks is None
        reply = sb.seal("pong")
        assert counter.take() == (1, 1)
        assert sa.open(reply) == "pong"
        assert counter.take() == (0, 1)
    assert sb.open(sa.seal("turn")) == "turn"  # Alice takes the turn: one more step
    assert counter.take() == (1, 2)
    for _ in range(3):  # then keeps it: no X25519 at all
        assert sb.open(sa.seal("more")) == "more"
    assert counter.take() == (0, 0)


def test_the_step_deletes_the_old_key_at_once_and_makes_the_new_one_at_send(pair):
    """Forward secrecy of the receiving half is not delayed by the lazy sending half."""
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    (before,) = _states(sb, alice.public_identity_key)
    sb.open(sa.seal("turn"))
    (pending,) = _states(sb, alice.public_identity_key)
    assert pending.dhs != before.dhs and pending.pn == before.ns and pending.ns == 0
    message = sb.seal("answer")
    (done,) = _states(sb, alice.public_identity_key)
    assert done.dhs == pending.dhs and done.dhs_public == ratchet.key_pair(done.dhs)[1]
    assert message[26:58] == done.dhs_public and done.root_key != pending.root_key


def test_a_forged_new_ratchet_key_changes_nothing_while_the_half_is_pending(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    sb.open(sa.seal("turn"))  # Bob's sending half pending
    (before,) = _states(sb, alice.public_identity_key)
    real = sa.seal("same turn")
    forged = real[:26] + ratchet.key_pair(bytes(range(32)))[1] + real[58:]
    with pytest.raises(errors.TamperedError):
        sb.open(forged)
    (after,) = _states(sb, alice.public_identity_key)
    assert after is before and after.sending_pending
    assert sb.open(real) == "same turn" and sa.open(sb.seal("answer")) == "answer"


@pytest.fixture
def durable(stores) -> Iterator[tuple[Any, Any]]:
    a, b = stores
    established(a, b, a.identity.bundle(), b.identity.bundle())
    yield a, b


def _plaintext(store: sealpack.KeyStore, peer_ik: bytes) -> dict[str, Any]:
    where = StoreStorage(store)
    data = where.path_for(peer_ik).read_bytes()[len(storage.MAGIC) :]
    plain = where._key.decrypt(data, storage.MAGIC + key_id(peer_ik))
    document: dict[str, Any] = msgpack.unpackb(plain, raw=False, strict_map_key=False)
    return document


def _write_plaintext(store: sealpack.KeyStore, peer_ik: bytes, document: dict[str, Any]) -> None:
    where, aad = StoreStorage(store), storage.MAGIC + key_id(peer_ik)
    sealed = where._key.encrypt(msgpack.packb(document), aad)
    atomic_write(where.path_for(peer_ik), storage.MAGIC + sealed)


def test_a_pending_half_survives_a_restart(durable):
    a, b = durable  # Alice read Bob's answer last: her sending half is pending, on disk
    document = _plaintext(a, b.identity.public_identity_key)
    (state,) = document["sessions"]
    assert document["v"] == 3 and state["cks"] is None and state["dhs_public"] is None
    with sealpack.KeyStore.open(a.path, passphrase=PASS) as again:
        message = Session(again, b.identity.bundle()).seal("after restart")
    bob = Session(b, a.identity.bundle())
    assert bob.open(message) == "after restart"
    assert Session(a, b.identity.bundle()).open(bob.seal("answer")) == "answer"


def test_a_version_2_state_file_is_read_and_written_back_as_version_3(durable):
    a, b = durable
    peer = a.identity.public_identity_key
    document = _plaintext(b, peer)  # Bob answered last: no half pending, as in version 2
    assert document["sessions"][0]["cks"] is not None
    _write_plaintext(b, peer, dict(document, v=2))
    bob, alice = Session(b, a.identity.bundle()), Session(a, b.identity.bundle())
    assert alice.open(bob.seal("from a version 2 file")) == "from a version 2 file"
    assert _plaintext(b, peer)["v"] == 3


@pytest.mark.parametrize("change", [{"dhs_public": None}, {"dhs_public": None, "dhr": None}])
def test_a_state_without_public_key_must_be_a_pending_half(durable, change):
    a, b = durable
    peer = a.identity.public_identity_key
    document = _plaintext(b, peer)
    document["sessions"][0].update(change)
    _write_plaintext(b, peer, document)
    with pytest.raises(errors.KeyStoreError, match="malformed"):
        Session(b, a.identity.bundle()).seal("x")
