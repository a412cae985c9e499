"""Identity: a private Ed25519 identity key with its signed, PQ and one-time prekeys.

The one public class, :class:`Identity`, is assembled from its parts: the shared state
and KeyStore hooks (keys/identity_core.py), prekey management (keys/identity_prekeys.py)
and the recipient side (keys/identity_recipient.py). Import it from here or sealpack.keys.
"""

from __future__ import annotations

from sealpack import errors, primitives
from sealpack.keys import identity_state as st
from sealpack.keys import opening
from sealpack.keys.app_signature import APP_SIGNATURE_DOMAIN, app_signed_message
from sealpack.keys.arguments import require_int, require_rng
from sealpack.keys.bundle import KeyBundle
from sealpack.keys.fingerprint import fingerprint, key_id
from sealpack.keys.identity_core import PrekeyPersistence, current_time
from sealpack.keys.identity_prekeys import PrekeyManagement
from sealpack.keys.identity_recipient import RecipientKeys
from sealpack.keys.identity_state import DEFAULT_GRACE_PERIOD, DEFAULT_SPK_LIFETIME, IdentityState
from sealpack.keys.names import validate_name
from sealpack.keys.secret import Ed25519Seed, RefusesExport, X25519Secret

__all__ = [
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_PQ_ONE_TIME_PREKEYS",
    "DEFAULT_SPK_LIFETIME",
    "Identity",
    "IdentityState",
    "PrekeyPersistence",
]

DEFAULT_PQ_ONE_TIME_PREKEYS = 0
_REFUSAL = "Identity objects cannot be pickled or copied; export them only through a KeyStore"


def _check_generate_arguments(
    name: str,
    one_time_prekeys: int,
    pq_one_time_prekeys: int,
    post_quantum: bool,
    rng: primitives.Rng | None,
    signed_prekey_lifetime: int,
) -> None:
    validate_name(name, errors.KeyStoreError)
    require_int(one_time_prekeys, "one_time_prekeys")
    require_int(pq_one_time_prekeys, "pq_one_time_prekeys")
    if not isinstance(post_quantum, bool):
        raise errors.SealArgumentError("post_quantum must be a bool")
    require_rng(rng)
    if require_int(signed_prekey_lifetime, "signed_prekey_lifetime") <= 0:
        raise errors.KeyStoreError("signed_prekey_lifetime must be positive")
    if pq_one_time_prekeys and not post_quantum:
        raise errors.KeyStoreError("pq_one_time_prekeys needs post_quantum=True")


