"""Issue 17, opener part: one commit after everything verified; held deliveries are
redelivered until acknowledged; a replay is a done row or another payload digest."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from sealpack import api, errors
from sealpack.envelope import delivery, randomness, sealer
from sealpack.keys import Identity, KeyStore
from sealpack.serialization import Codec, default_codec
from tests.envelope.conftest import NOW, identity

OBJ = {"update": [1.0, 2.0]}


def _seal(alice: Identity, bob: Identity, obj: object = OBJ) -> bytes:
    return api.seal(obj, sender=alice, recipients=[bob.bundle()], now=NOW)


def _open(blob: bytes, bob: Identity | KeyStore, alice: Identity, **kw: object) -> object:
    return api.unseal(
        blob, recipient=bob, senders=[alice.bundle()], now=NOW, with_metadata=True, **kw
    )


def test_hold_redeliver_acknowledge() -> None:
    alice, bob = identity("alice", 0), identity("bob", 2)
    blob = _seal(alice, bob)
    obj, info = _open(blob, bob, alice, hold=True)  # type: ignore[misc]
    assert obj == OBJ and not info.redelivered and info.receipt is not None
    assert bob.one_time_prekey_ids() == [2]  # out of every bundle, kept for redelivery
    obj, again = _open(blob, bob, alice, hold=True)  # type: ignore[misc]
    assert obj == OBJ and again.redelivered and again.receipt == info.receipt
    api.acknowledge(bob, info.receipt)
    with pytest.raises(errors.ReplayError):
        _open(blob, bob, alice, hold=True)
    api.acknowledge(bob, info)  # twice is harmless


def test_plain_unseal_is_done_at_once() -> None:
    alice, bob = identity("alice", 0), identity("bob", 1)
    blob = _seal(alice, bob)
    _, info = _open(blob, bob, alice)  # type: ignore[misc]
    assert info.receipt is None and not info.redelivered
    with pytest.raises(errors.ReplayError):
        _open(blob, bob, alice, hold=True)


def test_plain_unseal_of_a_held_message_finishes_it() -> None:
    alice, bob = identity("alice", 0), identity("bob", 1)
    blob = _seal(alice, bob)
    _open(blob, bob, alice, hold=True)
    _, info = _open(blob, bob, alice)  # type: ignore[misc]
    assert info.redelivered
    with pytest.raises(errors.ReplayError):
        _open(blob, bob, alice, hold=True)


def test_same_message_id_with_another_digest_is_a_replay() -> None:
    """A held row is redelivered only for the very payload that was held."""
    alice, bob = identity("alice", 0), identity("bob", 0)
    seals = []
    with randomness.reproducible_for_vectors():  # one rng seed: the same message id
        for obj in (OBJ, {"update": [9.0]}):
            blob = sealer.seal_buffers(
                default_codec().dumps_buffers(obj),
                sender=alice,
                recipients=[bob.bundle()],
                rng=_Counter(),
                now=NOW,
            )
            seals.append(bytes(blob))
    first, second = (api.inspect(b) for b in seals)
    assert first.message_id == second.message_id
    _open(seals[0], bob, alice, hold=True)
    with pytest.raises(errors.ReplayError):
        _open(seals[1], bob, alice, hold=True)


class _Counter:
    def __init__(self) -> None:
        self._n = 0

    def __call__(self, n: int) -> bytes:
        self._n += 1
        return bytes([self._n % 256]) * n


def test_acknowledge_arguments() -> None:
    alice, bob, carol = identity("alice", 0), identity("bob", 0), identity("carol", 0)
    blob = _seal(alice, bob)
    _, plain = _open(_seal(alice, bob), bob, alice)  # type: ignore[misc]
    with pytest.raises(errors.SealArgumentError):
        api.acknowledge(bob, plain)  # not opened with hold=True: no receipt
    _, info = _open(blob, bob, alice, hold=True)  # type: ignore[misc]
    with pytest.raises(errors.SealArgumentError):
        api.acknowledge(carol, info)
    with pytest.raises(errors.SealArgumentError):
        api.acknowledge(bob, "receipt")  # type: ignore[arg-type]
    forged = delivery.Receipt(bob.key_id, alice.key_id, info.message_id, bytes(32))
    with pytest.raises(errors.ReplayError):
        api.acknowledge(bob, forged)
    api.acknowledge(bob, info)


def test_key_store_keeps_the_held_state_across_restarts(tmp_path: Path) -> None:
    alice = identity("alice", 0)
    store = KeyStore.create(tmp_path / "bob", identity("bob", 1), passphrase=b"pw", scrypt_n=2**10)
    blob = _seal(alice, store.identity)
    assert api.inspect(blob).recipients[0].one_time_prekey_id == 1
    _open(blob, store, alice, hold=True)
    store.close()
    with KeyStore.open(tmp_path / "bob", passphrase=b"pw", now=NOW) as reopened:
        _, info = _open(blob, reopened, alice, hold=True)  # type: ignore[misc]
        assert info.redelivered
        api.acknowledge(reopened, info)
    with (
        KeyStore.open(tmp_path / "bob", passphrase=b"pw", now=NOW) as reopened,
        pytest.raises(errors.ReplayError),
    ):
        _open(blob, reopened, alice, hold=True)


@dataclasses.dataclass
class _Update:
    step: int


def test_a_decode_failure_records_nothing() -> None:
    """Decoding runs before the commit: a blob the receiver cannot decode yet (an
    unregistered type) burns neither its id nor its one-time prekey."""
    alice, bob = identity("alice", 0), identity("bob", 1)
    sending = Codec()
    sending.register_data_classes(_Update)
    blob = api.seal(_Update(3), sender=alice, recipients=[bob.bundle()], now=NOW, codec=sending)
    receiving = Codec()
    with pytest.raises(errors.UnknownTypeError):
        api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW, codec=receiving)
    assert bob.one_time_prekey_ids() == [1]
    receiving.register_data_classes(_Update)
    assert api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW, codec=receiving) == (
        _Update(3)
    )


def test_frame_to_a_path_holds_and_acknowledges(tmp_path: Path) -> None:
    alice, bob = identity("alice", 0), identity("bob", 1)
    blob_path = tmp_path / "in.sealed"
    blob_path.write_bytes(_seal(alice, bob))
    out = tmp_path / "frame.bin"
    info = api.unseal_frame_to(
        blob_path, out, recipient=bob, senders=[alice.bundle()], now=NOW, hold=True
    )
    assert info.receipt is not None and out.stat().st_size == info.size
    again = api.unseal_frame_to(
        blob_path, out, recipient=bob, senders=[alice.bundle()], now=NOW, hold=True
    )
    assert again.redelivered
    api.acknowledge(bob, again)
    with pytest.raises(errors.ReplayError):
        api.unseal_frame_to(blob_path, out, recipient=bob, senders=[alice.bundle()], now=NOW)


def test_held_pq_one_time_prekey_still_opens_the_redelivery() -> None:
    alice = identity("alice", 0)
    bob = Identity.generate("bob", one_time_prekeys=1, pq_one_time_prekeys=1, now=NOW - 60)
    blob = _seal(alice, bob)
    (stanza,) = api.inspect(blob).recipients
    assert stanza.pq_prekey_id != bob.pq_prekey_id  # a PQ one-time prekey, not last resort
    _open(blob, bob, alice, hold=True)
    assert not bob.bundle().pq_one_time_prekeys  # out of every bundle while held
    _, again = _open(blob, bob, alice, hold=True)  # type: ignore[misc]
    assert again.redelivered
    api.acknowledge(bob, again)
    with pytest.raises(errors.ReplayError):
        _open(blob, bob, alice)


def test_a_held_message_is_redelivered_after_it_expired() -> None:
    """A crash (or an app that keeps failing) until after the blob's expiry must not lose
    a held message, nor keep its one-time prekey's private key for good (issue 17)."""
    alice, bob = identity("alice", 0), identity("bob", 1)
    blob = api.seal(OBJ, sender=alice, recipients=[bob.bundle()], now=NOW, expires_in=60)
    _, info = _open(blob, bob, alice, hold=True)  # type: ignore[misc]
    assert len(bob._held) == 1  # the one-time prekey's private key, kept for a redelivery
    later = NOW + 60 + api.DEFAULT_CLOCK_SKEW + 3600  # the receiver comes back an hour late
    obj, again = api.unseal(  # type: ignore[misc]
        blob, recipient=bob, senders=[alice.bundle()], now=later, with_metadata=True, hold=True
    )
    assert obj == OBJ and again.redelivered and again.receipt == info.receipt
    obj, streamed = api.unseal_from(  # type: ignore[misc]
        io.BytesIO(blob),
        recipient=bob,
        senders=[alice.bundle()],
        now=later,
        with_metadata=True,
        hold=True,
    )
    assert obj == OBJ and streamed.redelivered  # the datasite's path too
    api.acknowledge(bob, again)
    assert bob._held == {}  # the private key is gone at last
    with pytest.raises(errors.ExpiredError):  # done now: past its window it is refused
        api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=later, hold=True)


def test_an_expired_blob_never_held_is_still_refused() -> None:
    alice, bob = identity("alice", 0), identity("bob", 1)
    blob = api.seal(OBJ, sender=alice, recipients=[bob.bundle()], now=NOW, expires_in=60)
    later = NOW + 60 + api.DEFAULT_CLOCK_SKEW + 1
    with pytest.raises(errors.ExpiredError):
        api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=later, hold=True)
    assert len(bob.one_time_prekey_ids()) == 1 and bob._held == {}  # nothing consumed
