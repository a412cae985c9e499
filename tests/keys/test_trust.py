"""Fingerprints, trust on first use (one key, one name, atomic across key store handles),
and the in-memory replay guard."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sealpack import errors, primitives
from sealpack.keys import (
    Identity,
    KeyBundle,
    KeyStore,
    MemoryReplayGuard,
    ReplayGuard,
    TrustStore,
    fingerprint,
    fingerprint_matches,
)
from sealpack.keys.fingerprint import FINGERPRINT_ITERATIONS
from sealpack.keys.state_db import StateDB
from sealpack.keys.trust import MemoryPinBackend
from sealpack.primitives import sha512

NOW = 1_700_000_000


def test_fingerprint_format_and_stability() -> None:
    identity = Identity.generate("alice", one_time_prekeys=0)
    value = identity.fingerprint()
    assert re.fullmatch(r"\d{5}( \d{5}){11}", value)
    assert value == identity.bundle().fingerprint() == fingerprint(identity.public_identity_key)
    other = Identity.generate("alice", one_time_prekeys=0)
    assert other.fingerprint() != value


def test_fingerprint_construction_matches_documentation() -> None:
    key = bytes(range(32))
    state = sha512(b"sealpack/fingerprint/v1\x00" + key)
    for _ in range(FINGERPRINT_ITERATIONS):
        state = sha512(state + key)
    groups = [int.from_bytes(state[i * 5 : i * 5 + 5], "big") % 100000 for i in range(12)]
    assert fingerprint(key) == " ".join(f"{g:05d}" for g in groups)


def test_trust_on_first_use_then_alert() -> None:
    store = TrustStore()
    alice = Identity.generate("alice", one_time_prekeys=0)
    impostor = Identity.generate("alice", one_time_prekeys=0)
    assert store.check(alice.bundle()) == alice.bundle()
    assert store.pinned_key("alice") == alice.public_identity_key
    store.check(alice.bundle())  # same identity, new prekeys would be fine too
    with pytest.raises(errors.IdentityChangedError) as info:
        store.check(impostor.bundle())
    message = str(info.value)
    assert alice.fingerprint() in message and impostor.fingerprint() in message
    assert not store.is_trusted(impostor.bundle())
    store.accept(impostor.bundle())
    assert store.check(impostor.bundle()) == impostor.bundle()
    with pytest.raises(errors.IdentityChangedError):
        store.check(alice.bundle())
    assert store.names() == ["alice"]


def test_rotated_prekeys_keep_trust() -> None:
    store = TrustStore()
    bob = Identity.generate("bob", one_time_prekeys=1, now=NOW)
    store.check(bob.bundle())
    bob.rotate_signed_prekey(now=NOW + 5)
    bob.replenish_one_time_prekeys(2)
    assert store.check(bob.bundle()).signed_prekey.id == 2


def test_memory_replay_guard() -> None:
    guard = MemoryReplayGuard()
    assert isinstance(guard, ReplayGuard)
    guard.accept(b"s" * 16, b"m1", NOW + 100, now=NOW)
    guard.accept(b"t" * 16, b"m1", NOW + 100, now=NOW)  # other sender, same id
    with pytest.raises(errors.ReplayError):
        guard.accept(b"s" * 16, b"m1", NOW + 100, now=NOW + 50)
    # long after expiry the entry is purged (the envelope's expiry check covers it then)
    guard.accept(b"s" * 16, b"m1", NOW + 100, now=NOW + 100 + 2 * 86400)


def test_memory_replay_guard_seen_records_nothing() -> None:
    guard = MemoryReplayGuard()
    assert not guard.seen(b"s" * 16, b"m1")
    assert not guard.seen(b"s" * 16, b"m1")  # asking twice does not record
    guard.accept(b"s" * 16, b"m1", NOW + 100, now=NOW)
    assert guard.seen(b"s" * 16, b"m1")
    assert guard.seen(bytearray(b"s" * 16), memoryview(b"m1"))
    assert not guard.seen(b"t" * 16, b"m1")
    assert not guard.seen(b"s" * 16, b"m2")


def _fixed_rng() -> primitives.Rng:
    return lambda n: b"\x07" * n


def test_one_identity_key_has_exactly_one_name() -> None:
    """Issue 10.1: the same identity key under a second name is refused by check/accept."""
    alice = Identity.generate("alice", one_time_prekeys=0, rng=_fixed_rng(), now=NOW)
    # The same key, validly self-signed under another name (a key owner, or a peer
    # holding it, publishing a second name for one identity).
    alias = Identity.generate("mallory", one_time_prekeys=0, rng=_fixed_rng(), now=NOW)
    assert alias.public_identity_key == alice.public_identity_key
    store = TrustStore()
    store.check(alice.bundle())
    for attempt in (store.check, store.accept):
        with pytest.raises(errors.IdentityChangedError) as info:
            attempt(alias.bundle())
        message = str(info.value)
        assert "'alice'" in message and "'mallory'" in message
        assert alice.public_identity_key.hex() not in message
    assert store.names() == ["alice"]
    assert store.name_for_key(alice.public_identity_key) == "alice"
    assert (
        store.name_for_key(Identity.generate("x", one_time_prekeys=0).public_identity_key) is None
    )


def test_accept_moves_a_name_to_a_new_key() -> None:
    store = TrustStore()
    old = Identity.generate("alice", one_time_prekeys=0)
    new = Identity.generate("alice", one_time_prekeys=0)
    store.check(old.bundle())
    store.accept(new.bundle())
    assert store.name_for_key(new.public_identity_key) == "alice"
    assert store.name_for_key(old.public_identity_key) is None


class _ScanOnlyBackend:
    """A PinBackend without names_for_key: TrustStore scans the pins instead."""

    def __init__(self) -> None:
        self.pins: dict[str, bytes] = {}

    def get_pin(self, name: str) -> bytes | None:
        return self.pins.get(name)

    def set_pin(self, name: str, identity_key: bytes) -> None:
        self.pins[name] = identity_key

    def pinned_names(self) -> list[str]:
        return sorted(self.pins)


@pytest.mark.parametrize("backend_type", [MemoryPinBackend, _ScanOnlyBackend])
def test_ambiguous_key_from_an_older_store_is_refused(backend_type: type) -> None:
    key = Identity.generate("alice", one_time_prekeys=0).public_identity_key
    backend = backend_type()
    backend.set_pin("alice", key)
    backend.set_pin("mallory", key)  # written before one-key-one-name was enforced
    store = TrustStore(backend)
    with pytest.raises(errors.AmbiguousSenderError) as info:
        store.name_for_key(key)
    assert "'alice'" in str(info.value) and "'mallory'" in str(info.value)
    with pytest.raises(errors.SealArgumentError):
        store.name_for_key("alice")  # type: ignore[arg-type]


def _two_handles(tmp_path: Path) -> tuple[KeyStore, KeyStore]:
    path = tmp_path / "bob"
    KeyStore.create(
        path, Identity.generate("bob", one_time_prekeys=0), passphrase=b"pw", scrypt_n=2**10
    ).close()
    return KeyStore.open(path, passphrase=b"pw"), KeyStore.open(path, passphrase=b"pw")


def _race_at_first_lookup(store: KeyStore, other_handle_does: Callable[[], object]) -> list[object]:
    """Let another handle act between ``store``'s first pin look-up and its pinning."""
    backend = store.trust_store._backend
    real_get = backend.get_pin
    raced: list[object] = []

    def get_pin(name: str) -> bytes | None:
        pinned = real_get(name)
        if pinned is None and not raced:
            raced.append(other_handle_does())
        return pinned

    backend.get_pin = get_pin  # type: ignore[method-assign]
    return raced