class Identity(RecipientKeys, PrekeyManagement, RefusesExport):
    """A private identity: opaque, never pickled or copied; repr shows name + fingerprint.

    Create with :meth:`generate`; persist with :class:`~sealpack.keys.KeyStore`.
    ``replay_guard`` (as recipient) and ``prekey_usage`` (as sender: the peers'
    one-time prekeys already used) are in memory, or durable when a KeyStore holds it.
    """

    _export_refusal = _REFUSAL

    @classmethod
    def generate(
        cls,
        name: str,
        *,
        one_time_prekeys: int = 100,
        pq_one_time_prekeys: int = DEFAULT_PQ_ONE_TIME_PREKEYS,
        post_quantum: bool = True,
        rng: primitives.Rng | None = None,
        now: int | None = None,
        signed_prekey_lifetime: int = DEFAULT_SPK_LIFETIME,
    ) -> Identity:
        """Create a new identity: hybrid (X25519 + ML-KEM-768 prekeys) unless told otherwise.

        Randomness is drawn in this order: identity seed (32 bytes), signed prekey (32),
        PQ last-resort prekey seed (64, when ``post_quantum``), one 32-byte private key per
        one-time prekey (ids 1, 2, ...), then one 64-byte ML-KEM seed per PQ one-time
        prekey (PQ ids 2, 3, ...; the last-resort prekey has PQ id 1).

        Args:
            name: 1-64 characters of ``[A-Za-z0-9._@+-]``.
            one_time_prekeys: how many one-time prekeys to create.
            pq_one_time_prekeys: how many PQ one-time prekeys (1184-byte keys; default 0:
                the signed PQ last-resort prekey serves every sender).
            post_quantum: False makes a classical identity (no PQ prekey; senders then
                need ``allow_classical=True``).
            rng: randomness source (default ``os.urandom``).
            now: creation time of the signed prekeys (seconds since the epoch).
            signed_prekey_lifetime: seconds until the signed (and PQ) prekey expires.

        Returns:
            The new identity (in memory; use a KeyStore to keep it).

        Raises:
            KeyStoreError: bad name, count or lifetime.
            SealArgumentError: an argument of the wrong type.
        """
        _check_generate_arguments(
            name, one_time_prekeys, pq_one_time_prekeys, post_quantum, rng, signed_prekey_lifetime
        )
        created = current_time(now)
        seed = Ed25519Seed(primitives.random_bytes(32, rng=rng))
        spk = st.new_signed_prekey(1, rng, created, signed_prekey_lifetime)
        state = IdentityState(name, seed, {1: spk}, 1, {}, 1, signed_prekey_lifetime)
        if post_quantum:
            pq = st.new_pq_prekey(state, rng, created)
            state.pq_prekeys[pq.id] = pq
            state.current_pq_prekey_id = pq.id
        st.add_one_time_prekeys(state, one_time_prekeys, rng)
        st.add_pq_one_time_prekeys(state, pq_one_time_prekeys, rng)
        return cls(state)

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

    @property
    def post_quantum(self) -> bool:
        """True when this identity publishes a PQ prekey (then it refuses classical X3DH)."""
        return self._state.current_pq_prekey_id is not None

    @property
    def pq_prekey_id(self) -> int | None:
        """The id of the current PQ last-resort prekey, or None for a classical identity."""
        return self._state.current_pq_prekey_id

    def one_time_prekey_ids(self) -> list[int]:
        """Return the ids of the unused one-time prekeys, ascending."""
        with self._lock:
            return sorted(self._state.one_time_prekeys)

    def held_one_time_prekey_ids(self) -> list[int]:
        """Return the ids of the one-time prekeys kept for held, unacknowledged blobs."""
        with self._lock:
            return sorted(prekey_id for kind, prekey_id in self._held if kind == opening.OPK)

    def pq_one_time_prekey_ids(self) -> list[int]:
        """Return the ids of the unused PQ one-time prekeys, ascending."""
        with self._lock:
            return sorted(self._state.pq_one_time_prekeys)

    def fingerprint(self) -> str:
        """Return the safety number of the identity key (12 groups of 5 digits)."""
        return fingerprint(self._state.seed.public)

    def sign(self, message: bytes, *, purpose: str) -> bytes:
        """Sign application bytes under a domain label (verify with ``KeyBundle.verify``).

        The signature covers ``"sealpack/v2/app/" || purpose || 0x00 || message``, so it
        can never stand for a bundle, an envelope or any other structure sealpack signs.

        Args:
            message: the bytes to sign.
            purpose: 1-64 characters of ``[A-Za-z0-9._:/-]`` naming what is signed.

        Returns:
            The 64-byte Ed25519 signature.

        Raises:
            SealArgumentError: ``message`` is not bytes or ``purpose`` is invalid.
        """
        return self._state.seed.sign(app_signed_message(message, purpose=purpose))

    def bundle(self) -> KeyBundle:
        """Return the public bundle (current signed and PQ prekeys, unused one-time prekeys)."""
        with self._lock:
            if self._bundle is None:
                used: dict[bytes, bytes] = {}

                def sign(message: bytes) -> bytes:
                    signature = self._signatures.get(message) or self._state.seed.sign(message)
                    used[message] = signature
                    return signature

                self._bundle = st.build_bundle(self._state, sign)
                self._signatures = used
            return self._bundle

    # --- used by sealpack.x3dh and the envelope -----------------------------------

    def _sign_envelope(self, message: bytes) -> bytes:
        """Sign a sealpack structure that starts with its own ``sealpack/`` domain label."""
        if not message.startswith(b"sealpack/") or message.startswith(APP_SIGNATURE_DOMAIN):
            raise errors.SealArgumentError("an internal signature needs a sealpack domain label")
        return self._state.seed.sign(message)

    def _identity_secret(self) -> X25519Secret:
        return self._state.seed.x25519
