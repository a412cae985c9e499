"""What opening a session message gives the application (docs/spec/session.md section 5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sealpack import errors, fobs
from sealpack.api import UnsealedInfo
from sealpack.session import wire
from sealpack.session.proof import SIGNATURE_SIZE, SignedProof
from sealpack.session.ratchet import RatchetState

__all__ = [
    "SessionEstablishedError",
    "SessionMessage",
    "SessionReceipt",
    "UnknownSessionError",
    "check_inner",
]


class UnknownSessionError(errors.NotARecipientError):
    """A session message names a session this side does not hold (never started here,
    or dropped as one of more than MAX_SESSIONS_PER_PEER)."""


class SessionEstablishedError(errors.SealArgumentError):
    """Options only a sealed start can carry (signed metadata, a validity window, a
    content type, another codec) were given, but the session is established, so the
    message would be a ratchet message without them: put them in the object instead."""


@dataclass(frozen=True)
class SessionReceipt:
    """Names a ratchet message opened with ``hold=True`` (for ``Session.acknowledge``)."""

    session_id: bytes
    ratchet_key: bytes
    number: int

    @property
    def slot(self) -> tuple[bytes, int]:
        """(ratchet key, number): where the message's key is kept."""
        return self.ratchet_key, self.number


@dataclass(frozen=True)
class SessionMessage:
    """One opened message.

    ``obj``: the object. ``signed``: provable to a third party (``proof`` for a signed
    ratchet message; a sealed blob is signed by its envelope). ``started``: it came in
    a sealed start. ``info``: the UnsealedInfo of a sealed blob, None for a ratchet
    message. ``receipt``: set when opened with ``hold=True`` (acknowledge it after
    processing). ``redelivered``: it was opened with ``hold=True`` before and not yet
    acknowledged: process it idempotently.
    """

    obj: Any = field(repr=False)  # the plaintext: never in a repr (logs, tracebacks)
    signed: bool
    proof: SignedProof | None = None
    started: bool = False
    info: UnsealedInfo | None = None
    receipt: SessionReceipt | None = None
    redelivered: bool = False


def check_inner(
    state: RatchetState,
    inner: bytes | bytearray,
    flags: int,
    expect: Any,
    receipt: SessionReceipt | None,
    redelivered: bool,
) -> SessionMessage:
    """Check the signature of a signed message, then decode the body.

    Raises:
        TamperedError: the signature does not verify. DecodeError: a bad body.
    """
    proof = None
    body: bytes | bytearray | memoryview = inner  # a large body: views of this one buffer
    if flags & wire.SIGNED:
        if len(inner) < SIGNATURE_SIZE:
            raise errors.TamperedError()
        view = memoryview(inner)
        signature, body = bytes(view[:SIGNATURE_SIZE]), view[SIGNATURE_SIZE:]
        proof = SignedProof(state.peer_ik, state.own_ik, state.session_id, bytes(body), signature)
        if not proof.verify():
            raise errors.TamperedError()
    obj = fobs.loads(body, expect=expect)
    return SessionMessage(obj, proof is not None, proof, receipt=receipt, redelivered=redelivered)
