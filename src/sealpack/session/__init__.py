"""Double Ratchet sessions after a first sealed message (issue 15; docs/spec/session.md).

``Session(owner, peer)`` seals the first message to a peer as an ordinary sealed blob
that also starts a session; once the peer answered, messages in both directions are
ratchet messages: per-message keys, forward secrecy, post-compromise security after
each round trip, deniable unless sent with ``signed=True``.
"""

from __future__ import annotations

from sealpack.session.api import MAX_SESSIONS_PER_PEER, Session
from sealpack.session.opened import (
    SessionEstablishedError,
    SessionMessage,
    SessionReceipt,
    UnknownSessionError,
)
from sealpack.session.proof import SignedProof
from sealpack.session.skipped import DEFAULT_LIMITS, SessionLimits
from sealpack.session.storage import MemoryStorage, SessionStorage, StoreStorage
from sealpack.session.wire import is_session_message

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_SESSIONS_PER_PEER",
    "MemoryStorage",
    "Session",
    "SessionEstablishedError",
    "SessionLimits",
    "SessionMessage",
    "SessionReceipt",
    "SessionStorage",
    "SignedProof",
    "StoreStorage",
    "UnknownSessionError",
    "is_session_message",
]
