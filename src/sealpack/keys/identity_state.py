"""The private state of an Identity and the operations on it that draw keys or sign.

:class:`~sealpack.keys.identity.Identity` holds one :class:`IdentityState` behind a lock
and delegates here; the key store writes and restores the state (keys/keyfile_plaintext.py).
Signatures are not part of the state: Ed25519 is deterministic, so every prekey's
signature is recomputed from the seed, the name and the prekey (and cached in memory).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from sealpack import errors, primitives
from sealpack.keys.bundle import MAX_ONE_TIME_PREKEYS, MAX_PQ_ONE_TIME_PREKEYS, KeyBundle
from sealpack.keys.prekeys import (
    MAX_PREKEY_ID,
    MAX_TIME,
    OneTimePrekey,
    OneTimePrekeyPublic,
    PQOneTimePrekey,
    PQOneTimePrekeyPublic,
    PQPrekey,
    PQPrekeyPublic,
    SignedPrekey,
    SignedPrekeyPublic,
    one_time_prekey_message,
    pq_one_time_prekey_message,
    pq_prekey_message,
    signed_prekey_message,
)
from sealpack.keys.secret import Ed25519Seed, MLKEMSecret, X25519Secret

__all__ = [
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_SPK_LIFETIME",
    "IdentityState",
    "add_one_time_prekeys",
    "add_pq_one_time_prekeys",
    "build_bundle",
    "drop_retired",
    "new_pq_prekey",
    "new_signed_prekey",
    "snapshot",
]

DEFAULT_SPK_LIFETIME = 30 * 86400
DEFAULT_GRACE_PERIOD = 7 * 86400
Signer = Callable[[bytes], bytes]
_Timed = TypeVar("_Timed", SignedPrekey, PQPrekey)


@dataclass
class IdentityState:
    """The private state of an Identity, as the KeyStore writes and restores it.

    PQ prekey ids (last-resort and one-time) share the counter ``next_pq_prekey_id``.
    ``current_pq_prekey_id`` is None for a classical identity (``post_quantum=False``).
    """

    name: str
    seed: Ed25519Seed
    signed_prekeys: dict[int, SignedPrekey]
    current_signed_prekey_id: int
    one_time_prekeys: dict[int, OneTimePrekey]
    next_one_time_prekey_id: int
    signed_prekey_lifetime: int
    pq_prekeys: dict[int, PQPrekey] = field(default_factory=dict)
    current_pq_prekey_id: int | None = None
    pq_one_time_prekeys: dict[int, PQOneTimePrekey] = field(default_factory=dict)
    next_pq_prekey_id: int = 1


def snapshot(state: IdentityState) -> IdentityState:
    """A copy of ``state`` that later changes to it leave alone (secrets are shared:
    they are never mutated), to restore after a change that could not be saved."""

    def timed(key: _Timed) -> _Timed:
        return type(key)(
            key.id, key.secret, created=key.created, expires=key.expires, retire_at=key.retire_at
        )

    return replace(
        state,
        signed_prekeys={i: timed(k) for i, k in state.signed_prekeys.items()},
        pq_prekeys={i: timed(k) for i, k in state.pq_prekeys.items()},
        one_time_prekeys=dict(state.one_time_prekeys),
        pq_one_time_prekeys=dict(state.pq_one_time_prekeys),
    )


def _validity(created: int, lifetime: int) -> tuple[int, int, int]:
    """(created, expires, retire_at) of a new prekey, all below 2**40."""
    expires = created + lifetime
    if expires >= MAX_TIME:
        raise errors.KeyStoreError("prekey creation time + lifetime must stay below 2**40")
    return created, expires, expires + DEFAULT_GRACE_PERIOD


def new_signed_prekey(
    prekey_id: int, rng: primitives.Rng | None, created: int, lifetime: int
) -> SignedPrekey:
    """A fresh signed prekey (32 random bytes drawn).

    Raises:
        KeyStoreError: ``created + lifetime`` is not below 2**40.
    """
    start, expires, retire_at = _validity(created, lifetime)
    secret = X25519Secret(primitives.random_bytes(32, rng=rng))
    return SignedPrekey(prekey_id, secret, created=start, expires=expires, retire_at=retire_at)


def new_pq_prekey(state: IdentityState, rng: primitives.Rng | None, created: int) -> PQPrekey:
    """A fresh PQ last-resort prekey (64-byte ML-KEM seed drawn) with the next PQ id.

    Raises:
        KeyStoreError: PQ prekey ids exhausted, or the lifetime passes 2**40.
    """
    prekey_id = _next_pq_ids(state, 1)
    start, expires, retire_at = _validity(created, state.signed_prekey_lifetime)
    secret = MLKEMSecret(primitives.random_bytes(primitives.MLKEM768_SEED_SIZE, rng=rng))
    state.next_pq_prekey_id += 1
    return PQPrekey(prekey_id, secret, created=start, expires=expires, retire_at=retire_at)


def _next_pq_ids(state: IdentityState, n: int) -> int:
    if state.next_pq_prekey_id + n - 1 > MAX_PREKEY_ID:
        raise errors.KeyStoreError("PQ prekey ids exhausted")
    return state.next_pq_prekey_id


def add_one_time_prekeys(state: IdentityState, n: int, rng: primitives.Rng | None) -> None:
    """Add ``n`` one-time prekeys with fresh ids (32 random bytes each, in id order).

    Raises:
        KeyStoreError: ``n`` negative, the total over 10000, or ids exhausted.
    """
    if n < 0 or len(state.one_time_prekeys) + n > MAX_ONE_TIME_PREKEYS:
        raise errors.KeyStoreError(
            f"one-time prekeys: n must be >= 0 and the total <= {MAX_ONE_TIME_PREKEYS}"
        )
    if state.next_one_time_prekey_id + n - 1 > MAX_PREKEY_ID:
        raise errors.KeyStoreError("one-time prekey ids exhausted")
    for _ in range(n):
        prekey_id = state.next_one_time_prekey_id
        secret = X25519Secret(primitives.random_bytes(32, rng=rng))
        state.one_time_prekeys[prekey_id] = OneTimePrekey(prekey_id, secret)
        state.next_one_time_prekey_id += 1


def add_pq_one_time_prekeys(state: IdentityState, n: int, rng: primitives.Rng | None) -> None:
    """Add ``n`` PQ one-time prekeys (64 random bytes each, in id order).

    Raises:
        KeyStoreError: a classical identity, ``n`` negative, the total over 1000, or
            ids exhausted.
    """
    if n and state.current_pq_prekey_id is None:
        raise errors.KeyStoreError("a classical identity has no PQ prekeys; enable them first")
    if n < 0 or len(state.pq_one_time_prekeys) + n > MAX_PQ_ONE_TIME_PREKEYS:
        raise errors.KeyStoreError(
            f"PQ one-time prekeys: n must be >= 0 and the total <= {MAX_PQ_ONE_TIME_PREKEYS}"
        )
    _next_pq_ids(state, n)
    for _ in range(n):
        prekey_id = state.next_pq_prekey_id
        secret = MLKEMSecret(primitives.random_bytes(primitives.MLKEM768_SEED_SIZE, rng=rng))
        state.pq_one_time_prekeys[prekey_id] = PQOneTimePrekey(prekey_id, secret)
        state.next_pq_prekey_id += 1


def drop_retired(state: IdentityState, now: int) -> int:
    """Delete non-current signed and PQ last-resort prekeys whose grace period ended."""
    deleted = 0
    for current, table in (
        (state.current_signed_prekey_id, state.signed_prekeys),
        (state.current_pq_prekey_id, state.pq_prekeys),
    ):
        retired = [i for i, key in table.items() if i != current and key.retire_at <= now]
        for prekey_id in retired:
            del table[prekey_id]
        deleted += len(retired)
    return deleted


def build_bundle(state: IdentityState, sign: Signer) -> KeyBundle:
    """The public bundle: current signed and PQ prekeys, every unused one-time prekey."""
    name = state.name
    spk = state.signed_prekeys[state.current_signed_prekey_id]
    pq_id = state.current_pq_prekey_id
    pq = None if pq_id is None else state.pq_prekeys[pq_id]
    spk_message = signed_prekey_message(
        name, spk.id, spk.secret.public, spk.created, spk.expires, pq is not None
    )
    spk_public = SignedPrekeyPublic(
        spk.id, spk.secret.public, spk.created, spk.expires, sign(spk_message)
    )
    pq_public = None
    if pq is not None:
        message = pq_prekey_message(name, pq.id, pq.secret.public, pq.created, pq.expires)
        pq_public = PQPrekeyPublic(pq.id, pq.secret.public, pq.created, pq.expires, sign(message))
    opks = tuple(
        OneTimePrekeyPublic(
            i, key.secret.public, sign(one_time_prekey_message(name, i, key.secret.public))
        )
        for i, key in sorted(state.one_time_prekeys.items())
    )
    pq_opks = tuple(
        PQOneTimePrekeyPublic(
            i, key.secret.public, sign(pq_one_time_prekey_message(name, i, key.secret.public))
        )
        for i, key in sorted(state.pq_one_time_prekeys.items())
    )
    return KeyBundle(name, state.seed.public, spk_public, opks, pq_public, pq_opks)
