"""The directory ("datasite") transport: one folder per peer under a root.

Layout (documented byte by byte in docs/spec/datasite.md)::

    <root>/<peer>/public/bundle.json            the peer's KeyBundle JSON
    <root>/<peer>/public/prekeys/<id>.json      one offered one-time prekey each
    <root>/<peer>/public/claimed/<id>-<r>.json  prekeys taken by senders (moved here)
    <root>/<peer>/inbox/<message id>.sealed     sealed blobs addressed to the peer
    <root>/<peer>/quarantine/<id>.sealed + <id>.reason.json
    <root>/<peer>/archive/<message id>.sealed   acknowledged with archive=True

Every file appears atomically (see :mod:`sealpack.exchange.atomic`); hidden
``.*.tmp`` files are in-progress writes and are ignored by readers. Peer folders,
bundles and prekey files are handled by
:class:`~sealpack.exchange.directory_sites.DirectorySites`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from sealpack import errors, regular_files
from sealpack.exchange import atomic
from sealpack.exchange.directory_sites import (
    MAX_BUNDLE_BYTES,
    STALE_TEMP_SECONDS,
    DirectorySites,
)
from sealpack.exchange.message_ids import (
    Writer,
    check_message_id,
    new_message_id,
    quarantine_record,
)
from sealpack.exchange.quarantine import QuarantineRecord, decode_record, encode_record

__all__ = [
    "BLOB_SUFFIX",
    "MAX_BUNDLE_BYTES",
    "REASON_SUFFIX",
    "STALE_TEMP_SECONDS",
    "DirectoryTransport",
]

BLOB_SUFFIX = ".sealed"
REASON_SUFFIX = ".reason.json"
MAX_REASON_BYTES = 64 << 10


class DirectoryTransport(DirectorySites):
    """A :class:`~sealpack.exchange.transport.Transport` over a shared folder.

    Every method raises ``errors.TransportError`` for an invalid name or id or an
    unknown peer, as documented per method.
    """

    def deliver(self, recipient: str, blob: bytes | Writer, *, sender: str) -> str:
        """Write the blob to a hidden temporary file, fsync, then rename it in.

        Args:
            recipient: the inbox owner.
            blob: the bytes, or a callable writing them to the temporary file.
            sender: the sending peer's name.

        Returns:
            The new message id.

        Raises:
            errors.UnsafePathError: the inbox (or a folder on the way) is a symlink.
            errors.TransportError: unknown recipient or invalid sender name.
            OSError: the write failed (only a hidden temporary file may be left).
        """
        message_id = new_message_id(sender)
        with self._area(recipient, "inbox") as inbox:
            atomic.write_atomic(inbox, f"{message_id}{BLOB_SUFFIX}", blob)
        return message_id

    def list_inbox(self, owner: str) -> list[str]:
        """Return complete messages' ids; temporary and foreign files are skipped.

        Args:
            owner: the inbox owner.

        Returns:
            The ids, oldest first.

        Raises:
            errors.UnsafePathError: the inbox (or a folder on the way) is a symlink.
            errors.TransportError: unknown peer.
        """
        with self._area(owner, "inbox") as inbox:
            names = atomic.list_names(inbox)
        ids = []
        for entry in names:
            if atomic.is_temporary(entry) or not entry.endswith(BLOB_SUFFIX):
                continue
            with contextlib.suppress(errors.TransportError):
                ids.append(check_message_id(entry[: -len(BLOB_SUFFIX)]))
        return sorted(ids)

    def read_message(self, owner: str, message_id: str) -> bytes:
        """Return one message's bytes.

        Args:
            owner: the inbox owner.
            message_id: the message.

        Returns:
            The blob.

        Raises:
            errors.TransportError: invalid id or no readable message.
        """
        with self.open_message(owner, message_id) as stream:
            return stream.read()

    def open_message(self, owner: str, message_id: str) -> BinaryIO:
        """Open one message (a regular file, never a symlink or FIFO) for reading.

        Args:
            owner: the inbox owner.
            message_id: the message.

        Returns:
            The open file (also a context manager).

        Raises:
            errors.UnsafePathError: the message or a folder on the way is a symlink.
            errors.TransportError: invalid id or no readable regular file.
        """
        name = f"{check_message_id(message_id)}{BLOB_SUFFIX}"
        with self._area(owner, "inbox") as inbox:
            try:
                return regular_files.open_regular(inbox, name)
            except OSError as error:
                raise errors.TransportError(f"no readable message {message_id!r}") from error

    def acknowledge(self, owner: str, message_id: str, *, archive: bool = False) -> None:
        """Delete (or archive) a processed message.

        A folder in ``archive/`` under the same name (planted: ``rename`` cannot
        replace it) stays: the blob is archived as ``<message id>.<16 hex>.sealed``.

        Args:
            owner: the inbox owner.
            message_id: the message; one already gone is ignored.
            archive: move it to ``archive/`` instead of deleting it.

        Raises:
            errors.UnsafePathError: the inbox or archive is a symlink.
            errors.TransportError: invalid id, unknown peer, or the entry could not be
                removed (e.g. a folder now stands under the blob's name).
        """
        name = f"{check_message_id(message_id)}{BLOB_SUFFIX}"
        with self._area(owner, "inbox") as inbox:
            try:
                if not archive:
                    if atomic.unlink_entry(inbox, name):
                        atomic.fsync_folder(inbox)
                    return
                with self._area(owner, "archive") as folder, contextlib.suppress(FileNotFoundError):
                    target = _free_name(folder, message_id, BLOB_SUFFIX, keep_any=False)
                    atomic.move_durably(inbox, name, folder, target)
            except OSError as error:
                raise errors.TransportError(f"cannot acknowledge {message_id!r}") from error

    def quarantine(
        self, owner: str, message_id: str, *, reason: str, detail: str
    ) -> QuarantineRecord:
        """Write the reason file, then move the blob next to it.

        A blob already kept under this id is never replaced: the newcomer and its
        reason go to ``<message id>.<16 hex>.sealed`` / ``.reason.json``.

        Args:
            owner: the inbox owner.
            message_id: the refused message.
            reason: the stable reason code.
            detail: the error message.

        Returns:
            The stored record.

        Raises:
            errors.UnsafePathError: the inbox or quarantine is a symlink.
            errors.TransportError: invalid id or no such message in the inbox.
        """
        name = f"{check_message_id(message_id)}{BLOB_SUFFIX}"
        record = quarantine_record(message_id, reason=reason, detail=detail)
        with self._area(owner, "inbox") as inbox, self._area(owner, "quarantine") as folder:
            target = _free_name(folder, message_id, BLOB_SUFFIX, keep_any=True)
            stem = target[: -len(BLOB_SUFFIX)]
            atomic.write_atomic(folder, f"{stem}{REASON_SUFFIX}", encode_record(record))
            try:
                atomic.move_durably(inbox, name, folder, target)
            except FileNotFoundError as error:
                raise errors.TransportError(f"no message {message_id!r} to quarantine") from error
        return record

    def list_quarantine(self, owner: str) -> list[QuarantineRecord]:
        """Return the readable reason records (unreadable or hostile files are skipped).

        Each record is read under limits (size, JSON depth and integer length; see
        :func:`~sealpack.exchange.quarantine.decode_record`).

        Args:
            owner: the inbox owner.

        Returns:
            The records, oldest first.

        Raises:
            errors.UnsafePathError: the quarantine folder is a symlink.
            errors.TransportError: unknown peer.
        """
        records = []
        with self._area(owner, "quarantine") as folder:
            for entry in sorted(atomic.list_names(folder)):
                if entry.endswith(REASON_SUFFIX) and not atomic.is_temporary(entry):
                    with contextlib.suppress(OSError, errors.TransportError):
                        data = regular_files.read_regular(folder, entry, limit=MAX_REASON_BYTES)
                        records.append(decode_record(data))
        return records

    def quarantined_blob_path(self, owner: str, message_id: str) -> Path:
        """Return where a quarantined blob is kept.

        Args:
            owner: the inbox owner.
            message_id: the quarantined message.

        Returns:
            The path of its ``.sealed`` file in ``quarantine/``.

        Raises:
            errors.UnsafePathError: the quarantine folder is a symlink.
            errors.TransportError: invalid id or unknown peer.
        """
        with self._area(owner, "quarantine"):
            pass
        return self.root / owner / "quarantine" / f"{check_message_id(message_id)}{BLOB_SUFFIX}"


def _free_name(folder: int, message_id: str, suffix: str, *, keep_any: bool) -> str:
    """``<id><suffix>``, or ``<id>.<16 hex><suffix>`` when that entry must stay.

    A folder always stays (``rename`` cannot replace it); with ``keep_any`` every
    existing entry does (a quarantined blob is never overwritten). Otherwise a
    file or symlink there is replaced as itself (never written through).
    """
    try:
        mode = os.stat(f"{message_id}{suffix}", dir_fd=folder, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return f"{message_id}{suffix}"
    except OSError:
        mode = stat.S_IFDIR  # unknown: do not touch it
    if not keep_any and not stat.S_ISDIR(mode):
        return f"{message_id}{suffix}"
    return f"{message_id}.{secrets.token_hex(8)}{suffix}"
