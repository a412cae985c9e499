"""``sealpack.Session``: a Double Ratchet session with one peer (docs/spec/session.md).

The first message to a peer is a sealed blob that starts the session; once the peer
answered, messages in both directions are ratchet messages (magic ``SEALSESS``).
"""

from __future__ import annotations

import time
from typing import Any

from sealpack import errors, fobs, primitives
from sealpack.api import acknowledge, seal, unseal
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.keys.arguments import require_now
from sealpack.session import ratchet, start, wire
from sealpack.session.opened import (
    SessionMessage,
    SessionReceipt,
    UnknownSessionError,
    check_inner,
)
from sealpack.session.proof import PURPOSE, body_digest, signed_bytes
from sealpack.session.ratchet import RatchetState
from sealpack.session.skipped import DEFAULT_LIMITS, SessionLimits
from sealpack.session.storage import MemoryStorage, SessionStorage, StoreStorage

__all__ = [
    "MAX_SESSIONS_PER_PEER",
    "Session",
    "SessionMessage",
    "SessionReceipt",
    "UnknownSessionError",
]

MAX_SESSIONS_PER_PEER = 4


def _now(now: object) -> int:
    """``now`` checked (SealArgumentError), or the clock."""
    checked = None if now is None else require_now(now)
    return int(time.time()) if checked is None else checked


