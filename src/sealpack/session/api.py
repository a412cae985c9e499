"""``sealpack.Session``: a Double Ratchet session with one peer (docs/spec/session.md).

The first message to a peer is a sealed blob that starts the session; once the peer
answered, messages in both directions are ratchet messages (magic ``SEALSESS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sealpack import errors, fobs, primitives
from sealpack.api import seal
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.session import ratchet, start, wire
from sealpack.session.choice import (
    MAX_SESSIONS_PER_PEER,
    add_state,
    sending_state,
)
from sealpack.session.opened import (
    SessionEstablishedError,
    SessionMessage,
    SessionReceipt,
    UnknownSessionError,
)
from sealpack.session.proof import PURPOSE, body_digest, signed_bytes
from sealpack.session.ratchet import RatchetState
from sealpack.session.receiving import Receiving, now_or_clock
from sealpack.session.skipped import DEFAULT_LIMITS, SessionLimits
from sealpack.session.storage import MemoryStorage, SessionStorage, StoreStorage

__all__ = [
    "MAX_SESSIONS_PER_PEER",
    "START_ONLY_OPTIONS",
    "Session",
    "SessionMessage",
    "SessionReceipt",
    "UnknownSessionError",
]

START_ONLY_OPTIONS = frozenset({"metadata", "expires_in", "content_type", "codec"})
"""Seal options the receiver sees that only a sealed start carries (SessionEstablishedError
when given to an established session)."""


class Session(Receiving):
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
        deliver: Callable[[bytes], object] | None = None,
        start_options: dict[str, Any] | None = None,
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
            deliver: called with the message, under the store lock, before the advanced
                state is written: when it raises, the state stays as it was (no message
                number is used up by a failed delivery) and its error propagates.
            start_options: options for :func:`sealpack.seal` used only when the message
                is a sealed start (for callers whose object already carries what they
                say, e.g. a context also signed as metadata); ignored for a ratchet one.
            seal_options: passed to :func:`sealpack.seal` for a sealed start. Those the
                receiver sees (START_ONLY_OPTIONS: metadata, expires_in, content_type,
                codec) are refused once the session is established, never dropped.

        Returns:
            The message bytes.

        Raises:
            SealArgumentError: no bundle of the peer to start a session with.
            SessionEstablishedError: START_ONLY_OPTIONS given, but the session is
                established (decided under the store lock: no race with an inbox).
            KeyStoreError, KeyStoreLockedError: the state cannot be written.
        """
        current = now_or_clock(now)
        with self._storage.transaction(self.peer_identity_key) as states:
            sender = sending_state(states)
            if sender is None:
                options = {**(start_options or {}), **seal_options}
                message = self._seal_start(states, obj, current, options)
            else:
                message = self._seal_ratchet(states, sender, obj, signed, seal_options)
            if deliver is not None:
                deliver(message)
        return message

    def _seal_ratchet(
        self,
        states: list[RatchetState],
        sender: RatchetState,
        obj: object,
        signed: bool,
        options: dict[str, Any],
    ) -> bytes:
        if START_ONLY_OPTIONS & set(options):
            raise SessionEstablishedError(
                "the session is established: its messages carry no "
                f"{', '.join(sorted(START_ONLY_OPTIONS & set(options)))}"
            )
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
            add_state(states, pending)
        payload = start.start_of(pending).to_payload(obj)
        return seal(
            payload,
            sender=self._owner,
            recipients=[self._bundle],
            now=now,
            rng=self._rng,
            **options,
        )

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
            return sending_state(states) is not None
