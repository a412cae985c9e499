"""Authenticated rows of the key store's ``state.db`` (format version 2).

Every row carries ``tag = HMAC-SHA256(K_state, encode_row(table, fields))`` with
``K_state = HKDF-SHA256(ikm = file key, salt = 0x00*32, info = "sealpack/v2/state-mac")``
(an unencrypted store has no file key: ``ikm`` is the identity seed and the info
``"sealpack/v2/state-mac-unencrypted"``, which stops corruption and rows copied between
stores, not a reader of the key file). A row encodes as::

    "sealpack/v2/state-row" 0x00 || u8 len(table) || table
    || for each column: u8 kind || u32be len || value
       (kind 0 null, 1 int as u64be, 2 bytes, 3 UTF-8 text)

Each table has one row in ``row_counts(tbl, count, xor, tag)``: how many rows it holds
and the XOR of their tags, authenticated the same way. Every write updates it in the
same transaction; every transaction that reads a table checks the row count against
it, and opening a store checks every tag and the XOR (``verify_table``). So a deleted,
added, altered or moved row is detected; what is not (an older copy of the whole
database put back) is said in keys.md section 6.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import struct
from collections.abc import Sequence

from sealpack import errors, primitives
from sealpack.keys.secret import RefusesExport

__all__ = ["MAC_INFO", "MAC_INFO_UNENCRYPTED", "Kind", "StateMac", "encode_row"]

MAC_INFO = b"sealpack/v2/state-mac"
MAC_INFO_UNENCRYPTED = b"sealpack/v2/state-mac-unencrypted"
_ROW_DOMAIN = b"sealpack/v2/state-row\x00"
_ZERO = bytes(32)
Value = int | bytes | str | None
TAMPERED = "key store state.db was modified outside sealpack (row {what} fails its tag)"


def encode_row(table: str, fields: Sequence[Value]) -> bytes:
    """The domain-separated encoding of one row that its tag covers."""
    name = table.encode()
    parts = [_ROW_DOMAIN, bytes([len(name)]), name]
    for value in fields:
        if value is None:
            parts.append(b"\x00" + struct.pack(">I", 0))
        elif isinstance(value, int):
            parts.append(b"\x01" + struct.pack(">IQ", 8, value))
        elif isinstance(value, str):
            raw = value.encode()
            parts.append(b"\x03" + struct.pack(">I", len(raw)) + raw)
        else:
            raw = bytes(value)
            parts.append(b"\x02" + struct.pack(">I", len(raw)) + raw)
    return b"".join(parts)


Kind = type | tuple[type, ...]
"""The Python type(s) a column's value must have (checked before any conversion)."""
_COUNT_KINDS: tuple[Kind, ...] = (str, int, bytes)
_U64 = 2**64