class Session:
    """The session(s) of ``owner`` with one peer; every call reads and writes its storage.

    Args:
        owner: a KeyStore (state durable in it, under its lock) or an Identity
            (state in memory, per Session object, unless ``storage`` is given).
        peer: the peer's bundle (needed to start a session) or its identity key.
        storage: where states live (default: from ``owner``).
        limits: bounds on skipped message keys (receiver side).
        rng: randomness for ratchet keys, session starts and nonces.
    """

    def __init__(
        self,
        owner: KeyStore | Identity,
        peer: KeyBundle | bytes,
        *,
        storage: SessionStorage | None = None,
        limits: SessionLimits = DEFAULT_LIMITS,
        rng: primitives.Rng | None = None,
    ) -> None:
        if not isinstance(owner, KeyStore | Identity):
            raise errors.SealArgumentError("owner must be a KeyStore or an Identity")
        self._owner = owner
        self._identity = owner.identity if isinstance(owner, KeyStore) else owner
        self._bundle = peer if isinstance(peer, KeyBundle) else None
        self.peer_identity_key = peer.identity_key if isinstance(peer, KeyBundle) else peer
        if not isinstance(self.peer_identity_key, bytes) or len(self.peer_identity_key) != 32:
            raise errors.SealArgumentError("peer must be a KeyBundle or a 32-byte identity key")
        if storage is None:
            storage = StoreStorage(owner, rng=rng) if isinstance(owner, KeyStore) else None
        self._storage: SessionStorage = storage if storage is not None else MemoryStorage()
        self._limits = limits
        self._rng = rng

    def __repr__(self) -> str:
        return f"Session(owner={self._identity.name!r}, peer={self.peer_identity_key.hex()[:16]})"

    # --- sending -------------------------------------------------------------------

    def seal(
        self,
        obj: object,
        *,
        signed: bool = False,
        now: int | None = None,
        **seal_options: Any,
    ) -> bytes:
        """Encrypt ``obj`` for the peer: a ratchet message, or a sealed start.

        Until the peer answered, this seals (X3DH/PQXDH + signature) the session start
        with ``obj``; afterwards it returns a ratchet message. The advanced state is
        written before the message is returned.

        Args:
            obj: the object (the codec's built-in and registered types).
            signed: sign the message with the identity key (provable to third parties).
            now: seconds since the epoch (default: the clock).
            seal_options: passed to :func:`sealpack.seal` for a sealed start.

        Returns:
            The message bytes.

        Raises:
            SealArgumentError: no bundle of the peer to start a session with.
            KeyStoreError, KeyStoreLockedError: the state cannot be written.
        """
        current = _now(now)
        with self._storage.transaction(self.peer_identity_key) as states:
            sender = _sending_state(states)
            if sender is None:
                return self._seal_start(states, obj, current, seal_options)
            working = sender.copy()
            message = ratchet.encrypt(
                working, self._inner(working, obj, signed), signed=signed, rng=self._rng
            )
            states[states.index(sender)] = working
        return message

    def _inner(self, state: RatchetState, obj: object, signed: bool) -> list[wire.Buffer]:
        """The inner part as buffers: [signature,] then the codec frame's parts (no copy)."""
        parts: list[wire.Buffer] = list(fobs.dumps_buffers(obj))
        if not signed:
            return parts
        message = signed_bytes(state.own_ik, state.peer_ik, state.session_id, body_digest(parts))
        return [self._identity.sign(message, purpose=PURPOSE), *parts]

    def _seal_start(
        self, states: list[RatchetState], obj: object, now: int, options: dict[str, Any]
    ) -> bytes:
        if self._bundle is None:
            raise errors.SealArgumentError("starting a session needs the peer's KeyBundle")
        if {"rng", "now", "sender", "recipients"} & set(options):
            raise errors.SealArgumentError("give rng to Session() and now to seal(), not here")
        pending = next((s for s in states if s.start_secret is not None and s.is_initiator), None)
        if pending is None:
            own = self._identity.public_identity_key
            pending = start.initiator_state(own, self.peer_identity_key, rng=self._rng, now=now)
            _add(states, pending)
        payload = start.start_of(pending).to_payload(obj)
        return seal(
            payload,
            sender=self._owner,
            recipients=[self._bundle],
            now=now,
            rng=self._rng,
            **options,
        )

    # --- receiving -----------------------------------------------------------------

    def open(self, data: bytes, **options: Any) -> Any:
        """Open a message from the peer and return its object (see :meth:`open_message`)."""
        return self.open_message(data, **options).obj

    def open_message(
        self,
        data: bytes,
        *,
        expect: Any = None,
        now: int | None = None,
        hold: bool = False,
        **unseal_options: Any,
    ) -> SessionMessage:
        """Open a ratchet message or a sealed blob (maybe a session start) from the peer.

        The whole message is authenticated, its signature (signed mode) checked and its
        object decoded before the advanced state is written; only then is it returned.

        Args:
            data: the message bytes.
            expect: what the object must match (as for :func:`sealpack.unseal`).
            now: seconds since the epoch (expiry of kept keys; sealed blobs).
            hold: keep the message openable (``redelivered``) until :meth:`acknowledge`
                is called with it: exactly-once delivery across crashes.
            unseal_options: passed to :func:`sealpack.unseal` for a sealed blob.

        Returns:
            The opened :class:`SessionMessage`.

        Raises:
            TamperedError, ReplayError (received already), ExpiredError (older than the
            skipped-key limits), LimitExceededError (skips more than ``max_skip``),
            UnknownSessionError, DecodeError, UnsupportedVersionError, KeyStoreError;
            for a sealed blob, everything :func:`sealpack.unseal` raises.
        """
        current = _now(now)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise errors.SealArgumentError("a session message must be bytes")
        if not wire.is_session_message(data):
            return self._open_sealed(data, expect, current, dict(unseal_options, hold=hold))
        return self._open_ratchet(bytes(data), expect, current, hold)

    def _open_ratchet(self, data: bytes, expect: Any, current: int, hold: bool) -> SessionMessage:
        """Open a ratchet message; the advanced state is written before it is returned."""
        header = wire.parse_header(data)
        with self._storage.transaction(self.peer_identity_key) as states:
            for found in states:
                if found.session_id == header.session_id:
                    break
            else:
                raise UnknownSessionError("no session with this peer has the message's session id")
            working = found.copy()
            inner, flags, again = ratchet.decrypt(
                working,
                data,
                now=current,
                limits=self._limits,
                rng=self._rng,
                header=header,
                hold=hold,
            )
            receipt = None
            if hold:
                receipt = SessionReceipt(header.session_id, header.ratchet_key, header.number)
            opened = check_inner(working, inner, flags, expect, receipt, again)
            working.last_received = current
            states[states.index(found)] = working
        return opened

    def _open_sealed(
        self, blob: Any, expect: Any, now: int, options: dict[str, Any]
    ) -> SessionMessage:
        senders = options.pop("senders", None) or ([self._bundle] if self._bundle else None)
        if senders is None:
            raise errors.SealArgumentError("opening a sealed blob needs senders= or a peer bundle")
        payload, info = unseal(
            blob, recipient=self._owner, senders=senders, with_metadata=True, now=now, **options
        )
        if info.sender.identity_key != self.peer_identity_key:
            raise errors.UnknownSenderError("the sealed blob is from another sender than this peer")
        if start.parse_start(payload) is None:
            return SessionMessage(payload, signed=True, info=info)
        message = self.accept_start(payload, now=now)
        if expect is not None:
            message = fobs.loads(fobs.dumps(message), expect=expect)
        return SessionMessage(message, signed=True, started=True, info=info)

    def accept_start(self, payload: object, *, now: int | None = None) -> object:
        """Take the session start out of a sealed blob's payload, already verified as the peer's.

        For callers that unseal themselves (the datasite inbox): the state is added
        (once per session id) and the application's message returned.

        Args:
            payload: the opened payload of a sealed blob from this peer.
            now: seconds since the epoch (default: the clock).

        Returns:
            The message inside a start, or ``payload`` itself when it starts nothing.

        Raises:
            DecodeError: a malformed start. KeyStoreError: the state cannot be written.
        """
        parsed = start.parse_start(payload)
        if parsed is None:
            return payload
        secret, message = parsed
        current = _now(now)
        with self._storage.transaction(self.peer_identity_key) as states:
            if not any(s.session_id == secret.session_id for s in states):
                own = self._identity.public_identity_key
                _add(
                    states,
                    start.responder_state(
                        secret, self.peer_identity_key, own, rng=self._rng, now=current
                    ),
                )
        return message

    def acknowledge(self, message: SessionMessage | SessionReceipt) -> None:
        """Release a message opened with ``hold=True``: it can never be opened again.

        Args:
            message: the opened message (or its ``receipt``).

        Raises:
            SealArgumentError: the message was not opened with ``hold=True``.
            KeyStoreError, KeyStoreLockedError: the state cannot be written.
        """
        if isinstance(message, SessionMessage) and message.info is not None:
            acknowledge(self._owner, message.info)
            return
        receipt = message.receipt if isinstance(message, SessionMessage) else message
        if not isinstance(receipt, SessionReceipt):
            raise errors.SealArgumentError("acknowledge a message opened with hold=True")
        with self._storage.transaction(self.peer_identity_key) as states:
            for index, state in enumerate(states):
                if state.session_id == receipt.session_id:
                    working = state.copy()
                    working.skipped.release(receipt.ratchet_key, receipt.number)
                    states[index] = working

    def forget(self) -> None:
        """Delete every session state with this peer; the next :meth:`seal` starts anew.

        For a peer that lost its state (its messages name an unknown session, or ours
        raise UnknownSessionError there): the next message is a sealed start again.
        """
        with self._storage.transaction(self.peer_identity_key) as states:
            states.clear()

    @property
    def established(self) -> bool:
        """True when a ratchet message can be sent (the peer answered, or we responded)."""
        with self._storage.transaction(self.peer_identity_key) as states:
            return _sending_state(states) is not None


def _sending_state(states: list[RatchetState]) -> RatchetState | None:
    """The state to send with: of those that can send, the one the peer used last."""
    if len(states) == 1:  # the common case
        return states[0] if states[0].can_send else None
    ready = [s for s in states if s.can_send]
    if not ready:
        return None
    return max(ready, key=lambda s: (s.last_received, s.created, s.session_id))


def _add(states: list[RatchetState], state: RatchetState) -> None:
    """Add a state; drop the least recently used beyond MAX_SESSIONS_PER_PEER."""
    states.append(state)
    while len(states) > MAX_SESSIONS_PER_PEER:
        states.remove(min(states, key=lambda s: (s.last_received, s.created)))
