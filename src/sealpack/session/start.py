"""Starting a session inside an ordinary sealed blob (session.md section 2).

The initiator seals (X3DH/PQXDH, signed; the envelope is unchanged) the object::

    {"sealpack.session.start/v2": {"session_id": 16 bytes, "secret": 32 bytes,
                                   "ratchet_key": 32 bytes},
     "message": <the application's object>}

``secret`` is fresh randomness; both sides derive the first root key
``RK0 = HKDF(secret, info = "sealpack/v2/session-start" || session id || IK_initiator
|| IK_responder)``. The initiator takes the role of Bob in Signal's specification
(ratchet key pair = its ``ratchet_key``, RK = RK0); the responder takes Alice's
(a fresh ratchet key pair, ``RK, CKs = KDF_RK(RK0, DH(new key, ratchet_key))``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from sealpack import errors, primitives
from sealpack.keys.secret import RefusesExport
from sealpack.serialization.schema import Spec
from sealpack.serialization.wrappers import when_key, wrapper
from sealpack.session import kdf
from sealpack.session.ratchet import RatchetState, dh, key_pair, new_ratchet_key

__all__ = [
    "START_KEY",
    "StartSecret",
    "initiator_state",
    "parse_start",
    "responder_state",
    "start_or",
]

START_KEY = "sealpack.session.start/v2"
SESSION_ID_SIZE = 16


@dataclass(frozen=True, repr=False, eq=False)
class StartSecret(RefusesExport):
    """What the sealed start carries (never shown in repr)."""

    session_id: bytes
    secret: bytes
    ratchet_key: bytes

    def __repr__(self) -> str:
        return f"StartSecret(session={self.session_id.hex()})"

    def to_payload(self, message: object) -> dict[str, Any]:
        """The object the initiator seals."""
        start = {
            "session_id": self.session_id,
            "secret": self.secret,
            "ratchet_key": self.ratchet_key,
        }
        return {START_KEY: start, "message": message}


class _StartEntry(TypedDict):
    """The start entry's exact keys, all bytes (their lengths are checked by parse_start)."""

    session_id: bytes
    secret: bytes
    ratchet_key: bytes


def start_or(expect: Any) -> Spec:
    """What a sealed blob of a session peer may hold when the application expects
    ``expect``: the object, or a session start wrapping it. Checked on the parsed frame
    like any ``expect``, so nothing is built (no registered type's ``recompose`` runs)
    for a blob that matches neither.

    Args:
        expect: the application's annotation or spec.

    Returns:
        The expectation for the whole payload.
    """
    wrapped = wrapper("a session start", {START_KEY: _StartEntry}, "message", expect)
    return when_key(START_KEY, wrapped, expect)


def initiator_state(
    own_ik: bytes, peer_ik: bytes, *, rng: primitives.Rng | None, now: int
) -> RatchetState:
    """A new initiator state (Bob's role) with a fresh session id, secret and ratchet key."""
    session_id = primitives.random_bytes(SESSION_ID_SIZE, rng=rng)
    secret = primitives.random_bytes(32, rng=rng)
    dhs = new_ratchet_key(rng)
    key, public = key_pair(dhs)
    return RatchetState(
        session_id=session_id,
        initiator_ik=own_ik,
        responder_ik=peer_ik,
        is_initiator=True,
        root_key=kdf.initial_root_key(secret, session_id, own_ik, peer_ik),
        dhs=dhs,
        dhs_public=public,
        start_secret=secret,
        created=now,
        dhs_key=key,
    )


def start_of(state: RatchetState) -> StartSecret:
    """The start an initiator (still waiting for an answer) seals, again if need be."""
    if state.start_secret is None or state.dhs_public is None:  # dropped at the first step
        raise errors.SealArgumentError("this session has started; its start is gone")
    return StartSecret(state.session_id, state.start_secret, state.dhs_public)


def parse_start(payload: object) -> tuple[StartSecret, object] | None:
    """The start and the message of an opened payload, or None if it starts no session.

    Raises:
        DecodeError: the start entry is malformed.
    """
    if type(payload) is not dict or START_KEY not in payload:
        return None  # only a plain dict is a start (what start_or checks as one)
    start = payload.get(START_KEY)
    if not isinstance(start, dict) or set(payload) != {START_KEY, "message"}:
        raise errors.DecodeError("malformed session start (expected start and message)")
    values = [start.get(k) for k in ("session_id", "secret", "ratchet_key")]
    sizes = (SESSION_ID_SIZE, 32, 32)
    if len(start) != 3 or not all(
        isinstance(v, bytes) and len(v) == n for v, n in zip(values, sizes, strict=True)
    ):
        raise errors.DecodeError("malformed session start (session_id 16, secret and key 32)")
    return StartSecret(*values), payload["message"]  # type: ignore[arg-type]


def responder_state(
    start: StartSecret,
    initiator_ik: bytes,
    own_ik: bytes,
    *,
    rng: primitives.Rng | None,
    now: int,
) -> RatchetState:
    """The responder's state (Alice's role): it can send at once."""
    root = kdf.initial_root_key(start.secret, start.session_id, initiator_ik, own_ik)
    dhs = new_ratchet_key(rng)
    key, public = key_pair(dhs)
    state = RatchetState(
        session_id=start.session_id,
        initiator_ik=initiator_ik,
        responder_ik=own_ik,
        is_initiator=False,
        root_key=root,
        dhs=dhs,
        dhs_public=public,
        dhr=start.ratchet_key,
        created=now,
        last_received=now,
        dhs_key=key,
    )
    state.root_key, state.cks = kdf.kdf_rk(root, dh(key, start.ratchet_key))
    state.skipped.start_chain(start.ratchet_key)
    return state