def test_two_handles_pinning_one_name_at_once_never_replace_a_pin_silently(
    tmp_path: Path,
) -> None:
    """TOFU check-then-set was two transactions (and set_pin deleted the old pin first), so
    a second process pinning the honest bundle in between was silently replaced by the
    impostor's: no IdentityChangedError anywhere, every handle then trusted the impostor.
    StateDB.pin_if_absent now looks up and inserts in one BEGIN IMMEDIATE transaction."""
    first, second = _two_handles(tmp_path)
    honest = Identity.generate("dave", one_time_prekeys=0).bundle()
    impostor = Identity.generate("dave", one_time_prekeys=0).bundle()
    raced = _race_at_first_lookup(first, lambda: second.trust_store.check(honest))
    with first, second:
        with pytest.raises(errors.IdentityChangedError):
            first.trust_store.check(impostor)
        assert raced, "the race window was not reached"
        assert second.trust_store.is_trusted(honest) and first.trust_store.is_trusted(honest)


def test_two_handles_pinning_one_key_under_two_names_at_once_pin_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-key-one-name check (issue 10.1) ran in its own transaction before the pin's:
    two handles (processes) seeing one key under two names at once both found no other
    name and both pinned it. Now checked inside the pin's transaction: exactly one wins.
    (A slow ``set_pin`` widens the old window; the atomic path does not call it.)"""
    first, second = _two_handles(tmp_path)
    alice = Identity.generate("alice", one_time_prekeys=0, rng=_fixed_rng(), now=NOW)
    alias = Identity.generate("mallory", one_time_prekeys=0, rng=_fixed_rng(), now=NOW)
    real_set_pin = StateDB.set_pin

    def slow_set_pin(self: StateDB, name: str, identity_key: bytes) -> None:
        time.sleep(0.2)
        real_set_pin(self, name, identity_key)

    monkeypatch.setattr(StateDB, "set_pin", slow_set_pin)
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def pin(store: KeyStore, bundle: KeyBundle) -> None:
        start.wait()
        try:
            outcomes.append(store.trust_store.check(bundle).name)
        except errors.IdentityChangedError as error:
            outcomes.append(error)

    workers = [
        threading.Thread(target=pin, args=(first, alice.bundle())),
        threading.Thread(target=pin, args=(second, alias.bundle())),
    ]
    with first, second:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        names = first.trust_store.names()
    assert len(names) == 1, f"one identity key pinned under {names}"
    assert sum(isinstance(o, errors.IdentityChangedError) for o in outcomes) == 1


def test_accept_racing_a_first_use_pin_of_the_same_key_pins_it_once(tmp_path: Path) -> None:
    """accept() looked up the key's other names in one transaction and pinned in another:
    a second handle (process) pinning the same key under another name in between (a
    receiver meeting 'mallory' with alice's key on first use) left one key under two
    names, and every later message from it failed as ambiguous. Now StateDB.replace_pin
    checks and pins in one transaction: exactly one of the two wins."""
    first, second = _two_handles(tmp_path)
    alice = Identity.generate("alice", one_time_prekeys=0, rng=_fixed_rng(), now=NOW)
    alias = Identity.generate("mallory", one_time_prekeys=0, rng=_fixed_rng(), now=NOW)
    outcomes: list[object] = []

    def second_pins_the_alias() -> None:
        try:
            outcomes.append(second.trust_store.check(alias.bundle()).name)
        except errors.IdentityChangedError as error:
            outcomes.append(error)

    backend = first.trust_store._backend
    real_run = backend._run

    def run(work: Callable[[object], object]) -> object:
        """The other handle acts right after this handle's first transaction ends."""
        result = real_run(work)
        if not outcomes:
            second_pins_the_alias()
        return result

    backend._run = run  # type: ignore[method-assign]
    with first, second:
        try:
            first.trust_store.accept(alice.bundle())
            outcomes.append("alice")
        except errors.IdentityChangedError as error:
            outcomes.append(error)
        names = first.trust_store.names()
    assert len(outcomes) == 2, "the race window was not reached"
    assert len(names) == 1, f"one identity key pinned under {names}"
    assert sum(isinstance(o, errors.IdentityChangedError) for o in outcomes) == 1


def test_fingerprint_matches_ignores_spacing_only() -> None:
    key = Identity.generate("alice", one_time_prekeys=0).public_identity_key
    shown = fingerprint(key)
    assert fingerprint_matches(key, shown)
    assert fingerprint_matches(key, shown.replace(" ", ""))
    assert fingerprint_matches(key, "\n".join(shown.split(" ")))
    assert not fingerprint_matches(key, shown[:-1] + str((int(shown[-1]) + 1) % 10))
    assert not fingerprint_matches(key, shown[:-5])
    assert not fingerprint_matches(key, "")
    assert not fingerprint_matches(key, shown.replace("0", "\u0660"))  # Arabic-Indic zero
    with pytest.raises(errors.SealArgumentError):
        fingerprint_matches(key, 12345)  # type: ignore[arg-type]


def test_accept_with_an_expected_fingerprint_refuses_any_other_identity() -> None:
    store = TrustStore()
    old = Identity.generate("alice", one_time_prekeys=0)
    new = Identity.generate("alice", one_time_prekeys=0)
    store.check(old.bundle())
    with pytest.raises(errors.IdentityChangedError, match="nothing was pinned"):
        store.accept(new.bundle(), expect_fingerprint=old.fingerprint())
    assert store.pinned_key("alice") == old.public_identity_key
    store.accept(new.bundle(), expect_fingerprint=new.fingerprint())
    assert store.pinned_key("alice") == new.public_identity_key
