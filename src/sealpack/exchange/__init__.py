"""Secure peer-to-peer exchange over untrusted transports (datasite folders).

``Transport`` is the protocol, ``MemoryTransport`` and ``DirectoryTransport``
implement it, and ``Peer`` sends and receives sealed, verified messages
(refused blobs go to quarantine with a ``QuarantineRecord``). A received
``Message`` is acknowledged after the application processed it and is delivered
again (``redelivered``) otherwise, also after a crash (docs/spec/datasite.md).
"""

from __future__ import annotations

from sealpack.exchange.directory import DirectoryTransport
from sealpack.exchange.memory import MemoryTransport
from sealpack.exchange.peer import Message, Peer
from sealpack.exchange.quarantine import PeerNotTrustedError, QuarantineRecord
from sealpack.exchange.transport import Transport

__all__ = [
    "DirectoryTransport",
    "MemoryTransport",
    "Message",
    "Peer",
    "PeerNotTrustedError",
    "QuarantineRecord",
    "Transport",
]
