"""An in-memory transport for tests and single-process use.

It has the same semantics as the directory transport (atomic delivery, one
winner per prekey claim, quarantine with reasons) behind one lock, so it is
safe to share between threads of one process.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from sealpack import errors
from sealpack.exchange.quarantine import QuarantineRecord
from sealpack.exchange.transport import (
    Writer,
    check_message_id,
    check_peer_name,
    new_message_id,
    sender_hint,
)

__all__ = ["MemoryTransport"]


@dataclass
class _Site:
    bundle_json: str | None = None
    bundle_version: int = 0
    offered: dict[int, bytes] = field(default_factory=dict)
    claimed: set[int] = field(default_factory=set)
    inbox: dict[str, bytes] = field(default_factory=dict)
    archive: dict[str, bytes] = field(default_factory=dict)
    quarantine: dict[str, tuple[bytes, QuarantineRecord]] = field(default_factory=dict)


class MemoryTransport:
    """A :class:`~sealpack.exchange.transport.Transport` held in process memory."""

    def __init__(self) -> None:
        """Create an empty transport."""
        self._lock = threading.Lock()
        self._sites: dict[str, _Site] = {}

    def __repr__(self) -> str:
        return f"MemoryTransport(peers={sorted(self._sites)!r})"

    def _site(self, name: str) -> _Site:
        site = self._sites.get(check_peer_name(name))
        if site is None:
            raise errors.TransportError(f"unknown peer {name!r}")
        return site

    def register_peer(self, name: str) -> None:
        """Create the peer's areas if absent."""
        with self._lock:
            self._sites.setdefault(check_peer_name(name), _Site())

    def peers(self) -> list[str]:
        """Return all peer names, sorted."""
        with self._lock:
            return sorted(self._sites)

    def publish_bundle(
        self, name: str, bundle_json: str, one_time_prekeys: Mapping[int, bytes]
    ) -> None:
        """Publish a bundle and offer its unclaimed one-time prekeys."""
        with self._lock:
            site = self._sites.setdefault(check_peer_name(name), _Site())
            site.bundle_json = bundle_json
            site.bundle_version += 1
            site.offered = {
                key_id: bytes(public)
                for key_id, public in one_time_prekeys.items()
                if key_id not in site.claimed
            }
            site.claimed &= set(one_time_prekeys)  # consumed ids are never reused

    def fetch_bundle(self, name: str) -> str:
        """Return the peer's bundle JSON."""
        with self._lock:
            bundle_json = self._site(name).bundle_json
        if bundle_json is None:
            raise errors.TransportError(f"peer {name!r} has not published a bundle")
        return bundle_json

    def bundle_version(self, name: str) -> int | None:
        """Return how many times the peer published a bundle (None: never or unknown)."""
        with self._lock:
            site = self._sites.get(name)
            return site.bundle_version if site is not None and site.bundle_version else None

    def claim_one_time_prekey(self, name: str) -> int | None:
        """Take the lowest offered prekey id, or None."""
        with self._lock:
            site = self._site(name)
            if not site.offered:
                return None
            key_id = min(site.offered)
            del site.offered[key_id]
            site.claimed.add(key_id)
            return key_id

    def available_one_time_prekeys(self, name: str) -> int:
        """Return how many prekeys the peer offers."""
        with self._lock:
            return len(self._site(name).offered)

    def deliver(self, recipient: str, blob: bytes | Writer, *, sender: str) -> str:
        """Store a blob in the recipient's inbox; visible only once complete."""
        if callable(blob):
            buffer = io.BytesIO()
            blob(buffer)
            data = buffer.getvalue()
        else:
            data = bytes(blob)
        message_id = new_message_id(sender)
        with self._lock:
            self._site(recipient).inbox[message_id] = data
        return message_id

    def list_inbox(self, owner: str) -> list[str]:
        """Return the inbox message ids, oldest first."""
        with self._lock:
            return sorted(self._site(owner).inbox)

    def read_message(self, owner: str, message_id: str) -> bytes:
        """Return one message's bytes."""
        with self._lock:
            inbox = self._site(owner).inbox
            data = inbox.get(check_message_id(message_id))
        if data is None:
            raise errors.TransportError(f"no message {message_id!r} in {owner!r}'s inbox")
        return data

    def open_message(self, owner: str, message_id: str) -> AbstractContextManager[BinaryIO]:
        """Open one message as a binary stream."""
        data = self.read_message(owner, message_id)

        @contextmanager
        def opened() -> Iterator[BinaryIO]:
            with io.BytesIO(data) as stream:
                yield stream

        return opened()

    def acknowledge(self, owner: str, message_id: str, *, archive: bool = False) -> None:
        """Remove (or archive) a processed message."""
        with self._lock:
            site = self._site(owner)
            data = site.inbox.pop(check_message_id(message_id), None)
            if data is not None and archive:
                site.archive[message_id] = data

    def quarantine(
        self, owner: str, message_id: str, *, reason: str, detail: str
    ) -> QuarantineRecord:
        """Move a refused message to quarantine with its reason."""
        record = QuarantineRecord(
            message_id=check_message_id(message_id),
            reason=reason,
            detail=detail,
            sender_hint=sender_hint(message_id),
            quarantined_at=int(time.time()),
        )
        with self._lock:
            site = self._site(owner)
            data = site.inbox.pop(message_id, None)
            if data is None:
                raise errors.TransportError(f"no message {message_id!r} in {owner!r}'s inbox")
            site.quarantine[message_id] = (data, record)
        return record

    def list_quarantine(self, owner: str) -> list[QuarantineRecord]:
        """Return the quarantine records, oldest first."""
        with self._lock:
            items = self._site(owner).quarantine
            return [items[key][1] for key in sorted(items)]

    def quarantined_blob(self, owner: str, message_id: str) -> bytes:
        """Return the bytes of a quarantined message (for inspection)."""
        with self._lock:
            entry = self._site(owner).quarantine.get(check_message_id(message_id))
        if entry is None:
            raise errors.TransportError(f"no quarantined message {message_id!r}")
        return entry[0]
