"""The Double Ratchet conversation: order, loss, duplicates, limits, tampering, modes."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

import sealpack
from sealpack import errors
from sealpack.session import Session, SessionLimits, UnknownSessionError, wire
from tests.session.conftest import established


def test_start_then_ratchet_both_ways(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    assert sa.established and sb.established
    for i in range(3):
        message = sa.seal({"round": i})
        assert message.startswith(b"SEALSESS\x02")
        assert sb.open(message) == {"round": i}
        assert sa.open(sb.seal(i)) == i


def test_initiator_resends_the_same_start_until_answered(pair):
    alice, bob = pair
    sa, sb = Session(alice, bob.bundle()), Session(bob, alice.bundle())
    first = sa.seal(1, allow_classical=True)
    second = sa.seal(2, allow_classical=True)
    assert not first.startswith(wire.MAGIC) and not second.startswith(wire.MAGIC)
    assert not sa.established
    assert sb.open(second) == 2  # the later start arrives first: same session
    assert sb.open(first) == 1
    assert sa.open(sb.seal("answer")) == "answer"
    assert sa.seal(3).startswith(wire.MAGIC)


def test_out_of_order_and_missing_messages(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    sent = [sa.seal(i) for i in range(6)]
    assert sb.open(sent[4]) == 4  # 0..3 skipped, keys kept
    assert sb.open(sent[1]) == 1
    reply = sb.seal("r")  # new DH ratchet step on Alice's side when she reads it
    assert sa.open(reply) == "r"
    later = sa.seal("after")
    assert sb.open(later) == "after"  # previous chain's keys still kept
    assert sb.open(sent[0]) == 0
    assert sb.open(sent[5]) == 5
    # sent[2] and sent[3] never arrive: nothing else depends on them


def test_duplicate_is_a_replay(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    first, second = sa.seal("a"), sa.seal("b")
    assert sb.open(second) == "b"
    assert sb.open(first) == "a"
    for message in (first, second):
        with pytest.raises(errors.ReplayError):
            sb.open(message)


def test_too_many_skipped_is_refused_clearly(pair):
    alice, bob = pair
    sa = Session(alice, bob.bundle())
    sb = Session(bob, alice.bundle(), limits=SessionLimits(max_skip=3))
    sb.open(sa.seal("s", allow_classical=True))
    sa.open(sb.seal("w"))
    sent = [sa.seal(i) for i in range(5)]
    with pytest.raises(errors.LimitExceededError, match="max_skip=3"):
        sb.open(sent[4])
    assert sb.open(sent[3]) == 3  # nothing was changed by the refusal


def test_very_late_message_is_refused_not_dropped(pair):
    alice, bob = pair
    sa = Session(alice, bob.bundle())
    sb = Session(bob, alice.bundle(), limits=SessionLimits(max_stored=2))
    sb.open(sa.seal("s", allow_classical=True))
    sa.open(sb.seal("w"))
    sent = [sa.seal(i) for i in range(5)]
    assert sb.open(sent[4]) == 4  # keys of 0..3 kept, the two oldest (0, 1) deleted
    with pytest.raises(errors.ExpiredError, match="older than the session's skipped"):
        sb.open(sent[0])
    assert sb.open(sent[2]) == 2


def test_kept_keys_expire_after_max_age(pair):
    alice, bob = pair
    sa = Session(alice, bob.bundle())
    sb = Session(bob, alice.bundle(), limits=SessionLimits(max_age=60))
    sb.open(sa.seal("s", allow_classical=True, now=1_000), now=1_000)
    sa.open(sb.seal("w", now=1_000), now=1_000)
    late, on_time = sa.seal("late"), sa.seal("on time")
    assert sb.open(on_time, now=1_010) == "on time"
    with pytest.raises(errors.ExpiredError):
        sb.open(late, now=1_100)


@pytest.mark.parametrize("offset", [8, 9, 12, 40, 62, 66, -1])
def test_tampered_message_fails_and_changes_nothing(pair, offset):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    message = bytearray(sa.seal({"x": 1}))
    original = bytes(message)
    message[offset] ^= 0x01
    refused = (errors.TamperedError, errors.UnsupportedVersionError, errors.LimitExceededError)
    with pytest.raises((*refused, UnknownSessionError)):
        sb.open(bytes(message))
    assert sb.open(original) == {"x": 1}


def test_other_peers_session_is_unknown(pair):
    alice, bob = pair
    carol = sealpack.Identity.generate("carol", one_time_prekeys=2, post_quantum=False)
    sa, _ = established(alice, bob, alice.bundle(), bob.bundle())
    sc = Session(carol, alice.bundle())
    with pytest.raises(UnknownSessionError):
        sc.open(sa.seal("for bob"))


def test_signed_mode_gives_a_third_party_proof(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    plain = sb.open_message(sa.seal({"v": 1}))
    assert not plain.signed and plain.proof is None
    signed = sb.open_message(sa.seal({"v": 2}, signed=True))
    assert signed.signed and signed.proof is not None
    assert signed.proof.verify() and signed.proof.message() == {"v": 2}
    assert signed.proof.sender_identity_key == alice.public_identity_key
    forged = dataclasses.replace(signed.proof, body=signed.proof.body + b"\x00")
    assert not forged.verify()
    with pytest.raises(errors.TamperedError):
        forged.message()


def test_signed_flag_cannot_be_stripped(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    message = bytearray(sa.seal("s", signed=True))
    message[9] &= ~wire.SIGNED
    with pytest.raises(errors.TamperedError):
        sb.open(bytes(message))


def test_large_payload_uses_the_chunked_path(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    data = bytes(range(256)) * (5 * 4096 + 7)
    message = sa.seal(data)
    assert message[9] & wire.CHUNKED
    with pytest.raises(errors.TamperedError):
        sb.open(message[:-20])  # truncated: fails, changes nothing
    assert sb.open(message) == data


def test_forged_large_message_allocates_no_plaintext(pair, monkeypatch):
    """Anyone who can write to the synced folder can read a session id from a message
    there and make a header of their own, claiming a 1 GiB payload. The plaintext buffer
    used to be allocated before the first check; the key commitment now comes first."""
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    genuine = sa.seal(bytes(3 << 20))
    forged = genuine[: wire.HEADER_SIZE] + bytes(len(genuine) - wire.HEADER_SIZE)
    sizes: list[int] = []

    class Counting(bytearray):
        def __new__(cls, size: int = 0) -> bytearray:  # type: ignore[misc]
            sizes.append(size)
            return bytearray(size)

    monkeypatch.setattr(wire, "bytearray", Counting, raising=False)
    with pytest.raises(errors.TamperedError):
        sb.open(forged)
    assert sizes == []
    assert sb.open(genuine) == bytes(3 << 20)
    assert len(sizes) == 1 and sizes[0] > 3 << 20  # the real one, once, after its checks


def test_expect_is_checked_before_the_state_advances(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    message = sa.seal({"a": "text"})
    with pytest.raises(errors.SchemaError):
        sb.open(message, expect=dict[str, int])
    assert sb.open(message, expect=dict[str, str]) == {"a": "text"}


def test_state_never_shows_or_exports_keys(pair):
    alice, bob = pair
    sa, _ = established(alice, bob, alice.bundle(), bob.bundle())
    storage = sa._storage
    with storage.transaction(bob.public_identity_key) as states:
        state = states[0]
        text = repr(state) + repr(state.skipped) + repr(sa)
        assert state.root_key.hex() not in text and state.dhs.hex() not in text
        with pytest.raises(errors.PrivateKeyExportError):
            pickle.dumps(state)


def test_pqxdh_start(pair):
    alice = sealpack.Identity.generate("alice-pq", one_time_prekeys=1)
    bob = sealpack.Identity.generate("bob-pq", one_time_prekeys=1)
    sa, sb = Session(alice, bob.bundle()), Session(bob, alice.bundle())
    opened = sb.open_message(sa.seal("pq"))
    assert opened.started and opened.obj == "pq"
    assert sa.open(sb.seal("ok")) == "ok"


def test_hold_keeps_a_message_until_acknowledged(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    first, second = sa.seal("one"), sa.seal("two")
    opened = sb.open_message(second, hold=True)  # out of order, held
    assert not opened.redelivered and opened.receipt is not None
    assert sb.open_message(second, hold=True).redelivered
    assert sb.open(first) == "one"
    sb.acknowledge(opened.receipt)
    for message in (first, second):
        with pytest.raises(errors.ReplayError):
            sb.open(message)
    with pytest.raises(errors.SealArgumentError):
        sb.acknowledge(sb.open_message(sa.seal("not held")))


def test_too_many_held_messages_are_refused(pair):
    alice, bob = pair
    sa = Session(alice, bob.bundle())
    sb = Session(bob, alice.bundle(), limits=SessionLimits(max_held=2))
    sb.open(sa.seal("s", allow_classical=True))
    sa.open(sb.seal("w"))
    held = [sb.open_message(sa.seal(i), hold=True) for i in range(2)]
    third = sa.seal(2)
    with pytest.raises(errors.LimitExceededError, match="max_held=2"):
        sb.open_message(third, hold=True)
    sb.acknowledge(held[0])
    assert sb.open_message(third, hold=True).obj == 2


def test_large_arrays_round_trip_signed_and_unsigned(pair):
    np = pytest.importorskip("numpy")
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    weights = {"w": np.arange(3 * 2**18, dtype=np.float32), "b": np.ones(7)}
    for signed in (False, True):
        opened = sb.open_message(sa.seal(weights, signed=signed))
        assert opened.signed is signed
        assert np.array_equal(opened.obj["w"], weights["w"])
        assert opened.obj["w"].flags.writeable  # a view into the one decrypted buffer
        if signed:
            assert opened.proof is not None and opened.proof.verify()
