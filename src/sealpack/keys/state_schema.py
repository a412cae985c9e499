"""Tables of the key store's ``state.db``, version 2, and the import of version-1 rows.

Version 2 (every row tagged, see sealpack.keys.state_mac)::

    consumed_prekeys(kind, id, tag)        kind 0: X25519 one-time, 1: PQ one-time
    replay(sender, message_id, expires_at, digest, state, opk, pqpk, tag)
                                           state "held" or "done"; opk/pqpk: the
                                           one-time prekeys the message used (or NULL)
    trust_pins(name, identity_key, tag)
    used_peer_prekeys(recipient, kind, id, tag)
    row_counts(tbl, count, xor, tag)

Version 1 tables (``consumed_one_time_prekeys``, ``seen_messages``, ``pins``,
``used_peer_one_time_prekeys``, no tags) are imported into these, tagged, and dropped,
in one transaction, the first time a version-1 store is opened with its passphrase.
"""

from __future__ import annotations

import sqlite3
from typing import TypeVar

from sealpack import errors
from sealpack.keys.state_mac import Kind, StateMac

__all__ = [
    "COLUMNS",
    "KINDS",
    "create_tables",
    "has_tables",
    "has_v1_tables",
    "import_v1",
    "missing_tables",
]

COLUMNS: dict[str, tuple[str, ...]] = {
    "consumed_prekeys": ("kind", "id"),
    "replay": ("sender", "message_id", "expires_at", "digest", "state", "opk", "pqpk"),
    "trust_pins": ("name", "identity_key"),
    "used_peer_prekeys": ("recipient", "kind", "id"),
}

T = TypeVar("T")
_OPT_INT = (int, type(None))
KINDS: dict[str, tuple[Kind, ...]] = {
    "consumed_prekeys": (int, int),
    "replay": (bytes, bytes, int, bytes, str, _OPT_INT, _OPT_INT),
    "trust_pins": (str, bytes),
    "used_peer_prekeys": (bytes, int, int),
}
"""The Python type of every column of COLUMNS (what a row must hold before any cast)."""

_CREATE = (
    "CREATE TABLE consumed_prekeys (kind INTEGER NOT NULL, id INTEGER NOT NULL,"
    " tag BLOB NOT NULL, PRIMARY KEY (kind, id))",
    "CREATE TABLE replay (sender BLOB NOT NULL, message_id BLOB NOT NULL,"
    " expires_at INTEGER NOT NULL, digest BLOB NOT NULL, state TEXT NOT NULL,"
    " opk INTEGER, pqpk INTEGER, tag BLOB NOT NULL, PRIMARY KEY (sender, message_id))",
    "CREATE TABLE trust_pins (name TEXT PRIMARY KEY, identity_key BLOB NOT NULL,"
    " tag BLOB NOT NULL)",
    "CREATE TABLE used_peer_prekeys (recipient BLOB NOT NULL, kind INTEGER NOT NULL,"
    " id INTEGER NOT NULL, tag BLOB NOT NULL, PRIMARY KEY (recipient, kind, id))",
    "CREATE TABLE row_counts (tbl TEXT PRIMARY KEY, count INTEGER NOT NULL,"
    " xor BLOB NOT NULL, tag BLOB NOT NULL)",
)

_V1_TABLES = (
    "consumed_one_time_prekeys",
    "seen_messages",
    "pins",
    "used_peer_one_time_prekeys",
)


def _tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(row[0]) for row in rows}


def has_tables(db: sqlite3.Connection) -> bool:
    """True when the version-2 tables exist (row_counts marks them)."""
    return "row_counts" in _tables(db)


def missing_tables(db: sqlite3.Connection) -> set[str]:
    """The version-2 tables that do not exist."""
    return {*COLUMNS, "row_counts"} - _tables(db)


def has_v1_tables(db: sqlite3.Connection) -> bool:
    """True when any version-1 table exists."""
    return bool(_tables(db) & set(_V1_TABLES))


def create_tables(db: sqlite3.Connection, mac: StateMac) -> None:
    """Create the empty version-2 tables and their counts (inside the caller's transaction)."""
    for statement in _CREATE:
        db.execute(statement)
    for table in COLUMNS:
        mac.init_counts(db, table)


def _insert(db: sqlite3.Connection, mac: StateMac, table: str, fields: tuple[object, ...]) -> None:
    columns = COLUMNS[table]
    tag = mac.tag(table, fields)  # type: ignore[arg-type]
    marks = ", ".join("?" * (len(columns) + 1))
    db.execute(
        f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}, tag) VALUES ({marks})",  # noqa: S608
        (*fields, tag),
    )
    if db.execute("SELECT changes()").fetchone()[0]:
        mac.added(db, table, tag)


def _v1(value: object, kind: type[T]) -> T:
    """A version-1 value of the expected type (KeyStoreError otherwise, nothing cast)."""
    if not isinstance(value, kind) or (kind is int and not 0 <= value < 2**64):  # type: ignore[operator]
        raise errors.KeyStoreError("key store state.db holds a malformed version-1 row")
    return value


def import_v1(db: sqlite3.Connection, mac: StateMac) -> None:
    """Tag and copy the rows of the version-1 tables present, then drop those tables.

    The version-1 rows had no integrity: importing them trusts the database as found
    (the passphrase holder opening the store vouches for it, as version 1 did).
    """
    present = _tables(db)
    if "consumed_one_time_prekeys" in present:
        for (prekey_id,) in db.execute("SELECT id FROM consumed_one_time_prekeys").fetchall():
            _insert(db, mac, "consumed_prekeys", (0, _v1(prekey_id, int)))
    if "seen_messages" in present:
        query = "SELECT sender, message_id, expires_at FROM seen_messages"
        for sender, message_id, expires_at in db.execute(query).fetchall():
            fields = (
                _v1(sender, bytes),
                _v1(message_id, bytes),
                _v1(expires_at, int),
                b"",
                "done",
                None,
                None,
            )
            _insert(db, mac, "replay", fields)
    if "pins" in present:
        for name, key in db.execute("SELECT name, identity_key FROM pins").fetchall():
            _insert(db, mac, "trust_pins", (_v1(name, str), _v1(key, bytes)))
    if "used_peer_one_time_prekeys" in present:
        query = "SELECT recipient, id FROM used_peer_one_time_prekeys"
        for recipient, prekey_id in db.execute(query).fetchall():
            used = (_v1(recipient, bytes), 0, _v1(prekey_id, int))
            _insert(db, mac, "used_peer_prekeys", used)
    for table in _V1_TABLES:
        if table in present:
            db.execute(f"DROP TABLE {table}")
