"""The key half of the directory transport: peer folders, bundles, prekey files.

:class:`DirectorySites` creates the per-peer folders, publishes ``bundle.json``
and the one-time prekey files, and claims prekeys by ``rename``;
:class:`~sealpack.exchange.directory.DirectoryTransport` adds the inboxes on top.
Every folder below the root is opened without following a symlink
(:mod:`sealpack.exchange.folders`). The layout is documented in
docs/spec/datasite.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from sealpack import errors, regular_files
from sealpack.exchange import atomic, folders
from sealpack.exchange.claims import MAX_CLAIM_BYTES, claim_files, read_claim, unwanted_claim_file
from sealpack.exchange.message_ids import check_peer_name
from sealpack.exchange.prekey_files import (
    CLAIM_SUFFIX_HEX,
    MAX_PREKEY_ID_DIGITS,
    claim_file_name,
    claimed_prekey_id,
    prekey_id,
)

__all__ = [
    "CLAIM_SUFFIX_HEX",
    "MAX_BUNDLE_BYTES",
    "MAX_CLAIMS_READ",
    "MAX_CLAIM_FILE_BYTES",
    "MAX_PREKEY_ID_DIGITS",
    "STALE_TEMP_SECONDS",
    "DirectorySites",
    "claimed_prekey_id",
    "prekey_id",
]

MAX_BUNDLE_BYTES = 4 << 20
MAX_CLAIM_FILE_BYTES = MAX_CLAIM_BYTES
MAX_CLAIMS_READ = 1024
STALE_TEMP_SECONDS = 3600.0
_AREAS = ("public", "public/prekeys", "public/claimed", "inbox", "quarantine", "archive")
_CLEANED_AREAS = ("inbox", "quarantine", "archive", "public", "public/prekeys", "public/claimed")


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

    @contextlib.contextmanager
    def _area(self, name: str, area: str = "", *, create: bool = False) -> Iterator[int]:
        """Open ``<root>/<name>/<area>`` as a folder descriptor, never through a symlink."""
        parts = [check_peer_name(name), *(area.split("/") if area else [])]
        try:
            fd = folders.open_tree(self.root, parts, create=create)
        except errors.UnsafePathError:
            raise
        except errors.TransportError as error:
            if not os.path.lexists(self.root / parts[0]):
                raise errors.TransportError(f"unknown peer {name!r} in {self.root}") from error
            raise
        try:
            yield fd
        finally:
            os.close(fd)

    def register_peer(self, name: str) -> None:
        """Create the peer's folders if absent and clean stale temporary files.

        Args:
            name: the peer.

        Raises:
            errors.UnsafePathError: one of the peer's folders is a symlink.
            errors.TransportError: invalid name, or the folders cannot be created.
        """
        check_peer_name(name)
        try:
            for area in _AREAS:
                with self._area(name, area, create=True) as fd:
                    if area in _CLEANED_AREAS:
                        atomic.remove_stale_temporaries(fd, older_than=STALE_TEMP_SECONDS)
        except OSError as error:
            raise errors.TransportError(f"cannot create peer folder for {name!r}") from error

    def peers(self) -> list[str]:
        """Return the names of the peer folders (symlinks are not peers).

        Returns:
            The valid peer names among the root's sub-folders, sorted.
        """
        root_fd = folders.open_root(self.root)
        try:
            with os.scandir(root_fd) as entries:
                found = [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
        finally:
            os.close(root_fd)
        names = []
        for entry_name in found:
            with contextlib.suppress(errors.TransportError):
                names.append(check_peer_name(entry_name))
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
            errors.UnsafePathError: one of the peer's folders is a symlink.
            errors.TransportError: invalid name or unusable folders.
            OSError: a file could not be written (none is left half-written).
        """
        self.register_peer(name)
        with self._area(name, "public") as public:
            atomic.write_atomic(public, "bundle.json", bundle_json.encode("utf-8"))
        # Offered before claimed: a claim racing with us moves a file from the first
        # listing to the second, so no claimed prekey is ever offered again.
        with self._area(name, "public/prekeys") as offered_fd:
            offered = _ids(atomic.list_names(offered_fd), prekey_id)
            claimed = self._claimed_ids(name)
            for key_id, key in one_time_prekeys.items():
                if key_id in claimed or key_id in offered:
                    continue
                token = json.dumps({"id": key_id, "public": bytes(key).hex()}).encode()
                atomic.create_exclusive(offered_fd, f"{key_id}.json", token)
            for key_id in offered - set(one_time_prekeys):
                atomic.discard_file(offered_fd, f"{key_id}.json")
        self._clean_claimed(name, set(one_time_prekeys))

    def _clean_claimed(self, name: str, live_ids: set[int]) -> None:
        """Delete from ``claimed/`` what is no claim of a prekey ``name`` still holds.

        See :func:`~sealpack.exchange.claims.unwanted_claim_file`: a claim of a
        prekey that is consumed, or still offered *now* (so forged), goes. Folders
        are left (never read); no entry stops publishing.
        """

        def keep(key_id: int) -> bool:
            return key_id in live_ids and not self.offers_one_time_prekey(name, key_id)

        with self._area(name, "public/claimed") as folder:
            for entry in atomic.list_names(folder):
                if unwanted_claim_file(folder, entry, name, keep, STALE_TEMP_SECONDS):
                    atomic.discard_file(folder, entry)

    def _claimed_ids(self, name: str) -> set[int]:
        with self._area(name, "public/claimed") as folder:
            return _ids(atomic.list_names(folder), claimed_prekey_id)

    def fetch_bundle(self, name: str) -> str:
        """Return the peer's ``bundle.json`` text (a regular file, at most 4 MiB).

        Args:
            name: the peer.

        Returns:
            The JSON as published.

        Raises:
            errors.UnsafePathError: a folder on the way, or the file, is a symlink.
            errors.TransportError: unknown peer, or no readable bundle.
        """
        try:
            with self._area(name, "public") as public:
                data = regular_files.read_regular(public, "bundle.json", limit=MAX_BUNDLE_BYTES)
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
            The token; None when the file is missing or the name or a folder is invalid.
        """
        try:
            with self._area(name, "public") as public:
                info = os.stat("bundle.json", dir_fd=public, follow_symlinks=False)
        except (OSError, errors.TransportError):
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)

    def claim_one_time_prekey(
        self, name: str, *, claim: Callable[[int], bytes] | None = None
    ) -> int | None:
        """Move one offered prekey file to ``claimed/``; the rename picks one winner.

        The winner then replaces the moved file's content with its signed claim.

        Args:
            name: the peer whose prekey is taken.
            claim: returns the signed claim for the won id (None: keep the moved file).

        Returns:
            The lowest id this call claimed; None when none is left.

        Raises:
            errors.UnsafePathError: a folder on the way is a symlink.
            errors.TransportError: unknown peer.
        """
        with (
            self._area(name, "public/prekeys") as offered,
            self._area(name, "public/claimed") as claimed,
        ):
            for key_id in sorted(_ids(atomic.list_names(offered), prekey_id)):
                target = claim_file_name(key_id, os.urandom(CLAIM_SUFFIX_HEX // 2).hex())
                if atomic.claim_by_rename(offered, f"{key_id}.json", claimed, target):
                    if claim is not None:
                        atomic.write_atomic(claimed, target, claim(key_id))
                    return key_id
        return None

    def list_claims(self, name: str, prekey_id: int | None = None) -> list[bytes]:
        """Return the claims to ``name`` in ``claimed/``, oldest (by ``ctime``) first.

        Every well-named entry is stat'ed and the regular files are read oldest
        first; only content that decodes as a claim to ``name`` of the id its file
        name carries is returned, and only those count towards ``MAX_CLAIMS_READ``
        (junk files can neither push a claim out nor hide it).

        Args:
            name: the peer whose prekeys are claimed.
            prekey_id: only the claims of this prekey (by file name); None for all.

        Returns:
            The claim bytes (unverified).

        Raises:
            errors.UnsafePathError: a folder on the way is a symlink.
            errors.TransportError: unknown peer.
        """
        found: list[bytes] = []
        with self._area(name, "public/claimed") as claimed:
            for entry, key_id in claim_files(claimed, prekey_id):
                data = read_claim(claimed, entry, name, key_id)
                if data is not None:
                    found.append(data)
                if len(found) >= MAX_CLAIMS_READ:
                    break
        return found

    def offers_one_time_prekey(self, name: str, prekey_id: int) -> bool:
        """Tell whether ``prekeys/<prekey_id>.json`` is still offered (not yet claimed).

        Args:
            name: the peer.
            prekey_id: the one-time prekey id.

        Returns:
            True when the offer file is there (any kind of entry).

        Raises:
            errors.UnsafePathError: a folder on the way is a symlink.
            errors.TransportError: unknown peer.
        """
        with self._area(name, "public/prekeys") as offered:
            try:
                os.stat(f"{prekey_id}.json", dir_fd=offered, follow_symlinks=False)
            except FileNotFoundError:
                return False
            except OSError as error:
                raise errors.TransportError(f"cannot look at {name!r}'s prekeys") from error
        return True

    def available_one_time_prekeys(self, name: str) -> int:
        """Return how many prekey files are offered.

        Args:
            name: the peer.

        Returns:
            The number of ``prekeys/<id>.json`` regular files (a folder or a link
            planted there is no offer a sender can use).

        Raises:
            errors.UnsafePathError: a folder on the way is a symlink.
            errors.TransportError: unknown peer.
        """
        with self._area(name, "public/prekeys") as offered:
            names = [n for n in atomic.list_names(offered) if prekey_id(n) >= 0]
            regular = [n for n in names if stat.S_ISREG(regular_files.lstat_mode_at(offered, n))]
            return len(_ids(regular, prekey_id))


def _ids(names: list[str], parse: Callable[[str], int]) -> set[int]:
    parsed = {parse(entry) for entry in names if not atomic.is_temporary(entry)}
    return parsed - {-1}
