"""The recipient side of an Identity: private prekey accessors, consumption, commit hooks.

Part of :class:`~sealpack.keys.identity.Identity` (the one public class). These private
methods are called by sealpack.x3dh (to derive the shared key), the envelope opener (to
commit an opened message, see keys/opening.py) and the KeyStore; nothing else should.
A prekey the identity does not know makes it ask its KeyStore to re-read the key file
first, since another handle of the same store may have rotated or replenished.
"""

from __future__ import annotations

from sealpack import errors
from sealpack.keys import opening
from sealpack.keys.identity_core import IdentityCore
from sealpack.keys.secret import MLKEMSecret, X25519Secret

__all__ = ["RecipientKeys"]


class RecipientKeys(IdentityCore):
    """The private recipient-side methods of :class:`~sealpack.keys.identity.Identity`."""

    def _commit_open(
        self,
        sender_key_id: bytes,
        message_id: bytes,
        digest: bytes,
        expires_at: int,
        *,
        one_time_prekey_id: int | None,
        pq_one_time_prekey_id: int | None,
        hold: bool,
        now: int,
    ) -> None:
        """Record an opened message and consume its one-time prekeys, together (issue 17).

        Call after every chunk authenticated. ``hold=True`` keeps the prekeys' private
        keys (out of every bundle) until :meth:`_acknowledge`; see sealpack.keys.opening.

        Raises:
            ReplayError: already recorded. PrekeyError: a one-time prekey already used.
        """
        record = (sender_key_id, message_id, digest, expires_at)
        opening.commit_open(
            self, record, one_time_prekey_id, pq_one_time_prekey_id, hold=hold, now=now
        )

    def _acknowledge(self, sender_key_id: bytes, message_id: bytes) -> None:
        """Turn a held message done and delete its one-time prekeys (KeyStoreError if unknown)."""
        opening.acknowledge(self, sender_key_id, message_id)

    def _signed_prekey_secret(self, prekey_id: int, now: int) -> X25519Secret:
        with self._lock:
            if prekey_id not in self._state.signed_prekeys:
                self._refreshed()
            spk = self._state.signed_prekeys.get(prekey_id)
            if spk is None or spk.retire_at <= now:
                raise errors.PrekeyError(f"signed prekey {prekey_id} is unknown or retired")
            return spk.secret

    def _pq_prekey_secret(self, prekey_id: int, now: int) -> tuple[MLKEMSecret, bool]:
        """The ML-KEM key of PQ prekey ``prekey_id`` and whether it is a one-time prekey.

        Raises:
            PrekeyError: unknown, retired (last-resort) or already used (one-time).
        """
        with self._lock:
            state = self._state
            if prekey_id not in state.pq_one_time_prekeys and prekey_id not in state.pq_prekeys:
                self._refreshed()
            one_time = self._state.pq_one_time_prekeys.get(prekey_id)
            one_time = one_time or self._held.get((opening.PQ_OPK, prekey_id))  # type: ignore[assignment]
            if one_time is not None:
                return one_time.secret, True
            last_resort = self._state.pq_prekeys.get(prekey_id)
            if last_resort is None or last_resort.retire_at <= now:
                raise errors.PrekeyError(
                    f"PQ prekey {prekey_id} is unknown, retired or already used"
                )
            return last_resort.secret, False

    def _one_time_prekey_secret(self, prekey_id: int) -> X25519Secret:
        with self._lock:
            if prekey_id not in self._state.one_time_prekeys:
                self._refreshed()
            opk = self._state.one_time_prekeys.get(prekey_id)
            opk = opk or self._held.get((opening.OPK, prekey_id))  # type: ignore[assignment]
            if opk is None:
                raise errors.PrekeyError(f"one-time prekey {prekey_id} is unknown or already used")
            return opk.secret

    def _consume_prekeys(self, opk_id: int | None, pq_opk_id: int | None) -> None:
        """Delete a one-time prekey and/or a PQ one-time prekey, durably before returning.

        Raises:
            PrekeyError: either is unknown or already used (then nothing is consumed).
        """
        with self._lock:
            opening.check_available(self, opk_id, pq_opk_id)
            if self._persistence is not None:
                if opk_id is not None:
                    self._persistence.one_time_prekey_consumed(opk_id)
                if pq_opk_id is not None:
                    self._persistence.pq_one_time_prekey_consumed(pq_opk_id)
            if opk_id is not None:
                del self._state.one_time_prekeys[opk_id]
            if pq_opk_id is not None:
                del self._state.pq_one_time_prekeys[pq_opk_id]
            self._changed()

    def _consume_one_time_prekey(self, prekey_id: int) -> None:
        """Delete a one-time prekey, durably (when persisted) before returning."""
        self._consume_prekeys(prekey_id, None)
