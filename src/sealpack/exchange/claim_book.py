"""The recipient's record of who claimed each of its one-time prekeys (first one wins).

:class:`ClaimBook` maps a one-time prekey id to the identity key of the sender
whose valid signed claim the recipient recorded **first**; a later claim of the
same id, by anyone, never replaces it. It also remembers *void* claims: a claim
seen while its prekey was still offered (nobody had taken it, so the claim is
forged) never counts for that prekey, even after the prekey is taken.

With a key store the record is durable: ``<key store>/datasite-claims``, one
ASCII line per fact, ``<id> <claimer identity key hex>`` (a claim) or
``v <id> <claimer identity key hex>`` (a void claim), appended and fsynced under
an exclusive ``flock``; the first claim line of an id wins, so two processes of
the same peer agree. It lives beside the key store, never in the synced
datasite. Without a key store it is in memory.

The record is compacted once it passes :data:`COMPACT_AT_BYTES`: lines of ids below
the lowest one-time prekey id still held are dropped (ids are handed out in
increasing order and never reused, and a consumed prekey refuses every blob that
names it, so their claims decide nothing any more). "Held" counts a prekey kept apart
for a blob opened with ``hold=True`` and not yet acknowledged: its redelivery checks
the claim again (exchange.peer). The lowest id comes from the
caller's (possibly stale) view of its identity; a stale view only holds more ids,
so it only keeps more lines. The compacted file replaces the record by rename under
the lock, and a writer that locked the old file notices the swap and retries on the
new one, so no claim is lost to the swap. A book that cannot shrink (an old prekey
still held) is compacted again only once it has doubled, so appends stay cheap.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["CLAIM_BOOK_FILE", "COMPACT_AT_BYTES", "ClaimBook"]

CLAIM_BOOK_FILE = "datasite-claims"
COMPACT_AT_BYTES = 1 << 20
"""Compact the record when an append finds it at least this long (~13,000 lines)."""
_MAX_BOOK_BYTES = 64 << 20
_MAX_LINE_BYTES = 2 + 10 + 1 + 64

Entries = tuple[dict[int, bytes], set[tuple[int, bytes]]]


class ClaimBook:
    """First recorded claimer per one-time prekey id, and void claims."""

    def __init__(
        self, path: Path | None = None, *, lowest_held_id: Callable[[], int | None] | None = None
    ) -> None:
        """Keep the record in ``path`` (durable), or in memory when None.

        Args:
            path: the record file (created 0600 on first use), or None.
            lowest_held_id: returns the lowest one-time prekey id the recipient still
                holds (None: none, or unknown); without it the record is never compacted.
        """
        self._path = path
        self._lowest_held_id = lowest_held_id
        self._compact_at = COMPACT_AT_BYTES
        """Size that triggers the next compaction: twice what the last one left."""
        self._claims: dict[int, bytes] = {}
        self._void: set[tuple[int, bytes]] = set()
        self.seen: set[bytes] = set()
        """Digests of claim files already looked at while offered (a cache)."""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ClaimBook(path={str(self._path) if self._path else None!r})"

    def claimer_of(self, prekey_id: int) -> bytes | None:
        """Return the recorded claimer's identity key for ``prekey_id``, or None.

        Args:
            prekey_id: the one-time prekey id.

        Returns:
            The identity key of the first recorded claimer.
        """
        with self._lock:
            if prekey_id not in self._claims and self._path is not None:
                with self._locked_file() as fd:
                    self._merge(_read_entries(fd))
            return self._claims.get(prekey_id)

    def is_void(self, prekey_id: int, claimer_key: bytes) -> bool:
        """Tell whether this claimer's claim of ``prekey_id`` was seen while offered.

        Args:
            prekey_id: the one-time prekey id.
            claimer_key: the claimer's identity key.

        Returns:
            True for a void claim.
        """
        with self._lock:
            if self._path is not None:
                with self._locked_file() as fd:
                    self._merge(_read_entries(fd))
            return (prekey_id, bytes(claimer_key)) in self._void

    def record(self, prekey_id: int, claimer_key: bytes) -> bytes:
        """Record ``claimer_key`` for ``prekey_id`` unless a claimer is recorded already.

        Args:
            prekey_id: the one-time prekey id.
            claimer_key: the identity key of the verified claimer.

        Returns:
            The claimer that holds the id now (the earlier one, if any).

        Raises:
            OSError: the durable record could not be written.
        """
        self._append(prekey_id, claimer_key, void=False)
        with self._lock:
            return self._claims[prekey_id]

    def void(self, prekey_id: int, claimer_key: bytes) -> None:
        """Remember that this claimer's claim of ``prekey_id`` never counts.

        Args:
            prekey_id: the one-time prekey id (still offered when the claim was seen).
            claimer_key: the claimer's identity key.

        Raises:
            OSError: the durable record could not be written.
        """
        self._append(prekey_id, claimer_key, void=True)

    def _append(self, prekey_id: int, claimer_key: bytes, *, void: bool) -> None:
        key = bytes(claimer_key)
        with self._lock:
            if self._path is not None:
                with self._locked_file() as fd:
                    self._merge(_read_entries(fd))
                    if not self._known(prekey_id, key, void):
                        line = f"{'v ' if void else ''}{prekey_id} {key.hex()}\n"
                        os.write(fd, line.encode("ascii"))
                        os.fsync(fd)
                    if os.fstat(fd).st_size >= self._compact_at:
                        self._compact(fd)
            if void:
                self._void.add((prekey_id, key))
            else:
                self._claims.setdefault(prekey_id, key)

    def _known(self, prekey_id: int, key: bytes, void: bool) -> bool:
        return (prekey_id, key) in self._void if void else prekey_id in self._claims

    def _merge(self, entries: Entries) -> None:
        claims, void = entries
        for prekey_id, key in claims.items():
            self._claims.setdefault(prekey_id, key)
        self._void |= void

    def _compact(self, fd: int) -> None:
        """Rewrite the record without the ids below the lowest held one (lock held)."""
        assert self._path is not None
        lowest = self._lowest_held_id() if self._lowest_held_id is not None else None
        if lowest is None:
            return
        claims, void = _read_entries(fd)
        lines = [f"{i} {k.hex()}\n" for i, k in sorted(claims.items()) if i >= lowest]
        lines += [f"v {i} {k.hex()}\n" for i, k in sorted(void) if i >= lowest]
        temp = self._path.with_name(self._path.name + ".compact")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        out = os.open(temp, flags, 0o600)
        try:
            os.write(out, "".join(lines).encode("ascii"))
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(temp, self._path)  # writers waiting on the old file retry (_locked_file)
        self._compact_at = max(COMPACT_AT_BYTES, 2 * sum(map(len, lines)))
        self._claims = {i: k for i, k in self._claims.items() if i >= lowest}
        self._void = {entry for entry in self._void if entry[0] >= lowest}

    @contextlib.contextmanager
    def _locked_file(self) -> Iterator[int]:
        assert self._path is not None
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        while True:
            fd = os.open(self._path, flags, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, self._path):
                break
            os.close(fd)  # compacted and replaced while we waited: lock the new one
        try:
            yield fd
        finally:
            os.close(fd)  # closing releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return os.path.samestat(os.fstat(fd), now)


def _read_entries(fd: int) -> Entries:
    """Parse the record (first claim line per id wins; malformed lines are skipped)."""
    data = os.pread(fd, min(os.fstat(fd).st_size, _MAX_BOOK_BYTES), 0)
    claims: dict[int, bytes] = {}
    void: set[tuple[int, bytes]] = set()
    for line in data.split(b"\n"):
        parts = line.split(b" ")
        is_void = len(parts) == 3 and parts[0] == b"v"
        if is_void:
            parts = parts[1:]
        if len(parts) != 2 or len(line) > _MAX_LINE_BYTES or not parts[0].isdigit():
            continue
        try:
            key = bytes.fromhex(parts[1].decode("ascii"))
        except ValueError:
            continue
        if len(key) != 32:
            continue
        if is_void:
            void.add((int(parts[0]), key))
        else:
            claims.setdefault(int(parts[0]), key)
    return claims, void
