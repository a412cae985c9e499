"""The Double Ratchet (Signal's specification, section 3) over X25519 (session.md section 3).

``RatchetState`` is one side of one session. :func:`encrypt` and :func:`decrypt` change
the state they are given; callers pass :meth:`RatchetState.copy` and keep the copy only
when the call succeeded (the specification's "discard changes on exception"), and the
durable session persists the copy before any plaintext is returned.

A DH ratchet step is done in two halves (session.md section 5): :func:`decrypt` makes
the receiving chain (one exchange) and draws the next private key; :func:`send_step`,
run by the next :func:`encrypt`, makes its public key and the sending chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from sealpack import errors, primitives
from sealpack.keys.secret import RefusesExport
from sealpack.session import kdf, wire
from sealpack.session.skipped import SessionLimits, SkippedKeys

__all__ = [
    "RatchetState",
    "decrypt",
    "dh",
    "encrypt",
    "key_pair",
    "new_ratchet_key",
    "send_step",
]


def new_ratchet_key(rng: primitives.Rng | None) -> bytes:
    """32 random bytes for an X25519 ratchet private key."""
    return primitives.random_bytes(32, rng=rng)


def _exchange(private: X25519PrivateKey, peer: X25519PublicKey) -> bytes:
    """X25519; TamperedError for a small-order peer key (all-zero output)."""
    try:
        return private.exchange(peer)
    except ValueError as error:
        raise errors.TamperedError() from error


def dh(private: bytes | X25519PrivateKey, public: bytes) -> bytes:
    """X25519(private, public); TamperedError for a small-order public key."""
    if isinstance(private, bytes):
        private = X25519PrivateKey.from_private_bytes(private)
    return _exchange(private, X25519PublicKey.from_public_bytes(public))


def key_pair(private: bytes) -> tuple[X25519PrivateKey, bytes]:
    """The key object of a ratchet private key and its public key (one key generation)."""
    key = X25519PrivateKey.from_private_bytes(private)
    return key, key.public_key().public_bytes_raw()


@dataclass(repr=False, eq=False)
class RatchetState(RefusesExport):
    """One side of a session (keys never shown; pickling refused).

    The sending half of a DH ratchet step is done lazily (Signal's specification allows
    it): after a step, ``dhs`` is the new private key, already drawn, while ``cks`` and
    ``dhs_public`` are None until the next message is sent (:func:`encrypt`), or until
    the next step would need them.
    """

    session_id: bytes
    initiator_ik: bytes
    responder_ik: bytes
    is_initiator: bool
    root_key: bytes = field(compare=False)  # compare=False: never in a pytest diff
    dhs: bytes = field(compare=False)
    dhs_public: bytes | None
    dhr: bytes | None = None
    cks: bytes | None = field(default=None, compare=False)
    ckr: bytes | None = field(default=None, compare=False)
    ns: int = 0
    nr: int = 0
    pn: int = 0
    skipped: SkippedKeys = field(default_factory=SkippedKeys)
    start_secret: bytes | None = field(default=None, compare=False)
    created: int = 0
    last_received: int = 0
    retired: bool = False
    """Receive only: the peer started a newer session after this one could send."""
    dhs_key: X25519PrivateKey | None = field(default=None, compare=False)
    """``dhs`` as a key object, built once (building one costs as much as an exchange)."""
    dhr_key: X25519PublicKey | None = field(default=None, compare=False)
    """``dhr`` as a key object, built once per receiving chain."""

    def __repr__(self) -> str:
        return f"RatchetState(session={self.session_id.hex()}, ns={self.ns}, nr={self.nr})"

    def own_key(self) -> X25519PrivateKey:
        """The ratchet private key object (built from ``dhs`` on first use)."""
        if self.dhs_key is None:
            self.dhs_key = X25519PrivateKey.from_private_bytes(self.dhs)
        return self.dhs_key

    def peer_key(self) -> X25519PublicKey:
        """The peer's current ratchet public key object (``dhr`` must be set)."""
        if self.dhr_key is None:
            assert self.dhr is not None
            self.dhr_key = X25519PublicKey.from_public_bytes(self.dhr)
        return self.dhr_key

    def copy(self) -> RatchetState:
        """A copy whose changes do not reach this state (fields are immutable values)."""
        other = object.__new__(RatchetState)
        other.__dict__.update(self.__dict__)
        other.skipped = self.skipped.copy()
        return other

    @property
    def sending_pending(self) -> bool:
        """True when the sending half of the last DH ratchet step is still to be done."""
        return self.cks is None and self.dhr is not None

    @property
    def can_send(self) -> bool:
        """False for an initiator until the responder's first message arrived."""
        return self.cks is not None or self.dhr is not None

    @property
    def own_ik(self) -> bytes:
        """This side's identity key."""
        return self.initiator_ik if self.is_initiator else self.responder_ik

    @property
    def peer_ik(self) -> bytes:
        """The other side's identity key."""
        return self.responder_ik if self.is_initiator else self.initiator_ik

    def ad(self, header: bytes) -> bytes:
        """The associated data of a message with this header."""
        return wire.AD_LABEL + self.initiator_ik + self.responder_ik + header


