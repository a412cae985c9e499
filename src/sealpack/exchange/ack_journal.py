"""A local journal that makes acknowledging a message complete even across a crash.

Acknowledging takes two durable steps in two places: removing the blob from the
inbox (the synced folder) and turning the message's replay row ``done`` in the
key store (which deletes its one-time prekey). A crash between them would leave
the row ``held`` and the prekey's private key kept for good. So, with a key
store, acknowledging first writes ``<key store>/datasite-acks/<message id>.json``
(``{"message_id": hex, "sender_key_id": hex}``, the envelope's ids; temp + fsync +
rename), then takes both steps, then deletes the entry; every inbox pass first
finishes the entries a crash left behind. The journal lives beside the key
store, never in the synced folder. A bare ``Identity`` (in-memory replay guard)
needs none.

A ratchet message (issue 15) is acknowledged the same way: removing the file, then
releasing its held message key in the session state. Its entry is
``<message id>.ratchet``: ``{"peer": hex identity key, "session_id": hex,
"ratchet_key": hex, "number": int}`` (the :class:`~sealpack.session.SessionReceipt`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from sealpack import errors, regular_files
from sealpack.exchange import atomic, folders
from sealpack.exchange.message_ids import check_message_id
from sealpack.session import SessionReceipt

__all__ = ["ACK_JOURNAL_FOLDER", "AckJournal", "PendingAck", "PendingRatchetAck"]

ACK_JOURNAL_FOLDER = "datasite-acks"
_SUFFIX = ".json"
_RATCHET_SUFFIX = ".ratchet"
_MAX_ENTRY_BYTES = 1024

PendingAck = tuple[str, bytes, bytes]
"""``(transport message id, sender key id, envelope message id)``."""

PendingRatchetAck = tuple[str, bytes, SessionReceipt]
"""``(transport message id, peer identity key, receipt of the held message)``."""


class AckJournal:
    """Pending acknowledgements of one peer (durable in a folder, or none at all)."""

    def __init__(self, folder: Path | None) -> None:
        """Keep entries in ``folder`` (created on first use); None disables the journal.

        Args:
            folder: the journal folder, beside the key store.
        """
        self._folder = folder

    def __repr__(self) -> str:
        return f"AckJournal({str(self._folder) if self._folder else None!r})"

    @contextlib.contextmanager
    def _open(self) -> Iterator[int]:
        assert self._folder is not None
        self._folder.mkdir(mode=0o700, exist_ok=True)
        with folders.open_folder(self._folder, []) as fd:
            yield fd

    def begin(self, message_id: str, sender_key_id: bytes, envelope_id: bytes) -> None:
        """Durably note that ``message_id`` is being acknowledged.

        Args:
            message_id: the transport's message id.
            sender_key_id: the envelope's sender key id.
            envelope_id: the envelope's message id.

        Raises:
            OSError: the entry could not be written.
        """
        if self._folder is None:
            return
        entry = {"message_id": envelope_id.hex(), "sender_key_id": sender_key_id.hex()}
        with self._open() as fd:
            name = check_message_id(message_id) + _SUFFIX
            atomic.write_atomic(fd, name, json.dumps(entry).encode(), mode=0o600)

    def begin_ratchet(self, message_id: str, peer_key: bytes, receipt: SessionReceipt) -> None:
        """Durably note that the ratchet message ``message_id`` is being acknowledged.

        Raises:
            OSError: the entry could not be written.
        """
        if self._folder is None:
            return
        entry = {
            "peer": peer_key.hex(),
            "session_id": receipt.session_id.hex(),
            "ratchet_key": receipt.ratchet_key.hex(),
            "number": receipt.number,
        }
        with self._open() as fd:
            name = check_message_id(message_id) + _RATCHET_SUFFIX
            atomic.write_atomic(fd, name, json.dumps(entry).encode(), mode=0o600)

    def end(self, message_id: str) -> None:
        """Forget a finished acknowledgement (of a sealed blob or a ratchet message).

        Args:
            message_id: the transport's message id.
        """
        if self._folder is None:
            return
        with self._open() as fd:
            names = [check_message_id(message_id) + s for s in (_SUFFIX, _RATCHET_SUFFIX)]
            if any([atomic.unlink_entry(fd, name) for name in names]):
                atomic.fsync_folder(fd)

    def pending_ratchet(self) -> list[PendingRatchetAck]:
        """Return the ratchet-message acknowledgements a crash left unfinished.

        Returns:
            ``(message id, peer identity key, receipt)`` for each entry.
        """
        if self._folder is None or not self._folder.is_dir():
            return []
        found: list[PendingRatchetAck] = []
        with self._open() as fd:
            for name in atomic.list_names(fd):
                if atomic.is_temporary(name) or not name.endswith(_RATCHET_SUFFIX):
                    continue
                try:
                    data = regular_files.read_regular(fd, name, limit=_MAX_ENTRY_BYTES)
                    found.append(_parse_ratchet(name, data))
                except (OSError, ValueError, TypeError, errors.SealpackError):
                    atomic.unlink_entry(fd, name)
        return found

    def pending(self) -> list[PendingAck]:
        """Return the acknowledgements a crash left unfinished (malformed entries dropped).

        Returns:
            ``(message id, sender key id, envelope id)`` for each entry.
        """
        if self._folder is None or not self._folder.is_dir():
            return []
        found: list[PendingAck] = []
        with self._open() as fd:
            for name in atomic.list_names(fd):
                if atomic.is_temporary(name) or not name.endswith(_SUFFIX):
                    continue
                try:
                    found.append(
                        _parse(name, regular_files.read_regular(fd, name, limit=_MAX_ENTRY_BYTES))
                    )
                except (OSError, ValueError, TypeError, errors.SealpackError):
                    atomic.unlink_entry(fd, name)
        return found


def _parse(name: str, data: bytes) -> PendingAck:
    raw = json.loads(data.decode("utf-8"))
    if not isinstance(raw, dict) or sorted(raw) != ["message_id", "sender_key_id"]:
        raise ValueError("journal entry fields")
    message_id = check_message_id(name[: -len(_SUFFIX)])
    return message_id, bytes.fromhex(raw["sender_key_id"]), bytes.fromhex(raw["message_id"])


def _parse_ratchet(name: str, data: bytes) -> PendingRatchetAck:
    raw = json.loads(data.decode("utf-8"))
    if not isinstance(raw, dict) or sorted(raw) != ["number", "peer", "ratchet_key", "session_id"]:
        raise ValueError("journal entry fields")
    if not isinstance(raw["number"], int) or isinstance(raw["number"], bool):
        raise ValueError("journal entry number")
    receipt = SessionReceipt(
        bytes.fromhex(raw["session_id"]), bytes.fromhex(raw["ratchet_key"]), raw["number"]
    )
    return check_message_id(name[: -len(_RATCHET_SUFFIX)]), bytes.fromhex(raw["peer"]), receipt
