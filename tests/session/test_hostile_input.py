"""Hostile bytes at a session: only sealpack errors, never a raw exception, state intact."""

from __future__ import annotations

import contextlib
import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sealpack
from sealpack import errors
from sealpack.session import wire
from tests.session.conftest import established

ALICE = sealpack.Identity.generate("alice", one_time_prekeys=2, post_quantum=False)
BOB = sealpack.Identity.generate("bob", one_time_prekeys=2, post_quantum=False)
SA, SB = established(ALICE, BOB, ALICE.bundle(), BOB.bundle())
SAMPLES = [SA.seal({"n": i}, signed=bool(i % 2)) for i in range(4)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(SAMPLES) - 1),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 400),
    tail=st.binary(max_size=8),
)
def test_mutated_messages_raise_only_sealpack_errors(index, edits, cut, tail):
    message = bytearray(SAMPLES[index])
    for position, value in edits:
        if position < len(message):
            message[position] = value
    mutated = bytes(message[: max(cut, 1)] if cut < len(message) else message) + tail
    if mutated == SAMPLES[index]:
        return
    with contextlib.suppress(errors.SealpackError):
        SB.open(mutated)


def test_refused_messages_change_nothing():
    alice = sealpack.Identity.generate("alice-r", one_time_prekeys=1, post_quantum=False)
    bob = sealpack.Identity.generate("bob-r", one_time_prekeys=1, post_quantum=False)
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    samples = [sa.seal({"n": i}, signed=bool(i % 2)) for i in range(4)]
    rand = random.Random(7)
    for _ in range(300):
        message = bytearray(rand.choice(samples))
        message[rand.randrange(len(message))] ^= 1 << rand.randrange(8)
        with contextlib.suppress(errors.SealpackError):
            sb.open(bytes(message))
            raise AssertionError("a mutated message opened")
    assert [sb.open(m) for m in samples] == [{"n": i} for i in range(4)]


def test_cut_payloads_and_altered_nonces_are_tampered():
    """The inline payload is nonce (12) || ciphertext || tag (16): anything shorter, or
    any nonce byte changed, is TamperedError and leaves the session as it was."""
    alice = sealpack.Identity.generate("alice-n", one_time_prekeys=1, post_quantum=False)
    bob = sealpack.Identity.generate("bob-n", one_time_prekeys=1, post_quantum=False)
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    message = sa.seal("the nonce travels with the message")
    for length in range(wire.HEADER_SIZE, wire.HEADER_SIZE + wire.NONCE_SIZE + 16):
        with pytest.raises(errors.TamperedError):
            sb.open(message[:length])
    for position in range(wire.HEADER_SIZE, wire.HEADER_SIZE + wire.NONCE_SIZE):
        altered = bytearray(message)
        altered[position] ^= 0x80
        with pytest.raises(errors.TamperedError):
            sb.open(bytes(altered))
    assert sb.open(message) == "the nonce travels with the message"


def test_threads_sharing_one_session_never_fork_it():
    alice = sealpack.Identity.generate("alice-t", one_time_prekeys=1, post_quantum=False)
    bob = sealpack.Identity.generate("bob-t", one_time_prekeys=1, post_quantum=False)
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    out: list[bytes] = []

    def send(name: str) -> None:
        for i in range(40):
            out.append(sa.seal(f"{name}{i}"))

    threads = [threading.Thread(target=send, args=(n,)) for n in "xyz"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({m[:66] for m in out}) == 120
    assert {sb.open(m) for m in out} == {f"{n}{i}" for n in "xyz" for i in range(40)}
