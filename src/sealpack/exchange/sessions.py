"""Double Ratchet sessions between datasite peers (issue 15; docs/spec/datasite.md, "Sessions").

A single-recipient ``Peer.send`` to a peer without an established session is a
sealed blob that also starts one (``Session.seal``); once the peer answered, the
messages are ratchet messages. The signed metadata of a sealed blob (and its
validity window) travel inside the ratchet message's object, in a wrapper the
receiving inbox checks before the application sees anything::

    {"sealpack.datasite/v2": {"metadata": {...}, "sent": int, "expires": int},
     "obj": <the application's object>}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from sealpack import errors, primitives
from sealpack.envelope.expect import ExpectMetadata, check_expected
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.serialization.schema import Spec
from sealpack.serialization.wrappers import wrapper
from sealpack.session import MemoryStorage, Session, SessionReceipt, is_session_message
from sealpack.session.start import START_KEY
from sealpack.session.wire import MAGIC

__all__ = [
    "SESSION_MAGIC_SIZE",
    "WRAPPER_KEY",
    "PeerSessions",
    "RatchetOpened",
    "is_session_message",
    "read_bounded",
]

WRAPPER_KEY = "sealpack.datasite/v2"
SESSION_MAGIC_SIZE = len(MAGIC)
MAX_SESSION_MESSAGE = 1 << 30
"""The largest ratchet message the inbox reads (it is opened in memory; a sender that
needs more streams a sealed blob, ``send(stream=True)``)."""


@dataclass(frozen=True)
class RatchetOpened:
    """A ratchet message opened (held) by the inbox, with its checked context."""

    metadata: dict[str, Any]
    obj: Any
    redelivered: bool
    receipt: SessionReceipt


class PeerSessions:
    """The sessions of one peer: durable in its key store, or in memory for an Identity.

    Args:
        owner: the peer's key store or bare identity.
        enabled: send through sessions and accept session starts (``Peer(sessions=)``);
            ratchet messages of sessions already held are opened either way.
        rng: randomness for ratchet keys and nonces.
    """

    def __init__(
        self,
        owner: KeyStore | Identity,
        *,
        enabled: bool = True,
        rng: primitives.Rng | None = None,
    ) -> None:
        self._owner = owner
        self._memory = None if isinstance(owner, KeyStore) else MemoryStorage()
        self.enabled = enabled
        self._rng = rng

    def __repr__(self) -> str:
        return f"PeerSessions(enabled={self.enabled})"

    def session(self, peer: KeyBundle | bytes) -> Session:
        """The session(s) with one peer (its bundle, or its pinned identity key)."""
        return Session(self._owner, peer, storage=self._memory, rng=self._rng)

    def seal_ratchet(
        self,
        peer_key: bytes,
        obj: object,
        metadata: Mapping[str, Any] | None,
        *,
        expires_in: int,
        now: int | None,
        deliver: Callable[[bytes], object] | None = None,
    ) -> bytes | None:
        """A ratchet message to the peer, or None when no session is established.

        Args:
            peer_key: the peer's pinned identity key.
            obj: the application's object.
            metadata: the application metadata (checked by the receiver).
            expires_in: validity window in seconds.
            now: sending time (default: the clock).
            deliver: hands the message on before the state is written
                (``Session.seal(deliver=)``: a failed delivery uses up nothing).

        Returns:
            The message bytes, or None (send a sealed start instead).

        Raises:
            KeyStoreError: the session state cannot be written.
        """
        if not self.enabled:
            return None
        session = self.session(peer_key)
        if not session.established:
            return None
        sent = int(time.time()) if now is None else now
        context = {"metadata": dict(metadata or {}), "sent": sent, "expires": sent + expires_in}
        return session.seal({WRAPPER_KEY: context, "obj": obj}, now=now, deliver=deliver)

    def accept_start(self, sender_key: bytes, payload: object, *, now: int | None) -> object:
        """Unwrap a verified sealed blob's payload; register its session start if enabled.

        Returns:
            The application's object (the payload itself when it starts nothing).
        """
        if self.enabled:
            return self.session(sender_key).accept_start(payload, now=now)
        if isinstance(payload, dict) and set(payload) == {"message", START_KEY}:
            return payload["message"]  # opted out: the message, without the session
        return payload

    def open_ratchet(
        self,
        peer_key: bytes,
        data: bytes,
        *,
        now: int | None,
        expect_metadata: ExpectMetadata,
        expect: Any,
    ) -> RatchetOpened:
        """Open (held) a ratchet message from the hinted peer and check its context.

        Raises:
            UnknownSessionError: not a session with that peer (a wrong hint, a lost state).
            TamperedError, ReplayError, ExpiredError, LimitExceededError: from the ratchet.
            DecodeError: no datasite wrapper; SchemaError: ``expect`` not matched.
            ExpiredError: past the sender's validity window.
            ContextMismatchError: ``expect_metadata`` not matched.
        """
        session = self.session(peer_key)
        wrapped = None if expect is None else _wrapped_expect(expect)  # checked before building
        opened = session.open_message(data, now=now, hold=True, expect=wrapped)
        if opened.receipt is None:  # pragma: no cover - hold=True always gives one
            raise errors.DecodeError("a ratchet message opened without a receipt")
        try:
            metadata, obj = _unwrap(opened.obj, int(time.time()) if now is None else now)
            check_expected(metadata, expect_metadata)
        except errors.SealpackError:
            session.set_aside(opened.receipt, now=now)  # refused: never fills max_held
            raise
        return RatchetOpened(metadata, obj, opened.redelivered, opened.receipt)

    def acknowledge(self, peer_key: bytes, receipt: SessionReceipt) -> None:
        """Release a held ratchet message: it can never be opened again."""
        self.session(peer_key).acknowledge(receipt)


def read_bounded(stream: BinaryIO) -> bytes:
    """Read a whole ratchet message, refusing one larger than MAX_SESSION_MESSAGE.

    Raises:
        LimitExceededError: the message is larger.
    """
    data = stream.read(MAX_SESSION_MESSAGE + 1)
    if len(data) > MAX_SESSION_MESSAGE:
        raise errors.LimitExceededError(
            f"a session message larger than {MAX_SESSION_MESSAGE} bytes; send large "
            "payloads as streamed sealed blobs"
        )
    return data


def _wrapped_expect(expect: Any) -> Spec:
    """The expectation of a datasite ratchet payload whose object must match ``expect``
    (its context is checked by :func:`_unwrap`)."""
    return wrapper("a datasite session message", {WRAPPER_KEY: dict[str, Any]}, "obj", expect)


def _unwrap(payload: object, now: int) -> tuple[dict[str, Any], Any]:
    """The metadata and object of a datasite ratchet message, its window checked."""
    if not isinstance(payload, dict) or set(payload) != {WRAPPER_KEY, "obj"}:
        raise errors.DecodeError("a datasite session message needs its context and object")
    context = payload[WRAPPER_KEY]
    if not isinstance(context, dict) or set(context) != {"metadata", "sent", "expires"}:
        raise errors.DecodeError("malformed datasite session context")
    metadata, sent, expires = context["metadata"], context["sent"], context["expires"]
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise errors.DecodeError("datasite session metadata must be a map with str keys")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sent, expires)):
        raise errors.DecodeError("datasite session times must be integers")
    if now > expires:
        raise errors.ExpiredError("the session message is past its validity window")
    return metadata, payload["obj"]
