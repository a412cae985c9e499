"""An in-memory transport for tests and single-process use.

It has the same semantics as the directory transport (atomic delivery, one
winner per prekey claim, quarantine with reasons) behind one lock, so it is
safe to share between threads of one process.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import BinaryIO

from sealpack import errors
from sealpack.exchange.memory_sites import MemorySites
from sealpack.exchange.message_ids import (
    Writer,
    check_message_id,
    new_message_id,
    quarantine_record,
)
from sealpack.exchange.quarantine import QuarantineRecord

__all__ = ["MemoryTransport"]


class MemoryTransport(MemorySites):
    """A :class:`~sealpack.exchange.transport.Transport` held in process memory.

    Peers, bundles and prekeys are handled by :class:`MemorySites`; this class
    adds delivery, inboxes and quarantine.
    """

    def deliver(self, recipient: str, blob: bytes | Writer, *, sender: str) -> str:
        """Store a blob in the recipient's inbox; visible only once complete.

        Args:
            recipient: the inbox owner.
            blob: the bytes, or a callable writing them.
            sender: the sending peer's name.

        Returns:
            The new message id.

        Raises:
            errors.TransportError: unknown recipient or invalid sender name.
        """
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
        """Return the inbox message ids.

        Args:
            owner: the inbox owner.

        Returns:
            The ids, oldest first.

        Raises:
            errors.TransportError: unknown peer.
        """
        with self._lock:
            return sorted(self._site(owner).inbox)

    def read_message(self, owner: str, message_id: str) -> bytes:
        """Return one message's bytes.

        Args:
            owner: the inbox owner.
            message_id: the message.

        Returns:
            The blob.

        Raises:
            errors.TransportError: invalid id or no such message.
        """
        with self._lock:
            inbox = self._site(owner).inbox
            data = inbox.get(check_message_id(message_id))
        if data is None:
            raise errors.TransportError(f"no message {message_id!r} in {owner!r}'s inbox")
        return data

    def open_message(self, owner: str, message_id: str) -> AbstractContextManager[BinaryIO]:
        """Open one message as a binary stream.

        Args:
            owner: the inbox owner.
            message_id: the message.

        Returns:
            A context manager yielding an in-memory stream of the blob.

        Raises:
            errors.TransportError: invalid id or no such message.
        """
        data = self.read_message(owner, message_id)

        @contextmanager
        def opened() -> Iterator[BinaryIO]:
            with io.BytesIO(data) as stream:
                yield stream

        return opened()

    def acknowledge(self, owner: str, message_id: str, *, archive: bool = False) -> None:
        """Remove (or archive) a processed message.

        Args:
            owner: the inbox owner.
            message_id: the message; one already gone is ignored.
            archive: keep it in the archive.

        Raises:
            errors.TransportError: invalid id or unknown peer.
        """
        with self._lock:
            site = self._site(owner)
            data = site.inbox.pop(check_message_id(message_id), None)
            if data is not None and archive:
                site.archive[message_id] = data

    def quarantine(
        self, owner: str, message_id: str, *, reason: str, detail: str
    ) -> QuarantineRecord:
        """Move a refused message to quarantine with its reason.

        Args:
            owner: the inbox owner.
            message_id: the refused message.
            reason: the stable reason code.
            detail: the error message.

        Returns:
            The stored record.

        Raises:
            errors.TransportError: invalid id or no such message in the inbox.
        """
        record = quarantine_record(message_id, reason=reason, detail=detail)
        with self._lock:
            site = self._site(owner)
            data = site.inbox.pop(message_id, None)
            if data is None:
                raise errors.TransportError(f"no message {message_id!r} in {owner!r}'s inbox")
            site.quarantine[message_id] = (data, record)
        return record

    def list_quarantine(self, owner: str) -> list[QuarantineRecord]:
        """Return the quarantine records.

        Args:
            owner: the inbox owner.

        Returns:
            The records, oldest first.

        Raises:
            errors.TransportError: unknown peer.
        """
        with self._lock:
            items = self._site(owner).quarantine
            return [items[key][1] for key in sorted(items)]

    def quarantined_blob(self, owner: str, message_id: str) -> bytes:
        """Return the bytes of a quarantined message (for inspection).

        Args:
            owner: the inbox owner.
            message_id: the quarantined message.

        Returns:
            The blob as received.

        Raises:
            errors.TransportError: invalid id or no such quarantined message.
        """
        with self._lock:
            entry = self._site(owner).quarantine.get(check_message_id(message_id))
        if entry is None:
            raise errors.TransportError(f"no quarantined message {message_id!r}")
        return entry[0]
