"""Prekey management of an Identity: rotation, the PQ upgrade, replenishment, purging.

Part of :class:`~sealpack.keys.identity.Identity` (the one public class); every change
runs under :meth:`IdentityCore._mutating`, so in a KeyStore it holds the store lock with
the key file re-read, and ends with :meth:`IdentityCore._changed` (key file rewritten).
"""

from __future__ import annotations

from collections.abc import Callable

from sealpack import errors, primitives
from sealpack.keys import identity_state as st
from sealpack.keys.arguments import require_int, require_rng
from sealpack.keys.identity_core import IdentityCore, current_time
from sealpack.keys.identity_state import DEFAULT_GRACE_PERIOD, IdentityState
from sealpack.keys.prekeys import MAX_PREKEY_ID, PQPrekey, SignedPrekey

__all__ = ["PrekeyManagement"]


class PrekeyManagement(IdentityCore):
    """The public prekey-management methods of :class:`~sealpack.keys.identity.Identity`."""

    def rotate_signed_prekey(
        self,
        *,
        grace_period: int = DEFAULT_GRACE_PERIOD,
        rng: primitives.Rng | None = None,
        now: int | None = None,
    ) -> None:
        """Replace the signed prekey and the PQ last-resort prekey (32 then 64 bytes drawn).

        The previous ones still open messages for ``grace_period`` seconds.

        Raises:
            KeyStoreError: negative grace period, or prekey ids exhausted.
            SealArgumentError: an argument of the wrong type.
        """
        require_rng(rng)
        if require_int(grace_period, "grace_period") < 0:
            raise errors.KeyStoreError("grace_period must be >= 0")
        when = current_time(now)
        with self._mutating():
            state = self._state
            new_id = max(state.signed_prekeys) + 1
            if new_id > MAX_PREKEY_ID:
                raise errors.KeyStoreError("signed prekey ids exhausted")
            spk = st.new_signed_prekey(new_id, rng, when, state.signed_prekey_lifetime)
            pq = None
            if state.current_pq_prekey_id is not None:
                pq = st.new_pq_prekey(state, rng, when)
            for old in self._current_prekeys():
                old.retire_at = min(old.retire_at, when + grace_period)
            state.signed_prekeys[new_id] = spk
            state.current_signed_prekey_id = new_id
            if pq is not None:
                state.pq_prekeys[pq.id] = pq
                state.current_pq_prekey_id = pq.id
            st.drop_retired(state, when)
            self._changed()

    def _current_prekeys(self) -> list[SignedPrekey | PQPrekey]:
        state = self._state
        current: list[SignedPrekey | PQPrekey] = [
            state.signed_prekeys[state.current_signed_prekey_id]
        ]
        if state.current_pq_prekey_id is not None:
            current.append(state.pq_prekeys[state.current_pq_prekey_id])
        return current

    def enable_post_quantum(
        self, *, rng: primitives.Rng | None = None, now: int | None = None
    ) -> None:
        """Give a classical identity a PQ last-resort prekey (64 bytes drawn); no-op if hybrid.

        Used when a version-1 key store is migrated. The signed prekey's signature then
        covers ``has_pq_prekey = 1``, so the new bundle can no longer be downgraded.

        Raises:
            KeyStoreError: PQ prekey ids exhausted or the time out of range.
            SealArgumentError: an argument of the wrong type.
        """
        require_rng(rng)
        when = current_time(now)
        with self._mutating():
            if self._state.current_pq_prekey_id is not None:
                return
            pq = st.new_pq_prekey(self._state, rng, when)
            self._state.pq_prekeys[pq.id] = pq
            self._state.current_pq_prekey_id = pq.id
            self._changed()

    def replenish_one_time_prekeys(self, n: int, *, rng: primitives.Rng | None = None) -> None:
        """Add ``n`` fresh one-time prekeys (new, never reused ids).

        Raises:
            KeyStoreError: ``n`` is negative or the total would exceed 10000.
            SealArgumentError: ``n`` is not an int, or ``rng`` not callable.
        """
        self._replenish(st.add_one_time_prekeys, n, rng)

    def replenish_pq_one_time_prekeys(self, n: int, *, rng: primitives.Rng | None = None) -> None:
        """Add ``n`` fresh PQ one-time prekeys (64 bytes drawn each, new ids).

        Raises:
            KeyStoreError: ``n`` negative, the total over 1000, or a classical identity.
            SealArgumentError: ``n`` is not an int, or ``rng`` not callable.
        """
        self._replenish(st.add_pq_one_time_prekeys, n, rng)

    def _replenish(
        self,
        add: Callable[[IdentityState, int, primitives.Rng | None], None],
        n: int,
        rng: primitives.Rng | None,
    ) -> None:
        require_int(n, "n")
        require_rng(rng)
        with self._mutating():
            add(self._state, n, rng)
            self._changed()

    def purge_expired(self, *, now: int | None = None) -> int:
        """Delete old signed and PQ last-resort prekeys whose grace period has ended.

        Returns:
            How many were deleted.
        """
        with self._mutating():
            deleted = st.drop_retired(self._state, current_time(now))
            if deleted:
                self._changed()
            return deleted
