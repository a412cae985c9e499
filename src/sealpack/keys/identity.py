"""Identity: a private Ed25519 identity key with its signed and one-time prekeys."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from sealpack import errors, primitives
from sealpack.keys.arguments import require_bytes, require_int, require_now, require_rng
from sealpack.keys.bundle import MAX_ONE_TIME_PREKEYS, KeyBundle
from sealpack.keys.fingerprint import fingerprint, key_id
from sealpack.keys.names import validate_name
from sealpack.keys.prekey_usage import MemoryPrekeyUsage, PrekeyUsage
from sealpack.keys.prekeys import MAX_PREKEY_ID, OneTimePrekey, SignedPrekey
from sealpack.keys.replay import MemoryReplayGuard, ReplayGuard
from sealpack.keys.secret import (
    Ed25519Seed,
    RefusesExport,
    X25519Secret,
)

__all__ = ["DEFAULT_GRACE_PERIOD", "DEFAULT_SPK_LIFETIME", "Identity", "PrekeyPersistence"]

DEFAULT_SPK_LIFETIME = 30 * 86400
DEFAULT_GRACE_PERIOD = 7 * 86400
_REFUSAL = "Identity objects cannot be pickled or copied; export them only through a KeyStore"


class PrekeyPersistence(Protocol):
    """Durability hooks a KeyStore installs on the identity it holds."""

    def one_time_prekey_consumed(self, prekey_id: int) -> None:
        """Record durably that ``prekey_id`` was used; PrekeyError if it already was."""

    def keys_changed(self) -> None:
        """Rewrite the private key file after a change."""


@dataclass
class IdentityState:
    """The private state of an Identity, as the KeyStore writes and restores it."""

    name: str
    seed: Ed25519Seed
    signed_prekeys: dict[int, SignedPrekey]
    current_signed_prekey_id: int
    one_time_prekeys: dict[int, OneTimePrekey]
    next_one_time_prekey_id: int
    signed_prekey_lifetime: int


def _now(now: int | None) -> int:
    checked = require_now(now)
    return int(time.time()) if checked is None else checked


def _new_x25519(rng: primitives.Rng | None) -> X25519Secret:
    return X25519Secret(primitives.random_bytes(32, rng=rng))


def _new_signed_prekey(
    prekey_id: int, seed: Ed25519Seed, rng: primitives.Rng | None, created: int, lifetime: int
) -> SignedPrekey:
    """A fresh signed prekey (32 random bytes drawn), signed by ``seed``."""
    return SignedPrekey.create(
        prekey_id,
        _new_x25519(rng),
        seed,
        created=created,
        lifetime=lifetime,
        grace=DEFAULT_GRACE_PERIOD,
    )


class Identity(RefusesExport):
    """A private identity: opaque, never pickled or copied; repr shows name + fingerprint.

    Create with :meth:`generate`; persist with :class:`~sealpack.keys.KeyStore`.
    ``replay_guard`` (as recipient) and ``prekey_usage`` (as sender: the peers'
    one-time prekeys already used) are in memory, or durable when a KeyStore holds it.
    """

    _export_refusal = _REFUSAL

    def __init__(self, state: IdentityState) -> None:
        self.name = state.name
        self._state = state
        self._lock = threading.RLock()
        self._bundle: KeyBundle | None = None
        self._persistence: PrekeyPersistence | None = None
        self.replay_guard: ReplayGuard = MemoryReplayGuard()
        self.prekey_usage: PrekeyUsage = MemoryPrekeyUsage()

    @classmethod
    def generate(
        cls,
        name: str,
        *,
        one_time_prekeys: int = 100,
        rng: primitives.Rng | None = None,
        now: int | None = None,
        signed_prekey_lifetime: int = DEFAULT_SPK_LIFETIME,
    ) -> Identity:
        """Create a new identity with a signed prekey and one-time prekeys.

        Randomness is drawn in this order: identity seed (32 bytes), signed prekey (32),
        then one 32-byte private key per one-time prekey (ids 1, 2, ...).

        Args:
            name: 1-64 characters of ``[A-Za-z0-9._@+-]``.
            one_time_prekeys: how many one-time prekeys to create.
            rng: randomness source (default ``os.urandom``).
            now: creation time of the signed prekey (seconds since the epoch).
            signed_prekey_lifetime: seconds until the signed prekey expires.

        Returns:
            The new identity (in memory; use a KeyStore to keep it).

        Raises:
            KeyStoreError: bad name, count or lifetime.
            SealArgumentError: an argument of the wrong type.
        """
        validate_name(name, errors.KeyStoreError)
        require_int(one_time_prekeys, "one_time_prekeys")
        require_rng(rng)
        if require_int(signed_prekey_lifetime, "signed_prekey_lifetime") <= 0:
            raise errors.KeyStoreError("signed_prekey_lifetime must be positive")
        seed = Ed25519Seed(primitives.random_bytes(32, rng=rng))
        spk = _new_signed_prekey(1, seed, rng, _now(now), signed_prekey_lifetime)
        state = IdentityState(name, seed, {1: spk}, 1, {}, 1, signed_prekey_lifetime)
        identity = cls(state)
        identity.replenish_one_time_prekeys(one_time_prekeys, rng=rng)
        return identity

    # --- opacity -------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Identity(name={self.name!r}, fingerprint={self.fingerprint()!r})"

    __str__ = __repr__

    # --- public facts ----------------------------------------------------------

    @property
    def public_identity_key(self) -> bytes:
        """The Ed25519 identity public key (32 bytes)."""
        return self._state.seed.public

    @property
    def key_id(self) -> bytes:
        """16 bytes: SHA-256("sealpack/key-id/v1" || IK)[:16]."""
        return key_id(self._state.seed.public)

    @property
    def signed_prekey_id(self) -> int:
        """The id of the current signed prekey."""
        return self._state.current_signed_prekey_id

    def one_time_prekey_ids(self) -> list[int]:
        """Return the ids of the unused one-time prekeys, ascending."""
        with self._lock:
            return sorted(self._state.one_time_prekeys)

    def fingerprint(self) -> str:
        """Return the safety number of the identity key (12 groups of 5 digits)."""
        return fingerprint(self._state.seed.public)

    def sign(self, message: bytes) -> bytes:
        """Return the Ed25519 signature of ``message`` by the identity key.

        Raises:
            SealArgumentError: ``message`` is not bytes.
        """
        return self._state.seed.sign(require_bytes(message, "message"))

    def bundle(self) -> KeyBundle:
        """Return the public bundle (current signed prekey, all unused one-time prekeys)."""
        with self._lock:
            if self._bundle is None:
                state = self._state
                spk = state.signed_prekeys[state.current_signed_prekey_id]
                opks = tuple(
                    state.one_time_prekeys[i].public_record()
                    for i in sorted(state.one_time_prekeys)
                )
                self._bundle = KeyBundle(state.name, state.seed.public, spk.public_record(), opks)
            return self._bundle

    # --- prekey management ------------------------------------------------------

    def rotate_signed_prekey(
        self,
        *,
        grace_period: int = DEFAULT_GRACE_PERIOD,
        rng: primitives.Rng | None = None,
        now: int | None = None,
    ) -> None:
        """Replace the signed prekey; the previous one still opens messages for ``grace_period`` s.

        Raises:
            KeyStoreError: negative grace period, or signed prekey ids exhausted.
            SealArgumentError: an argument of the wrong type.
        """
        require_rng(rng)
        if require_int(grace_period, "grace_period") < 0:
            raise errors.KeyStoreError("grace_period must be >= 0")
        current_time = _now(now)
        with self._lock:
            state = self._state
            new_id = max(state.signed_prekeys) + 1
            if new_id > MAX_PREKEY_ID:
                raise errors.KeyStoreError("signed prekey ids exhausted")
            old = state.signed_prekeys[state.current_signed_prekey_id]
            old.retire_at = min(old.retire_at, current_time + grace_period)
            state.signed_prekeys[new_id] = _new_signed_prekey(
                new_id, state.seed, rng, current_time, state.signed_prekey_lifetime
            )
            state.current_signed_prekey_id = new_id
            self._drop_retired(current_time)
            self._changed()

    def replenish_one_time_prekeys(self, n: int, *, rng: primitives.Rng | None = None) -> None:
        """Add ``n`` fresh one-time prekeys (new, never reused ids).

        Raises:
            KeyStoreError: ``n`` is negative or the total would exceed 10000.
            SealArgumentError: ``n`` is not an int, or ``rng`` not callable.
        """
        require_int(n, "n")
        require_rng(rng)
        with self._lock:
            state = self._state
            if n < 0 or len(state.one_time_prekeys) + n > MAX_ONE_TIME_PREKEYS:
                raise errors.KeyStoreError(
                    f"one-time prekeys: n must be >= 0 and the total <= {MAX_ONE_TIME_PREKEYS}"
                )
            if state.next_one_time_prekey_id + n - 1 > MAX_PREKEY_ID:
                raise errors.KeyStoreError("one-time prekey ids exhausted")
            for _ in range(n):
                prekey_id = state.next_one_time_prekey_id
                state.one_time_prekeys[prekey_id] = OneTimePrekey(prekey_id, _new_x25519(rng))
                state.next_one_time_prekey_id += 1
            self._changed()

    def purge_expired(self, *, now: int | None = None) -> int:
        """Delete old signed prekeys whose grace period has ended.

        Returns:
            How many were deleted.
        """
        with self._lock:
            deleted = self._drop_retired(_now(now))
            if deleted:
                self._changed()
            return deleted

    def _drop_retired(self, now: int) -> int:
        state = self._state
        retired = [
            i
            for i, spk in state.signed_prekeys.items()
            if i != state.current_signed_prekey_id and spk.retire_at <= now
        ]
        for prekey_id in retired:
            del state.signed_prekeys[prekey_id]
        return len(retired)

    def _changed(self) -> None:
        self._bundle = None
        if self._persistence is not None:
            self._persistence.keys_changed()

    # --- used by sealpack.x3dh and the KeyStore ------------------------------------

    def _identity_secret(self) -> X25519Secret:
        return self._state.seed.x25519

    def _signed_prekey_secret(self, prekey_id: int, now: int) -> X25519Secret:
        with self._lock:
            spk = self._state.signed_prekeys.get(prekey_id)
            if spk is None or spk.retire_at <= now:
                raise errors.PrekeyError(f"signed prekey {prekey_id} is unknown or retired")
            return spk.secret

    def _one_time_prekey_secret(self, prekey_id: int) -> X25519Secret:
        with self._lock:
            opk = self._state.one_time_prekeys.get(prekey_id)
            if opk is None:
                raise errors.PrekeyError(f"one-time prekey {prekey_id} is unknown or already used")
            return opk.secret

    def _consume_one_time_prekey(self, prekey_id: int) -> None:
        """Delete a one-time prekey, durably (when persisted) before returning."""
        with self._lock:
            if prekey_id not in self._state.one_time_prekeys:
                raise errors.PrekeyError(f"one-time prekey {prekey_id} is unknown or already used")
            if self._persistence is not None:
                self._persistence.one_time_prekey_consumed(prekey_id)
            del self._state.one_time_prekeys[prekey_id]
            self._changed()

    def _attach(
        self,
        persistence: PrekeyPersistence,
        replay_guard: ReplayGuard,
        prekey_usage: PrekeyUsage,
    ) -> None:
        self._persistence = persistence
        self.replay_guard = replay_guard
        self.prekey_usage = prekey_usage
