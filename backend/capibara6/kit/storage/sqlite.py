"""The embedded backend: one SQLite file in the service's state directory.

Each transaction opens its own connection (waitress serves on many threads,
and sqlite3 connections must not be shared between them). WAL mode with
synchronous=FULL: a commit is on disk before the reply, so a kill -9 or a
power loss loses nothing that was acknowledged. Writers begin IMMEDIATE,
taking the file's write lock at once, which also serialises migrations
between processes.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path

from capibara6.kit.storage import Database, Schema, Statements


class SqliteDatabase(Database):
    backend = "sqlite"

    def __init__(self, path: Path, schema: Schema, *, busy_timeout: float = 10.0):
        super().__init__(schema, where=str(Path(path).resolve()))
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # reported by the first transaction, as any other storage failure

    @contextmanager
    def _begin(self, *, write: bool, lock: str | None, wait: float | None):
        # lock: SQLite has one write lock per file, which BEGIN IMMEDIATE takes.
        with closing(sqlite3.connect(self.path, timeout=self.busy_timeout,
                                     isolation_level=None)) as db:
            db.execute("PRAGMA synchronous=FULL")
            if write and db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield Statements(db.cursor(), "?")
            db.execute("COMMIT")  # when the block raised, closing the connection rolls back

    def _is_unavailable(self, error: Exception) -> bool:
        # A read-only, full, locked or unreadable file; not a constraint or a bug in our SQL.
        return (isinstance(error, (sqlite3.OperationalError, OSError))
                or type(error) is sqlite3.DatabaseError)
