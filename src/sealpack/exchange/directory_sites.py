"""The key half of the directory transport: peer folders, bundles, prekey files.

:class:`DirectorySites` creates the per-peer folders, publishes ``bundle.json``
and the one-time prekey files, and claims prekeys by ``rename``;
:class:`~sealpack.exchange.directory.DirectoryTransport` adds the inboxes on top.
The layout is documented in docs/spec/datasite.md.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from sealpack import errors
from sealpack.exchange import atomic
from sealpack.exchange.message_ids import check_peer_name

__all__ = ["MAX_BUNDLE_BYTES", "STALE_TEMP_SECONDS", "DirectorySites", "prekey_id"]

MAX_BUNDLE_BYTES = 4 << 20
STALE_TEMP_SECONDS = 3600.0
_AREAS = ("public", "public/prekeys", "public/claimed", "inbox", "quarantine", "archive")
_CLEANED_AREAS = ("inbox", "quarantine", "archive", "public", "public/prekeys")


class DirectorySites:
    """Peer folders under a datasite root: registration, bundles, prekey claims."""

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
        """Create the peer's folders if absent and clean stale temporary files.

        Args:
            name: the peer.

        Raises:
            errors.TransportError: invalid name, or the folders cannot be created.
        """
        base = self.root / check_peer_name(name)
        try:
            for area in _AREAS:
                (base / area).mkdir(parents=True, exist_ok=True)
            for area in _CLEANED_AREAS:
                atomic.remove_stale_temporaries(base / area, older_than=STALE_TEMP_SECONDS)
        except OSError as error:
            raise errors.TransportError(f"cannot create peer folder {base}") from error

    def peers(self) -> list[str]:
        """Return the names of the peer folders.

        Returns:
            The valid peer names among the root's sub-folders, sorted.
        """
        names = []
        for entry in self.root.iterdir():
            with contextlib.suppress(errors.TransportError):
                if entry.is_dir():
                    names.append(check_peer_name(entry.name))
        return sorted(names)

    def publish_bundle(
        self, name: str, bundle_json: str, one_time_prekeys: Mapping[int, bytes]
    ) -> None:
        """Write ``bundle.json`` and one file per newly offered one-time prekey.

        Args:
            name: the publishing peer (its folders are created if missing).
            bundle_json: its bundle JSON.
            one_time_prekeys: every unconsumed one-time prekey, id to public key.

        Raises:
            errors.TransportError: invalid name or unusable folders.
            OSError: a file could not be written (none is left half-written).
        """
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
            key_id = _claimed_prekey_id(entry)
            if key_id >= 0 and key_id not in live_ids and not atomic.is_temporary(entry):
                with contextlib.suppress(FileNotFoundError):
                    (folder / entry).unlink()

    def _offered_ids(self, name: str) -> set[int]:
        folder = self._peer_dir(name, "public/prekeys")
        return {prekey_id(entry) for entry in os.listdir(folder)} - {-1}

    def _claimed_ids(self, name: str) -> set[int]:
        folder = self._peer_dir(name, "public/claimed")
        return {_claimed_prekey_id(entry) for entry in os.listdir(folder)}

    def fetch_bundle(self, name: str) -> str:
        """Return the peer's ``bundle.json`` text (a regular file, at most 4 MiB).

        Args:
            name: the peer.

        Returns:
            The JSON as published.

        Raises:
            errors.TransportError: unknown peer, or no readable bundle.
        """
        path = self._peer_dir(name, "public") / "bundle.json"
        try:
            data = atomic.read_regular(path, limit=MAX_BUNDLE_BYTES)
            return data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise errors.TransportError(f"peer {name!r} has no readable bundle") from error

    def bundle_version(self, name: str) -> tuple[int, int, int, int] | None:
        """Return ``(inode, mtime_ns, ctime_ns, size)`` of ``bundle.json`` (not followed).

        Every atomic republish renames a new file in (a new inode and ctime), and
        ``ctime`` cannot be set back by a writer, so an equal token means unchanged
        content.

        Args:
            name: the peer.

        Returns:
            The token; None when the file is missing or the name is invalid.
        """
        try:
            info = (self._peer_dir(name, "public") / "bundle.json").lstat()
        except (OSError, errors.TransportError):
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)

    def claim_one_time_prekey(self, name: str) -> int | None:
        """Move one offered prekey file to ``claimed/``; the rename picks one winner.

        Args:
            name: the peer whose prekey is taken.

        Returns:
            The lowest id this call claimed; None when none is left.

        Raises:
            errors.TransportError: unknown peer.
        """
        folder = self._peer_dir(name, "public/prekeys")
        claimed_dir = self._peer_dir(name, "public/claimed")
        for key_id in sorted(self._offered_ids(name)):
            source = folder / f"{key_id}.json"
            target = claimed_dir / f"{key_id}-{os.urandom(8).hex()}.json"
            if atomic.claim_by_rename(source, target):
                return key_id
        return None

    def available_one_time_prekeys(self, name: str) -> int:
        """Return how many prekey files are offered.

        Args:
            name: the peer.

        Returns:
            The number of ``prekeys/<id>.json`` files.

        Raises:
            errors.TransportError: unknown peer.
        """
        return len(self._offered_ids(name))


def prekey_id(file_name: str) -> int:
    """Parse an offered prekey file name ``<id>.json``.

    Args:
        file_name: a directory entry of ``prekeys/``.

    Returns:
        The id; -1 for any other name.
    """
    stem, dot, ext = file_name.partition(".")
    if ext != "json" or not dot or not stem.isdigit() or len(stem) > 18:
        return -1
    return int(stem)


def _claimed_prekey_id(file_name: str) -> int:
    """Parse a claim file name ``<id>-<r>.json`` (-1 for any other name)."""
    return prekey_id(file_name.split("-", 1)[0] + ".json")
