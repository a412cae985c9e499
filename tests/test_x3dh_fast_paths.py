"""Issue 18's small-message fast paths in the key agreement keep their behaviour.

DH1 (two static keys) is remembered inside the private-key handle that computed it,
long-lived public keys are parsed once, sender verification keys are built once; the
derived bytes stay those of the vectors, bad keys are refused every time and never
remembered, and nothing secret leaves a handle.
"""

from __future__ import annotations

import pickle
import threading

import pytest

import sealpack
from sealpack import errors, primitives, primitives_curve, x3dh
from sealpack.keys import Identity
from sealpack.keys import secret as secret_module
from sealpack.keys.secret import PrivateKeyExportError, X25519Secret

NOW = 1_700_000_000
RAW = bytes(range(1, 33))
SMALL_ORDER = [bytes(32), (1).to_bytes(32, "little")]


def _public(seed: int) -> bytes:
    return primitives.x25519_public_from_private(bytes([seed]) * 32)


def test_static_exchange_equals_the_plain_exchange_and_is_computed_once() -> None:
    handle = X25519Secret(RAW)
    peer = _public(7)
    first = handle.exchange_static(peer)
    assert first == handle.exchange(peer) == primitives.x25519(RAW, peer)
    assert handle.exchange_static(peer) is first  # the remembered value, not a recomputation
    assert handle.exchange_static(bytearray(peer)) == first  # type: ignore[arg-type]
    assert list(handle._memo) == [peer]


@pytest.mark.parametrize("bad", SMALL_ORDER, ids=["zero", "one"])
def test_small_order_peer_is_refused_every_time_and_never_remembered(bad: bytes) -> None:
    handle = X25519Secret(RAW)
    for _ in range(3):
        with pytest.raises(errors.TamperedError):
            handle.exchange_static(bad)
    for wrong in (bad[:31], b"", "x" * 32):
        with pytest.raises(errors.InvalidKeyError):
            handle.exchange_static(wrong)  # type: ignore[arg-type]
    assert handle._memo == {}


def test_memo_is_bounded_and_drops_the_oldest_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secret_module, "STATIC_MEMO_SIZE", 3)
    handle = X25519Secret(RAW)
    peers = [_public(seed) for seed in range(10, 15)]
    for peer in peers:
        assert handle.exchange_static(peer) == primitives.x25519(RAW, peer)
    assert list(handle._memo) == peers[-3:]


def test_memo_survives_concurrent_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secret_module, "STATIC_MEMO_SIZE", 4)
    handle = X25519Secret(RAW)
    peers = [_public(seed) for seed in range(20, 32)]
    expected = {peer: primitives.x25519(RAW, peer) for peer in peers}
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for peer in peers * 3:
                assert handle.exchange_static(peer) == expected[peer]
        except BaseException as error:  # handed to the test thread
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len(handle._memo) <= 4


def test_handle_with_a_memo_stays_opaque() -> None:
    handle = X25519Secret(RAW)
    shared = handle.exchange_static(_public(9))
    assert shared.hex() not in repr(handle) and RAW.hex() not in repr(handle)
    assert not hasattr(handle, "__dict__")
    with pytest.raises(PrivateKeyExportError):
        pickle.dumps(handle)


def test_exchange_takes_a_parsed_key_and_still_refuses_small_order() -> None:
    handle = X25519Secret(RAW)
    peer = _public(5)
    assert handle.exchange(primitives.x25519_public_key(peer)) == handle.exchange(peer)
    with pytest.raises(errors.TamperedError):
        handle.exchange(primitives.x25519_public_key(bytes(32)))
    with pytest.raises(errors.InvalidKeyError):
        handle.exchange(None)  # type: ignore[arg-type]


def test_static_public_keys_are_parsed_once_and_bad_ones_never_cached() -> None:
    peer = _public(3)
    assert primitives.x25519_static_public(peer) is primitives.x25519_static_public(peer)
    assert primitives.x25519_static_public(bytearray(peer)).public_bytes_raw() == peer  # type: ignore[arg-type]
    before = primitives_curve._x25519_static.cache_info().currsize
    for bad in (peer[:31], peer + b"\x00", "x" * 32):
        for _ in range(2):
            with pytest.raises(errors.InvalidKeyError):
                primitives.x25519_static_public(bad)  # type: ignore[arg-type]
    assert primitives_curve._x25519_static.cache_info().currsize == before


def test_cached_verification_key_still_refuses_bad_signatures() -> None:
    seed = Identity.generate("signer", one_time_prekeys=0)._state.seed
    message = b"sealpack/test\x00issue 18"
    signature = seed.sign(message)
    for _ in range(2):  # the second time from the cached key object
        assert primitives.ed25519_verify(seed.public, signature, message)
        assert not primitives.ed25519_verify(seed.public, signature, message + b"!")
        assert not primitives.ed25519_verify(seed.public, bytes(64), message)
        assert not primitives.ed25519_verify(b"\xff" * 32, signature, message)


def _pair(one_time_prekeys: int = 0, now: int | None = NOW) -> tuple[Identity, Identity]:
    alice = Identity.generate("alice", one_time_prekeys=0, now=now)
    bob = Identity.generate("bob", one_time_prekeys=one_time_prekeys, now=now)
    return alice, bob


def test_repeated_agreements_give_fresh_keys_that_both_sides_derive() -> None:
    alice, bob = _pair()
    bundle = bob.bundle()
    assert bundle.pq_prekey is not None
    keys = set()
    for _ in range(3):  # DH1 remembered on both sides from the second message on
        sent = x3dh.initiate(
            alice, bundle, one_time_prekey_id=None, pq_prekey_id=bundle.pq_prekey.id, now=NOW
        )
        got = x3dh.respond(bob, sent.header, now=NOW, consume=False)
        assert got.shared_key == sent.shared_key
        keys.add(sent.shared_key)
    assert len(keys) == 3  # a fresh ephemeral key every time


def test_dh1_is_remembered_per_handle_not_per_identity() -> None:
    alice, bob = _pair()
    bundle = bob.bundle()
    assert bundle.pq_prekey is not None
    x3dh.initiate(alice, bundle, one_time_prekey_id=None, pq_prekey_id=bundle.pq_prekey.id, now=NOW)
    assert list(alice._identity_secret()._memo) == [bundle.signed_prekey.public]
    other = Identity.generate("carol", one_time_prekeys=0, now=NOW)
    assert other._identity_secret()._memo == {}


def test_bundle_cache_survives_an_open_that_consumed_nothing() -> None:
    alice, bob = _pair(one_time_prekeys=2, now=None)  # sealing uses the clock
    bundle = bob.bundle()
    blob = sealpack.seal(b"x", sender=alice, recipients=[bundle], one_time_prekey=False)
    sealpack.unseal(blob, recipient=bob, senders=[alice.bundle()])
    assert bob.bundle() is bundle  # nothing consumed: no new bundle to build and sign
    blob = sealpack.seal(b"y", sender=alice, recipients=[bundle], one_time_prekey=True)
    sealpack.unseal(blob, recipient=bob, senders=[alice.bundle()])
    fresh = bob.bundle()
    assert fresh is not bundle
    assert len(fresh.one_time_prekeys) == len(bundle.one_time_prekeys) - 1
