"""An authenticated SQLite connection: transactions and tag-checked row reads/inserts.

The base of sealpack.keys.state_db.StateDB: one connection serialized by a lock, every
transaction ``BEGIN IMMEDIATE`` (``synchronous=FULL``), every row written with its tag and
every row read checked against it (sealpack.keys.state_mac), SQLite errors turned into
KeyStoreError.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sealpack import errors
from sealpack.keys import state_schema
from sealpack.keys.state_mac import StateMac, Value

__all__ = ["AuthenticatedDB", "Db", "Row"]

_BUSY_TIMEOUT = 30.0
T = TypeVar("T")
Db = sqlite3.Connection
Row = tuple[Any, ...]


class AuthenticatedDB:
    """One SQLite connection whose rows are all authenticated."""

    def __init__(self, path: Path, mac: StateMac) -> None:
        self._mac = mac
        try:
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=_BUSY_TIMEOUT
            )
            self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as error:
            raise errors.KeyStoreError(f"cannot open key store state {path}: {error}") from None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "StateDB(<authenticated>)"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[Db]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise errors.KeyStoreError(f"key store state is unavailable: {error}") from None
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                raise errors.KeyStoreError(f"key store state write failed: {error}") from None

    def _run(self, work: Callable[[Db], T]) -> T:
        """Run ``work`` in one transaction; SQLite failures and hostile values (a cast or
        an encoding that fails) become KeyStoreError, sealpack's own errors pass."""
        try:
            with self._transaction() as db:
                return work(db)
        except errors.SealpackError:
            raise
        except sqlite3.Error as error:
            raise errors.KeyStoreError(f"key store state.db failed: {error}") from None
        except (struct.error, TypeError, ValueError, OverflowError) as error:
            raise errors.KeyStoreError(
                f"key store state.db holds a malformed value ({type(error).__name__})"
            ) from None

    # --- schema -------------------------------------------------------------------------

    def initialize(self) -> None:
        """Create the version-2 tables and import version-1 rows (one transaction), then verify.

        Version-1 rows are imported only into a database that has no version-2 tables yet
        (a migration interrupted after this step finds them and imports nothing).
        """

        def work(db: Db) -> None:
            if state_schema.has_tables(db):
                if state_schema.has_v1_tables(db):
                    raise errors.KeyStoreError(
                        "key store state.db holds version-1 tables beside version-2 ones "
                        "(planted?); refusing to import them"
                    )
                return
            state_schema.create_tables(db, self._mac)
            state_schema.import_v1(db, self._mac)

        self._run(work)
        self.verify()

    def verify(self) -> None:
        """Check every row of every table (KeyStoreError on any sign of tampering)."""

        def work(db: Db) -> None:
            if not state_schema.has_tables(db):
                raise errors.KeyStoreError(
                    "key store state.db has no authenticated tables (replaced or wiped?)"
                )
            missing = state_schema.missing_tables(db)
            if missing:
                raise errors.KeyStoreError(
                    f"key store state.db was modified outside sealpack (tables "
                    f"{', '.join(sorted(missing))} missing)"
                )
            for table, columns in state_schema.COLUMNS.items():
                self._mac.verify_table(db, table, columns, state_schema.KINDS[table])

        self._run(work)

    def _insert(self, db: Db, table: str, fields: tuple[Value, ...]) -> None:
        columns = state_schema.COLUMNS[table]
        tag = self._mac.tag(table, fields)
        marks = ", ".join("?" * (len(columns) + 1))
        db.execute(
            f"INSERT INTO {table} ({', '.join(columns)}, tag) VALUES ({marks})",  # noqa: S608
            (*fields, tag),
        )
        self._mac.added(db, table, tag)

    def _select(self, db: Db, table: str, where: str, params: tuple[Value, ...]) -> list[Row]:
        """Rows of ``table`` matching ``where``, each tag checked (tag column dropped)."""
        self._mac.counts(db, table)
        columns = state_schema.COLUMNS[table]
        query = f"SELECT {', '.join(columns)}, tag FROM {table} WHERE {where}"  # noqa: S608
        rows = []
        for row in db.execute(query, params).fetchall():
            self._mac.check(table, row[:-1], row[-1], state_schema.KINDS[table])
            rows.append(tuple(row[:-1]))
        return rows