def send_step(state: RatchetState) -> None:
    """The sending half of a DH ratchet step: ``dhs`` (drawn at the step) becomes the
    sending key pair and ``RK, CKs = KDF_RK(RK, DH(dhs, DHr))`` (one key generation and
    one exchange). A no-op unless :attr:`RatchetState.sending_pending`."""
    if not state.sending_pending:
        return
    own, public = key_pair(state.dhs)
    shared = _exchange(own, state.peer_key())
    state.dhs_key, state.dhs_public = own, public
    state.root_key, state.cks = kdf.kdf_rk(state.root_key, shared)


def encrypt(
    state: RatchetState,
    parts: Sequence[wire.Buffer],
    *,
    signed: bool,
    rng: primitives.Rng | None,
) -> bytes:
    """RatchetEncrypt: the next message of the sending chain (the state advances).

    ``parts`` concatenated are the inner part (signature if signed, then the body). The
    first message after a DH ratchet step first does the step's sending half.

    Raises:
        SealArgumentError: this side cannot send yet, or the chain is exhausted.
    """
    if not state.can_send:
        raise errors.SealArgumentError("this session cannot send until the peer answered")
    if state.ns >= wire.MAX_COUNTER:
        raise errors.SealArgumentError("session chain exhausted; start a new session")
    send_step(state)
    assert state.cks is not None and state.dhs_public is not None
    state.cks, message_key = kdf.kdf_ck(state.cks)
    chunked = sum([memoryview(part).nbytes for part in parts]) > wire.INLINE_MAX
    flags = (wire.CHUNKED if chunked else 0) | (wire.SIGNED if signed else 0)
    raw = wire.encode_header(flags, state.session_id, state.dhs_public, state.pn, state.ns)
    state.ns += 1
    key = kdf.message_encryption_key(message_key)
    return wire.seal_message(raw, key, parts, state.ad(raw), chunked=chunked, rng=rng)