def _well_formed(fields: Sequence[object], kinds: Sequence[Kind] | None) -> bool:
    """True when every value is a Value of its column's kind (ints in u64 range)."""
    if kinds is not None and len(kinds) != len(fields):
        return False
    for i, value in enumerate(fields):
        if type(value) is int and not 0 <= value < _U64:
            return False
        if not (value is None or type(value) in (int, bytes, str)):
            return False
        if kinds is not None and not isinstance(value, kinds[i]):
            return False
    return True


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class StateMac(RefusesExport):
    """The state MAC key and the row bookkeeping that uses it (key bytes never shown)."""

    _export_refusal = "state MAC keys cannot be pickled or copied"

    def __init__(self, key: bytes) -> None:
        self.__key = bytes(key)

    @classmethod
    def derive(cls, ikm: bytes, *, encrypted: bool) -> StateMac:
        """Derive K_state from the file key (or, unencrypted, from the identity seed)."""
        info = MAC_INFO if encrypted else MAC_INFO_UNENCRYPTED
        return cls(primitives.hkdf_sha256(ikm, salt=_ZERO, info=info, length=32))

    def __repr__(self) -> str:
        return "StateMac(<hidden>)"

    def tag(self, table: str, fields: Sequence[Value]) -> bytes:
        """HMAC-SHA256 of the row's encoding."""
        return hmac.new(self.__key, encode_row(table, fields), hashlib.sha256).digest()

    def check(
        self,
        table: str,
        fields: Sequence[object],
        tag: object,
        kinds: Sequence[Kind] | None = None,
    ) -> None:
        """KeyStoreError unless every field has its kind and ``tag`` is the row's tag.

        The kinds and ranges are checked first, so a hostile value (a REAL, a negative
        or huge integer, an integer in a BLOB column) never reaches an encoder or cast.
        """
        if not isinstance(tag, bytes) or not _well_formed(fields, kinds):
            raise errors.KeyStoreError(TAMPERED.format(what=f"in {table}"))
        if not hmac.compare_digest(self.tag(table, fields), tag):  # type: ignore[arg-type]
            raise errors.KeyStoreError(TAMPERED.format(what=f"in {table}"))

    # --- row_counts: how many rows each table holds and the XOR of their tags ----------

    def init_counts(self, db: sqlite3.Connection, table: str) -> None:
        """Write the row_counts row of an empty ``table`` (inside the caller's transaction)."""
        self._put_counts(db, table, 0, _ZERO)

    def _put_counts(self, db: sqlite3.Connection, table: str, count: int, acc: bytes) -> None:
        tag = self.tag("row_counts", (table, count, acc))
        db.execute(
            "INSERT OR REPLACE INTO row_counts (tbl, count, xor, tag) VALUES (?, ?, ?, ?)",
            (table, count, acc, tag),
        )

    def counts(self, db: sqlite3.Connection, table: str) -> tuple[int, bytes]:
        """The authenticated (count, xor) of ``table``; checks the live row count."""
        count, acc = self._stored(db, table)
        live = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
        if live != count:
            raise errors.KeyStoreError(
                f"key store state.db was modified outside sealpack ({table} holds {live} "
                f"rows, {count} recorded)"
            )
        return count, acc

    def added(self, db: sqlite3.Connection, table: str, tag: bytes) -> None:
        """Account for one inserted row (the insert already ran in this transaction)."""
        count, acc = self._stored(db, table)
        self._put_counts(db, table, count + 1, _xor(acc, tag))

    def removed(self, db: sqlite3.Connection, table: str, tags: Sequence[bytes]) -> None:
        """Account for deleted rows (their tags, already checked by the caller)."""
        count, acc = self._stored(db, table)
        for tag in tags:
            acc = _xor(acc, tag)
        self._put_counts(db, table, count - len(tags), acc)

    def replaced(self, db: sqlite3.Connection, table: str, old: bytes, new: bytes) -> None:
        """Account for one row updated in place (old tag out, new tag in)."""
        count, acc = self._stored(db, table)
        self._put_counts(db, table, count, _xor(_xor(acc, old), new))

    def _stored(self, db: sqlite3.Connection, table: str) -> tuple[int, bytes]:
        """The (count, xor) row of ``table``, its tag checked (the live count is not)."""
        row = db.execute(
            "SELECT count, xor, tag FROM row_counts WHERE tbl = ?", (table,)
        ).fetchone()
        if row is None:
            raise errors.KeyStoreError(TAMPERED.format(what=f"count of {table} is missing; it"))
        count, acc = row[0], row[1]
        if not isinstance(acc, bytes) or len(acc) != len(_ZERO):
            raise errors.KeyStoreError(TAMPERED.format(what=f"count of {table}; it"))
        self.check("row_counts", (table, count, acc), row[2], _COUNT_KINDS)
        return int(count), acc

    def verify_table(
        self, db: sqlite3.Connection, table: str, columns: Sequence[str], kinds: Sequence[Kind]
    ) -> None:
        """Check every row's kinds and tag, the row count and the XOR of the tags of ``table``."""
        _, acc = self.counts(db, table)
        total = _ZERO
        cursor = db.execute(f"SELECT {', '.join(columns)}, tag FROM {table}")  # noqa: S608
        for row in cursor:
            self.check(table, row[:-1], row[-1], kinds)
            total = _xor(total, bytes(row[-1]))
        if not hmac.compare_digest(total, acc):
            raise errors.KeyStoreError(TAMPERED.format(what=f"set of {table}; it"))
