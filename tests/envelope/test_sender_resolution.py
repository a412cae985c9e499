"""Sender resolution: before the payload is hashed (10.7), naming a key id and never
computing a fingerprint of an unauthenticated key (19.4), refusing one key under two
names (10.1)."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import blake3
import pytest

from sealpack import api, errors
from sealpack.envelope import info as info_module
from sealpack.envelope import opener, senders
from sealpack.keys import Identity, TrustStore, key_id
from sealpack.keys.trust import MemoryPinBackend
from tests.envelope.conftest import NOW, identity

BIG = {"w": bytes(3 << 20)}  # a few chunks, so hashing would show


def _count_hashing(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every BLAKE3 hasher made (the payload digest, whichever path computes it)."""
    calls: list[int] = []
    real = blake3.blake3

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(blake3, "blake3", counting)
    return calls


def test_unknown_sender_costs_the_header_not_the_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob, mallory = identity("alice", 0), identity("bob", 0), identity("mallory", 0)
    blob = api.seal(BIG, sender=mallory, recipients=[bob.bundle()], now=NOW)
    calls = _count_hashing(monkeypatch)
    with pytest.raises(errors.UnknownSenderError):
        api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW)
    with pytest.raises(errors.UnknownSenderError):
        api.unseal_from(io.BytesIO(blob), recipient=bob, senders=[alice.bundle()], now=NOW)
    assert calls == []  # the payload was never hashed
    blob = api.seal(BIG, sender=alice, recipients=[bob.bundle()], now=NOW)
    assert api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW) == BIG
    assert calls  # control: a known sender's payload is hashed


def test_refusal_names_the_key_id_and_computes_no_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bob, mallory = identity("bob", 0), identity("mallory", 0)
    blob = api.seal({"x": 1}, sender=mallory, recipients=[bob.bundle()], now=NOW)

    def no_fingerprint(_key: bytes) -> str:
        raise AssertionError("a fingerprint of an unauthenticated key was computed")

    monkeypatch.setattr(senders, "fingerprint", no_fingerprint)
    for trusted in ([identity("alice", 0).bundle()], TrustStore()):
        with pytest.raises(errors.UnknownSenderError) as caught:
            api.unseal(blob, recipient=bob, senders=trusted, now=NOW)
        assert key_id(mallory.public_identity_key).hex() in str(caught.value)


def _two_names_for(key: bytes) -> TrustStore:
    """A store (as an older version could leave it) pinning one key under two names."""
    backend = MemoryPinBackend()
    backend.set_pin("alice", key)
    backend.set_pin("mallory", key)
    return TrustStore(backend)


def test_one_key_under_two_pinned_names_is_refused() -> None:
    """Credit theft: Alice's blobs must never be attributed to Mallory's name, and the
    resolver must not pick one of the names either."""
    alice, bob = identity("alice", 0), identity("bob", 0)
    blob = api.seal({"x": 1}, sender=alice, recipients=[bob.bundle()], now=NOW)
    store = _two_names_for(alice.public_identity_key)
    with pytest.raises(errors.AmbiguousSenderError):
        api.unseal(blob, recipient=bob, senders=store, now=NOW)
    resolve = senders.sender_resolver([alice.bundle()], trust=store)
    with pytest.raises(errors.AmbiguousSenderError):
        resolve(alice.public_identity_key)
    assert (
        bob.replay_guard.lookup(alice.key_id, bytes.fromhex(api.inspect(blob).message_id)) is None
    )


def test_a_bundle_whose_key_is_pinned_to_another_name_is_refused() -> None:
    alice, bob = identity("alice", 0), identity("bob", 0)
    backend = MemoryPinBackend()
    backend.set_pin("mallory", alice.public_identity_key)
    resolve = senders.sender_resolver([alice.bundle()], trust=TrustStore(backend))
    with pytest.raises(errors.UntrustedSenderError):  # AmbiguousSenderError is one
        resolve(alice.public_identity_key)
    good = senders.sender_resolver([alice.bundle()], trust=TrustStore())
    assert good(alice.public_identity_key).name == "alice"
    assert bob  # the recipient plays no part in resolution


def test_the_same_bundle_twice_is_not_ambiguous() -> None:
    alice = identity("alice", 0)
    resolve = opener.SenderResolver  # the type exists for callers' annotations
    assert resolve is not None
    found = senders.sender_resolver([alice.bundle(), alice.bundle()])(alice.public_identity_key)
    assert found.name == "alice"


def test_inspect_computes_no_fingerprint_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The datasite and the NVFLARE filters inspect unauthenticated blobs: the claimed
    sender's safety number is computed only when a caller reads it (issue 19.4)."""
    bob, mallory = identity("bob", 0), identity("mallory", 0)
    blob = api.seal({"x": 1}, sender=mallory, recipients=[bob.bundle()], now=NOW)
    calls: list[bytes] = []
    monkeypatch.setattr(info_module, "fingerprint", lambda key: calls.append(key) or "f")
    facts = api.inspect(blob)
    assert facts.sender_key_id == key_id(mallory.public_identity_key).hex() and calls == []
    assert facts.sender_fingerprint == "f" and calls == [mallory.public_identity_key]


class _Pipe(io.RawIOBase):
    """An unseekable stream that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        self._data, self.taken = io.BytesIO(data), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._data.readinto(buffer)
        self.taken += count
        return count


def test_an_unknown_sender_on_a_pipe_is_refused_before_spooling() -> None:
    alice, bob, mallory = identity("alice", 0), identity("bob", 0), identity("mallory", 0)
    blob = api.seal(BIG, sender=mallory, recipients=[bob.bundle()], now=NOW)
    header_size = len(blob) - api.inspect(blob).payload_size
    pipe = _Pipe(blob)
    with pytest.raises(errors.UnknownSenderError):
        api.unseal_from(
            io.BufferedReader(pipe, 4096), recipient=bob, senders=[alice.bundle()], now=NOW
        )
    assert pipe.taken < header_size + 8192  # the header and a read-ahead, not 3 MiB
    honest = api.seal(BIG, sender=alice, recipients=[bob.bundle()], now=NOW)
    reader = io.BufferedReader(_Pipe(honest), 4096)
    assert api.unseal_from(reader, recipient=bob, senders=[alice.bundle()], now=NOW) == BIG


def test_two_given_bundles_of_one_key_under_two_names_are_refused() -> None:
    """One key holder signed bundles under two names: the given senders are ambiguous."""

    def same_seed() -> Callable[[int], bytes]:
        return random.Random(11).randbytes

    alice = Identity.generate("alice", one_time_prekeys=0, rng=same_seed(), now=NOW - 60)
    alias = Identity.generate("mallory", one_time_prekeys=0, rng=same_seed(), now=NOW - 60)
    assert alice.public_identity_key == alias.public_identity_key
    bob = identity("bob", 0)
    blob = api.seal({"x": 1}, sender=alice, recipients=[bob.bundle()], now=NOW)
    with pytest.raises(errors.AmbiguousSenderError):
        api.unseal(blob, recipient=bob, senders=[alice.bundle(), alias.bundle()], now=NOW)
    assert api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW) == {"x": 1}
