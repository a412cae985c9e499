"""The client's memory of the newest instruction it accepted, per server and run.

Every sealed instruction carries the server's push counter ``seq`` in its signed
metadata. A node accepts an instruction only if its ``seq`` is at least the highest it
has already accepted from that server in that run, and records the new high mark
before the ClientApp runs. A relay that holds an instruction back and delivers it after
a newer one gets it refused (:class:`StaleInstructionError`), also after the node
restarts: the marks live in ``flower-seen.db`` (SQLite, 0600) inside the node's key
store directory, so they have the protection of that folder.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sealpack.integrations.flower.errors import FlowerIntegrationError, StaleInstructionError

__all__ = ["SEEN_FILE", "SeenInstructions"]

SEEN_FILE = "flower-seen.db"
_SCHEMA = """CREATE TABLE IF NOT EXISTS seen (
    server BLOB NOT NULL, run_id TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (server, run_id))"""


class SeenInstructions:
    """High marks of accepted push counters, durable across processes and restarts."""

    def __init__(self, directory: Path) -> None:
        """Open (creating 0600 if needed) ``flower-seen.db`` in ``directory``.

        Raises:
            FlowerIntegrationError: The file cannot be created or opened.
        """
        path = directory / SEEN_FILE
        try:
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise FlowerIntegrationError(f"cannot open {SEEN_FILE} in the key store") from exc

    def last(self, server: bytes, run_id: int) -> int:
        """The highest ``seq`` accepted from ``server`` (key id) in ``run_id``, or -1.

        Raises:
            FlowerIntegrationError: The database cannot be read.
        """
        try:
            row = self._db.execute(
                "SELECT seq FROM seen WHERE server = ? AND run_id = ?", (server, str(run_id))
            ).fetchone()
        except sqlite3.Error as exc:
            raise FlowerIntegrationError(f"cannot read {SEEN_FILE}") from exc
        return -1 if row is None else int(row[0])

    def advance(self, server: bytes, run_id: int, seq: int) -> None:
        """Raise the high mark to ``seq``, atomically across processes.

        Raises:
            StaleInstructionError: A newer instruction was accepted meanwhile.
            FlowerIntegrationError: The database cannot be written.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq FROM seen WHERE server = ? AND run_id = ?", (server, str(run_id))
                ).fetchone()
                if row is not None and int(row[0]) > seq:
                    raise StaleInstructionError(
                        "instruction is older than one this node already saw"
                    )
                self._db.execute(
                    "INSERT OR REPLACE INTO seen (server, run_id, seq) VALUES (?, ?, ?)",
                    (server, str(run_id), seq),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise FlowerIntegrationError(f"cannot write {SEEN_FILE}") from exc

    def close(self) -> None:
        """Close the database."""
        self._db.close()
