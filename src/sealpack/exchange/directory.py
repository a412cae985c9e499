"""The directory ("datasite") transport: one folder per peer under a root.

Layout (documented byte by byte in docs/spec/datasite.md)::

    <root>/<peer>/public/bundle.json            the peer's KeyBundle JSON
    <root>/<peer>/public/prekeys/<id>.json      one offered one-time prekey each
    <root>/<peer>/public/claimed/<id>-<r>.json  prekeys taken by senders (moved here)
    <root>/<peer>/inbox/<message id>.sealed     sealed blobs addressed to the peer
    <root>/<peer>/quarantine/<id>.sealed + <id>.reason.json
    <root>/<peer>/archive/<message id>.sealed   acknowledged with archive=True

Every file appears atomically (see :mod:`sealpack.exchange.atomic`); hidden
``.*.tmp`` files are in-progress writes and are ignored by readers.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from sealpack import errors
from sealpack.exchange import atomic
from sealpack.exchange.quarantine import QuarantineRecord, decode_record, encode_record
from sealpack.exchange.transport import (
    Writer,
    check_message_id,
    check_peer_name,
    new_message_id,
    sender_hint,
)

__all__ = ["DirectoryTransport"]

BLOB_SUFFIX = ".sealed"
REASON_SUFFIX = ".reason.json"
MAX_BUNDLE_BYTES = 4 << 20
STALE_TEMP_SECONDS = 3600.0
_AREAS = ("public", "public/prekeys", "public/claimed", "inbox", "quarantine", "archive")


class DirectoryTransport:
    """A :class:`~sealpack.exchange.transport.Transport` over a shared folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Use ``root`` as the datasite folder (created if missing).

        Args:
            root: the datasite root directory.

        Raises:
            errors.TransportError: the root cannot be created.
        """
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise errors.TransportError(f"cannot create datasite root {self.root}") from error

    def __repr__(self) -> str:
        return f"DirectoryTransport({str(self.root)!r})"

    def _peer_dir(self, name: str, area: str = "") -> Path:
        base = self.root / check_peer_name(name)
        if not base.is_dir():
            raise errors.TransportError(f"unknown peer {name!r} in {self.root}")
        return base / area if area else base

    def register_peer(self, name: str) -> None:
        """Create the peer's folders if absent and clean stale temporary files."""
        base = self.root / check_peer_name(name)
        try:
            for area in _AREAS:
                (base / area).mkdir(parents=True, exist_ok=True)
            for area in ("inbox", "quarantine", "archive", "public", "public/prekeys"):
                atomic.remove_stale_temporaries(base / area, older_than=STALE_TEMP_SECONDS)
        except OSError as error:
            raise errors.TransportError(f"cannot create peer folder {base}") from error

    def peers(self) -> list[str]:
        """Return the names of the peer folders, sorted."""
        names = []
        for entry in self.root.iterdir():
            with contextlib.suppress(errors.TransportError):
                if entry.is_dir():
                    names.append(check_peer_name(entry.name))
        return sorted(names)

    def publish_bundle(
        self, name: str, bundle_json: str, one_time_prekeys: Mapping[int, bytes]
    ) -> None:
        """Write ``bundle.json`` and one file per newly offered one-time prekey."""
        self.register_peer(name)
        public = self._peer_dir(name, "public")
        atomic.write_atomic(public / "bundle.json", bundle_json.encode("utf-8"))
        # Offered before claimed: a claim racing with us moves a file from the first
        # listing to the second, so no claimed prekey is ever offered again.
        offered = self._offered_ids(name)
        claimed = self._claimed_ids(name)
        for key_id, key in one_time_prekeys.items():
            if key_id in claimed or key_id in offered:
                continue
            token = json.dumps({"id": key_id, "public": bytes(key).hex()}).encode()
            atomic.create_exclusive(public / "prekeys" / f"{key_id}.json", token)
        for key_id in offered - set(one_time_prekeys):
            with contextlib.suppress(FileNotFoundError):
                (public / "prekeys" / f"{key_id}.json").unlink()
        self._forget_consumed_claims(name, set(one_time_prekeys))

    def _forget_consumed_claims(self, name: str, live_ids: set[int]) -> None:
        """Delete claim files of prekeys the owner no longer has (consumed; never reused)."""
        folder = self._peer_dir(name, "public/claimed")
        for entry in os.listdir(folder):
            key_id = _prekey_id(entry.split("-", 1)[0] + ".json")
            if key_id >= 0 and key_id not in live_ids and not atomic.is_temporary(entry):
                with contextlib.suppress(FileNotFoundError):
                    (folder / entry).unlink()

    def _offered_ids(self, name: str) -> set[int]:
        folder = self._peer_dir(name, "public/prekeys")
        return {_prekey_id(entry) for entry in os.listdir(folder)} - {-1}

    def _claimed_ids(self, name: str) -> set[int]:
        folder = self._peer_dir(name, "public/claimed")
        return {_prekey_id(entry.split("-", 1)[0] + ".json") for entry in os.listdir(folder)}

    def fetch_bundle(self, name: str) -> str:
        """Return the peer's ``bundle.json`` text."""
        path = self._peer_dir(name, "public") / "bundle.json"
        try:
            data = _read_regular(path, limit=MAX_BUNDLE_BYTES)
            return data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise errors.TransportError(f"peer {name!r} has no readable bundle") from error

    def bundle_version(self, name: str) -> tuple[int, int, int, int] | None:
        """Return ``(inode, mtime_ns, ctime_ns, size)`` of ``bundle.json`` (not followed).

        Every atomic republish renames a new file in (a new inode and ctime), and
        ``ctime`` cannot be set back by a writer, so an equal token means unchanged
        content. None when the file is missing or the name is invalid.
        """
        try:
            info = (self._peer_dir(name, "public") / "bundle.json").lstat()
        except (OSError, errors.TransportError):
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)

    def claim_one_time_prekey(self, name: str) -> int | None:
        """Move one offered prekey file to ``claimed/``; the rename picks one winner."""
        folder = self._peer_dir(name, "public/prekeys")
        claimed_dir = self._peer_dir(name, "public/claimed")
        for key_id in sorted(self._offered_ids(name)):
            source = folder / f"{key_id}.json"
            target = claimed_dir / f"{key_id}-{os.urandom(8).hex()}.json"
            if atomic.claim_by_rename(source, target):
                return key_id
        return None

    def available_one_time_prekeys(self, name: str) -> int:
        """Return how many prekey files are offered."""
        return len(self._offered_ids(name))

    def deliver(self, recipient: str, blob: bytes | Writer, *, sender: str) -> str:
        """Write the blob to a hidden temporary file, fsync, then rename it in."""
        inbox = self._peer_dir(recipient, "inbox")
        message_id = new_message_id(sender)
        atomic.write_atomic(inbox / f"{message_id}{BLOB_SUFFIX}", blob)
        return message_id

    def list_inbox(self, owner: str) -> list[str]:
        """Return complete messages' ids, oldest first; temporary files are skipped."""
        ids = []
        for entry in os.listdir(self._peer_dir(owner, "inbox")):
            if atomic.is_temporary(entry) or not entry.endswith(BLOB_SUFFIX):
                continue
            with contextlib.suppress(errors.TransportError):
                ids.append(check_message_id(entry[: -len(BLOB_SUFFIX)]))
        return sorted(ids)

    def _blob_path(self, owner: str, message_id: str) -> Path:
        return self._peer_dir(owner, "inbox") / f"{check_message_id(message_id)}{BLOB_SUFFIX}"

    def read_message(self, owner: str, message_id: str) -> bytes:
        """Return one message's bytes."""
        with self.open_message(owner, message_id) as stream:
            return stream.read()

    def open_message(self, owner: str, message_id: str) -> BinaryIO:
        """Open one message (a regular file, never a symlink or FIFO) for reading."""
        path = self._blob_path(owner, message_id)
        try:
            return _open_regular(path)
        except OSError as error:
            raise errors.TransportError(f"no readable message {message_id!r}") from error

    def acknowledge(self, owner: str, message_id: str, *, archive: bool = False) -> None:
        """Delete (or archive) a processed message."""
        path = self._blob_path(owner, message_id)
        with contextlib.suppress(FileNotFoundError):
            if archive:
                atomic.move_durably(path, self._peer_dir(owner, "archive") / path.name)
            else:
                path.unlink()
                atomic.fsync_directory(path.parent)

    def quarantine(
        self, owner: str, message_id: str, *, reason: str, detail: str
    ) -> QuarantineRecord:
        """Write the reason file, then move the blob next to it."""
        path = self._blob_path(owner, message_id)
        folder = self._peer_dir(owner, "quarantine")
        record = QuarantineRecord(
            message_id=message_id,
            reason=reason,
            detail=detail,
            sender_hint=sender_hint(message_id),
            quarantined_at=int(time.time()),
        )
        atomic.write_atomic(folder / f"{message_id}{REASON_SUFFIX}", encode_record(record))
        try:
            atomic.move_durably(path, folder / path.name)
        except FileNotFoundError as error:
            raise errors.TransportError(f"no message {message_id!r} to quarantine") from error
        return record

    def list_quarantine(self, owner: str) -> list[QuarantineRecord]:
        """Return the reason records, oldest first."""
        folder = self._peer_dir(owner, "quarantine")
        records = []
        for entry in sorted(os.listdir(folder)):
            if entry.endswith(REASON_SUFFIX) and not atomic.is_temporary(entry):
                with contextlib.suppress(OSError, errors.TransportError):
                    records.append(decode_record(_read_regular(folder / entry, limit=1 << 20)))
        return records

    def quarantined_blob_path(self, owner: str, message_id: str) -> Path:
        """Return where a quarantined blob is kept."""
        folder = self._peer_dir(owner, "quarantine")
        return folder / f"{check_message_id(message_id)}{BLOB_SUFFIX}"


def _prekey_id(file_name: str) -> int:
    stem, dot, ext = file_name.partition(".")
    if ext != "json" or not dot or not stem.isdigit() or len(stem) > 18:
        return -1
    return int(stem)


def _open_regular(path: Path) -> BinaryIO:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_regular(path: Path, *, limit: int) -> bytes:
    with _open_regular(path) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path.name} is larger than {limit} bytes")
    return data
