"""Receiving in a ``sealpack.Session``: ratchet messages, sealed blobs and starts, and
what happens to a held message's key afterwards (docs/spec/session.md sections 2 and 5).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sealpack import errors, primitives
from sealpack.api import acknowledge, unseal
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.keys.arguments import require_now
from sealpack.session import ratchet, start, wire
from sealpack.session.choice import add_state, retire_established
from sealpack.session.opened import (
    SessionMessage,
    SessionReceipt,
    UnknownSessionError,
    check_inner,
)
from sealpack.session.peer_senders import peer_senders
from sealpack.session.skipped import SessionLimits, SkippedKeys
from sealpack.session.storage import SessionStorage

__all__ = ["Receiving", "now_or_clock"]


def now_or_clock(now: object) -> int:
    """``now`` checked (SealArgumentError), or the clock."""
    checked = None if now is None else require_now(now)
    return int(time.time()) if checked is None else checked


class Receiving:
    """The receiving half of :class:`sealpack.session.Session` (which sets these)."""

    _owner: KeyStore | Identity
    _identity: Identity
    _bundle: KeyBundle | None
    peer_identity_key: bytes
    _storage: SessionStorage
    _limits: SessionLimits
    _rng: primitives.Rng | None

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
        current = now_or_clock(now)
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
        """Open a sealed blob of the peer; every check runs before anything is consumed.

        Senders other than the peer are refused before unsealing. When a check remains
        after unsealing (``expect``, or a TrustStore of senders), the blob is opened held
        and acknowledged only once it passed, so a refused blob opens again (held).
        """
        given = options.pop("senders", None)
        senders, filtered = peer_senders(given, self._bundle, self.peer_identity_key)
        hold = bool(options.pop("hold", False))
        held_here = not hold and (expect is not None or not filtered)
        payload, info = unseal(
            blob,
            recipient=self._owner,
            senders=senders,
            with_metadata=True,
            now=now,
            hold=hold or held_here,
            expect=None if expect is None else start.start_or(expect),
            **options,
        )
        if info.sender.identity_key != self.peer_identity_key:
            raise errors.UnknownSenderError("the sealed blob is from another sender than this peer")
        parsed = start.parse_start(payload)
        obj = payload if parsed is None else parsed[1]  # checked in the frame (start_or)
        if parsed is not None:
            self._register_start(parsed[0], now)
        if held_here:
            acknowledge(self._owner, info)
        return SessionMessage(obj, signed=True, started=parsed is not None, info=info)

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
        self._register_start(parsed[0], now_or_clock(now))
        return parsed[1]

    def _register_start(self, secret: start.StartSecret, current: int) -> None:
        """Add the responder state of a verified start (once per session id)."""
        with self._storage.transaction(self.peer_identity_key) as states:
            if not any(s.session_id == secret.session_id for s in states):
                own = self._identity.public_identity_key
                retire_established(states)
                add_state(
                    states,
                    start.responder_state(
                        secret, self.peer_identity_key, own, rng=self._rng, now=current
                    ),
                )

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
        self._change_skipped(receipt, lambda kept: kept.release(*receipt.slot))

    def set_aside(self, receipt: SessionReceipt, *, now: int | None = None) -> None:
        """Set aside a message opened with ``hold=True`` that the application refused.

        Its key leaves the held keys (at most ``max_held``, so refused messages can never
        fill them and stop the session) and is kept like a skipped message's key: the
        same message opens again if delivered again, until ``max_stored`` or ``max_age``
        deletes the key (then ExpiredError).

        Args:
            receipt: the refused message's ``receipt``.
            now: seconds since the epoch (the kept key's age starts here).

        Raises:
            SealArgumentError: not a SessionReceipt.
            KeyStoreError, KeyStoreLockedError: the state cannot be written.
        """
        if not isinstance(receipt, SessionReceipt):
            raise errors.SealArgumentError("set_aside needs the receipt of a held message")
        current = now_or_clock(now)
        self._change_skipped(
            receipt, lambda kept: kept.set_aside(*receipt.slot, current, self._limits)
        )

    def _change_skipped(
        self, receipt: SessionReceipt, change: Callable[[SkippedKeys], object]
    ) -> None:
        """Apply ``change`` to the kept keys of the receipt's session (a changed copy)."""
        with self._storage.transaction(self.peer_identity_key) as states:
            for index, state in enumerate(states):
                if state.session_id == receipt.session_id:
                    working = state.copy()
                    change(working.skipped)
                    states[index] = working
