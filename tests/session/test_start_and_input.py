"""Session starts (simultaneous, from the wrong sender, malformed) and bad input."""

from __future__ import annotations

import pytest

import sealpack
from sealpack import errors
from sealpack.session import Session, UnknownSessionError, start, wire
from tests.session.conftest import established


def test_simultaneous_starts_converge_on_one_session(pair):
    alice, bob = pair
    sa, sb = Session(alice, bob.bundle()), Session(bob, alice.bundle())
    from_a, from_b = sa.seal("a", allow_classical=True), sb.seal("b", allow_classical=True)
    assert sb.open(from_a) == "a" and sa.open(from_b) == "b"
    for _ in range(2):  # each side answers on the session the other started; both work
        assert sb.open(sa.seal("ping")) == "ping"
        assert sa.open(sb.seal("pong")) == "pong"
    ids = {m[10:26] for m in (sa.seal("x"), sb.seal("y"))}
    assert len(ids) == 1  # after the exchange both send on the same session


def test_start_from_another_sender_is_refused(pair):
    alice, bob = pair
    carol = sealpack.Identity.generate("carol", one_time_prekeys=2, post_quantum=False)
    blob = Session(carol, bob.bundle()).seal("hi", allow_classical=True)
    with pytest.raises(errors.UnknownSenderError):
        Session(bob, alice.bundle()).open(blob, senders=[alice.bundle(), carol.bundle()])


def test_plain_sealed_blob_from_the_peer_opens_without_a_session(pair):
    alice, bob = pair
    blob = sealpack.seal({"k": 1}, sender=alice, recipients=[bob.bundle()], allow_classical=True)
    opened = Session(bob, alice.bundle()).open_message(blob)
    assert opened.obj == {"k": 1} and not opened.started and opened.info is not None


@pytest.mark.parametrize(
    "payload",
    [
        {
            start.START_KEY: {
                "session_id": b"short",
                "secret": bytes(32),
                "ratchet_key": bytes(32),
            },
            "message": 1,
        },
        {start.START_KEY: "not a map", "message": 1},
        {start.START_KEY: {"session_id": bytes(16), "secret": bytes(32), "ratchet_key": bytes(32)}},
    ],
)
def test_malformed_start_is_a_decode_error(pair, payload):
    alice, bob = pair
    blob = sealpack.seal(payload, sender=alice, recipients=[bob.bundle()], allow_classical=True)
    with pytest.raises(errors.DecodeError):
        Session(bob, alice.bundle()).open(blob)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"SEALSESS", errors.DecodeError),
        (b"SEALSESS\x03" + bytes(90), errors.UnsupportedVersionError),
        (b"SEALSESS\x02\x80" + bytes(90), errors.TamperedError),
        ("text", errors.SealArgumentError),
    ],
)
def test_bad_input_raises_typed_errors(pair, data, error):
    alice, bob = pair
    _, sb = established(alice, bob, alice.bundle(), bob.bundle())
    with pytest.raises(error):
        sb.open(data)


def test_small_order_ratchet_key_is_tampering(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    message = sa.seal("real")
    forged = message[:26] + bytes(32) + message[58:]  # the all-zero point
    with pytest.raises(errors.TamperedError):
        sb.open(forged)
    assert sb.open(message) == "real"


def test_unencrypted_store_and_two_handles_share_one_session(tmp_path, pair):
    alice, _ = pair
    bob = sealpack.Identity.generate("bob2", one_time_prekeys=2, post_quantum=False)
    with pytest.warns(UserWarning, match="UNENCRYPTED"):
        store = sealpack.KeyStore.create(tmp_path / "b", bob, passphrase=None, unencrypted=True)
        other = sealpack.KeyStore.open(tmp_path / "b", passphrase=None)
    sa, _ = established(alice, store, alice.bundle(), bob.bundle())
    first, second = Session(store, alice.bundle()), Session(other, alice.bundle())
    m1, m2 = first.seal(1), second.seal(2)
    assert m1[58:66] != m2[58:66]  # the second handle continued the chain, no reuse
    assert sa.open(m2) == 2 and sa.open(m1) == 1
    assert wire.parse_header(m1).number + 1 == wire.parse_header(m2).number
    store.close()
    other.close()


def test_start_secret_is_dropped_at_the_first_dh_step(pair):
    alice, bob = pair
    sa, sb = Session(alice, bob.bundle()), Session(bob, alice.bundle())
    sb.open(sa.seal("s", allow_classical=True))
    with sa._storage.transaction(bob.public_identity_key) as states:
        assert states[0].start_secret is not None  # still needed to resend the start
    with sb._storage.transaction(alice.public_identity_key) as states:
        assert states[0].start_secret is None  # the responder never keeps it
    sa.open(sb.seal("answer"))
    with sa._storage.transaction(bob.public_identity_key) as states:
        assert states[0].start_secret is None


def test_held_start_is_redelivered_until_acknowledged(pair):
    alice, bob = pair
    sa, sb = Session(alice, bob.bundle()), Session(bob, alice.bundle())
    blob = sa.seal({"task": 1}, allow_classical=True)
    first = sb.open_message(blob, hold=True)
    again = sb.open_message(blob, hold=True)
    assert first.started and again.info is not None and again.info.redelivered
    sealpack.acknowledge(bob, again.info)
    with pytest.raises(errors.ReplayError):
        sb.open(blob, hold=True)
    assert sa.open(sb.seal("done")) == "done"  # one session despite the redelivery


def test_forget_starts_a_new_session(pair):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    sb.forget()
    with pytest.raises(UnknownSessionError):
        sb.open(sa.seal("to a session bob forgot"))
    sa.forget()
    restart = sa.seal("again", allow_classical=True)
    assert not restart.startswith(wire.MAGIC)
    assert sb.open(restart) == "again" and sa.open(sb.seal("ok")) == "ok"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.seal(1, now="soon"), "now"),
        (lambda s: s.seal(1, rng=None), "rng"),
        (lambda s: s.open(b"x", now=-1), "now"),
    ],
)
def test_bad_arguments_are_seal_argument_errors(pair, call, message):
    alice, bob = pair
    with pytest.raises(errors.SealArgumentError, match=message):
        call(Session(alice, bob.bundle()))


def test_peer_must_be_a_bundle_or_identity_key(pair):
    alice, _ = pair
    for peer in (b"short", "text", None):
        with pytest.raises(errors.SealArgumentError):
            Session(alice, peer)
    with pytest.raises(errors.SealArgumentError):
        Session("owner", alice.bundle())
    with pytest.raises(errors.SealArgumentError, match="KeyBundle"):
        Session(alice, bytes(32)).seal("no bundle to start with")