def decrypt(
    state: RatchetState,
    message: bytes,
    *,
    now: int,
    limits: SessionLimits,
    rng: primitives.Rng | None,
    header: wire.Header | None = None,
    hold: bool = False,
) -> tuple[bytes | bytearray, int, bool]:
    """RatchetDecrypt: open one message (the state advances; use a copy).

    With ``hold``, the message key is kept (``skipped.held``) until released, so the
    same message opens again (redelivered) until it is acknowledged. A message with a
    new ratchet key makes the receiving half of a DH ratchet step only (one exchange);
    the sending half waits for the next :func:`encrypt`.

    Returns:
        (inner plaintext, header flags, redelivered).

    Raises:
        TamperedError: authentication failed. ReplayError: received already.
        ExpiredError: older than the skipped-key limits. LimitExceededError: skips too many.
    """
    if header is None:
        header = wire.parse_header(message)
    if header.session_id != state.session_id:
        raise errors.TamperedError()
    skipped = state.skipped
    if skipped.keys:
        skipped.expire(now, limits)
    slot = (header.ratchet_key, header.number)
    redelivered = slot in skipped.held
    message_key = skipped.held[slot] if redelivered else skipped.take(*slot)
    if message_key is None:
        message_key = _next_key(state, header, now, limits, rng)
    if hold and not redelivered:
        state.skipped.hold(*slot, message_key, limits)
    key = kdf.message_encryption_key(message_key)
    chunked = bool(header.flags & wire.CHUNKED)
    ad = state.ad(message[: wire.HEADER_SIZE])
    payload = memoryview(message)[wire.HEADER_SIZE :]
    inner = wire.open_payload(key, payload, ad, chunked=chunked)
    return inner, header.flags, redelivered


def _next_key(
    state: RatchetState,
    header: wire.Header,
    now: int,
    limits: SessionLimits,
    rng: primitives.Rng | None,
) -> bytes:
    """The key of a message not among the kept ones: ratchet forward to it."""
    if header.ratchet_key == state.dhr:
        if header.number < state.nr:
            _refuse_old(header, state.skipped.floor(header.ratchet_key))
    else:
        floor, end = state.skipped.chains.get(header.ratchet_key, (0, None))
        if end is not None:
            if header.number >= end:
                raise errors.TamperedError()  # past the end the peer announced
            _refuse_old(header, floor)
        _skip(state, header.previous_chain_length, now, limits)
        _dh_ratchet(state, header.ratchet_key, limits, rng)
    _skip(state, header.number, now, limits)
    if state.ckr is None:  # only a state without any receiving chain: not a real peer
        raise errors.TamperedError()
    state.ckr, message_key = kdf.kdf_ck(state.ckr)
    state.nr += 1
    return message_key


def _refuse_old(header: wire.Header, floor: int) -> NoReturn:
    """A message of a known chain whose key is not kept: too old, or a replay."""
    if header.number < floor:
        raise errors.ExpiredError(
            f"session message #{header.number} of its chain arrived after its key was "
            "deleted (older than the session's skipped-message limits, or received already)"
        )
    raise errors.ReplayError(f"session message #{header.number} was already received")


def _skip(state: RatchetState, until: int, now: int, limits: SessionLimits) -> None:
    """SkipMessageKeys: keep the keys of messages not yet received up to ``until``."""
    if until - state.nr > limits.max_skip:
        raise errors.LimitExceededError(
            f"session message skips {until - state.nr} messages "
            f"(more than max_skip={limits.max_skip})"
        )
    if state.ckr is None or state.dhr is None:
        return
    while state.nr < until:
        state.ckr, message_key = kdf.kdf_ck(state.ckr)
        state.skipped.add(state.dhr, state.nr, message_key, now, limits)
        state.nr += 1


def _dh_ratchet(
    state: RatchetState, ratchet_key: bytes, limits: SessionLimits, rng: primitives.Rng | None
) -> None:
    """DHRatchet, receiving half: a new receiving chain from the peer's new key (one
    exchange); our next key pair is drawn now, the sending chain made by send_step."""
    if state.dhr is not None:
        send_step(state)  # a step still pending (we never sent): keep the root chain whole
        state.skipped.retire(state.dhr, state.nr, limits)
    state.pn, state.ns, state.nr = state.ns, 0, 0
    state.dhr, state.dhr_key = ratchet_key, None
    state.skipped.start_chain(ratchet_key)
    shared = _exchange(state.own_key(), state.peer_key())
    state.root_key, state.ckr = kdf.kdf_rk(state.root_key, shared)
    state.dhs, state.dhs_key = new_ratchet_key(rng), None
    state.dhs_public = state.cks = state.start_secret = None
