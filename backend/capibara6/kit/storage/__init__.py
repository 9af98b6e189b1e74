"""Where the services keep their state: one small layer, two backends.

- SQLite (the default): one file per store in the service's state directory,
  nothing to install; right for one GPU VM.
- PostgreSQL, when CAPIBARA6_DATABASE_URL is set: one database that every
  GPU VM shares, so a logout or a saved conversation is seen by all of them.

A store (chat's conversations, auth's revoked tokens and pending logins)
declares its Schema, gets a Database from open_database() and runs its SQL in
db.transaction(). SQL is written once for both backends: `?` placeholders,
no `%`, and only what SQLite 3.35+ and PostgreSQL 12+ both understand
(ON CONFLICT upserts, DELETE ... RETURNING).

Schema. Each store's migrations are numbered by their position; the version
reached is kept per store in capibara6_schema. A service migrates at start,
inside a transaction that holds the database's write lock (SQLite's BEGIN
IMMEDIATE, PostgreSQL's advisory lock), so two VMs starting together apply
each migration once. Migrations only add (tables, columns, indexes): the
release before still runs on a migrated database, which a deploy's roll-back
relies on. A database that cannot be reached at start is migrated at the first
transaction that can reach it.

Failures. An error that means "the storage cannot do this now" (a read-only
or full disk, the database down or timing out) becomes StorageUnavailable: a
503 storage_unavailable, never a 500; what the client was told before is
safe, since a write is acknowledged only after its commit. From then on the
health check says degraded, naming the backend and where it is, until a write
works again (the health check itself tries one).
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from capibara6.kit.errors import ApiError
from capibara6.kit.settings import ConfigError, Env

log = logging.getLogger("capibara6.storage")
SCHEMA_TABLE = ("CREATE TABLE IF NOT EXISTS capibara6_schema ("
                "component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
POSTGRES_SCHEMES = ("postgresql", "postgres")
# The health check waits this long at most for a database connection: the watchdog and
# load balancers wait on /health, and a database that is down must not make it slow.
HEALTH_WAIT_SECONDS = 0.5


class StorageUnavailable(ApiError):
    status = 503
    code = "storage_unavailable"


@dataclass(frozen=True)
class Schema:
    """A store's tables: its name, and its migrations in order (each a tuple of statements)."""

    component: str
    migrations: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class StorageSettings:
    state_dir: Path
    database_url: str | None = field(default=None, repr=False)  # it may hold a password
    connect_timeout: float = 5.0
    statement_timeout: float = 10.0
    pool_size: int = 10

    @classmethod
    def from_env(cls, env: Env, state_dir: Path) -> "StorageSettings":
        url = env.str("CAPIBARA6_DATABASE_URL", secret=True,
                      doc="PostgreSQL URL for the shared state; unset: SQLite in the state directory")
        if url is not None:
            scheme = url.split("://", 1)[0].lower() if "://" in url else ""
            # The value is never echoed back: it holds the database's password.
            if scheme not in POSTGRES_SCHEMES:
                raise ConfigError("CAPIBARA6_DATABASE_URL: expected a URL of the form "
                                  "postgresql://user:password@host:5432/database")
        return cls(
            state_dir=state_dir,
            database_url=url,
            connect_timeout=env.float("CAPIBARA6_DATABASE_CONNECT_TIMEOUT", 5.0,
                                      minimum=1, maximum=120,
                                      doc="Seconds to connect to PostgreSQL"),
            statement_timeout=env.float("CAPIBARA6_DATABASE_STATEMENT_TIMEOUT", 10.0,
                                        minimum=0.1, maximum=600,
                                        doc="Seconds a PostgreSQL statement may run"),
            pool_size=env.int("CAPIBARA6_DATABASE_POOL_SIZE", 10, minimum=1, maximum=1000,
                              doc="PostgreSQL connections each service process keeps"),
        )


class Statements:
    """What a transaction offers a store: run SQL written with `?` placeholders."""

    def __init__(self, cursor, placeholder: str):
        self._cursor = cursor
        self._placeholder = placeholder

    def _sql(self, sql: str) -> str:
        return sql if self._placeholder == "?" else sql.replace("?", self._placeholder)

    def run(self, sql: str, params: Sequence = ()) -> None:
        self._cursor.execute(self._sql(sql), params)

    def run_many(self, sql: str, rows: Sequence[Sequence]) -> None:
        self._cursor.executemany(self._sql(sql), rows)

    def one(self, sql: str, params: Sequence = ()) -> tuple | None:
        self._cursor.execute(self._sql(sql), params)
        return self._cursor.fetchone()

    def all(self, sql: str, params: Sequence = ()) -> list[tuple]:
        self._cursor.execute(self._sql(sql), params)
        return self._cursor.fetchall()


class Database:
    """One store's database; the backends below say how to begin a transaction and what failed."""

    backend = "?"

    def __init__(self, schema: Schema, where: str):
        self.schema = schema
        self.where = where  # for /health and logs: a path, or a URL without credentials
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._failure: tuple[str, str] | None = None  # (reason, since)

    # -- what a backend provides
    def _begin(self, *, write: bool, lock: str | None, wait: float | None):
        """A context manager yielding Statements in one transaction; wait bounds the connect."""
        raise NotImplementedError

    def _is_unavailable(self, error: Exception) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # -- what stores use
    @contextmanager
    def transaction(self, *, write: bool = True, lock: str | None = None,
                    wait: float | None = None) -> Iterator[Statements]:
        """A transaction: committed when the block ends, rolled back when it raises.

        lock names a critical section that concurrent writers (on any VM) take in turn.
        Raises StorageUnavailable when the storage cannot serve it now.
        """
        try:
            self.migrate(wait)
            with self._begin(write=write, lock=lock, wait=wait) as statements:
                yield statements
        except Exception as error:
            if not self._is_unavailable(error):
                raise
            self._record_failure(error)
            raise StorageUnavailable(f"the service's storage ({self.backend}) is unavailable; "
                                     "nothing was changed, try again later") from None
        if write and self._failure is not None:
            log.warning("storage %s %s works again", self.backend, self.where)
            self._failure = None

    def migrate(self, wait: float | None = None) -> None:
        """Bring the schema up to date, once per process; other processes wait on the lock."""
        if self._migrated:
            return
        with self._migrate_lock:
            if self._migrated:
                return
            with self._begin(write=True, lock="capibara6_schema", wait=wait) as tx:
                tx.run(SCHEMA_TABLE)
                row = tx.one("SELECT version FROM capibara6_schema WHERE component = ?",
                             (self.schema.component,))
                current = row[0] if row else 0
                for version in range(current + 1, len(self.schema.migrations) + 1):
                    for statement in self.schema.migrations[version - 1]:
                        tx.run(statement)
                    log.info("storage %s %s: applied migration %d of %s", self.backend, self.where,
                             version, self.schema.component)
                if current < len(self.schema.migrations):
                    tx.run("INSERT INTO capibara6_schema (component, version) VALUES (?, ?) "
                           "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                           (self.schema.component, len(self.schema.migrations)))
            self._migrated = True

    def try_migrate(self) -> None:
        """migrate() at start: a storage that is down now is migrated on first use instead."""
        try:
            self.migrate()
        except Exception as error:
            if not self._is_unavailable(error):
                raise
            self._record_failure(error)

    def check(self) -> tuple[bool, dict]:
        """Health: ok, or degraded from a failure until a write works again (tried here)."""
        details = {"backend": self.backend, "where": self.where}
        probe_write = self._failure is not None
        try:
            with self.transaction(write=probe_write, wait=HEALTH_WAIT_SECONDS) as tx:
                if probe_write:  # a write that changes nothing still needs a writable storage
                    tx.run("UPDATE capibara6_schema SET version = version WHERE component = ?",
                           (self.schema.component,))
                else:
                    tx.one("SELECT version FROM capibara6_schema WHERE component = ?",
                           (self.schema.component,))
        except StorageUnavailable:
            pass
        if self._failure is not None:
            reason, since = self._failure
            return False, {"status": "error", **details, "error": reason, "since": since}
        return True, {"status": "ok", **details}

    def _record_failure(self, error: Exception) -> None:
        reason = " ".join(str(error).split()) or type(error).__name__
        if self._failure is None or self._failure[0] != reason:
            log.warning("storage %s %s failed: %s", self.backend, self.where, reason)
        since = self._failure[1] if self._failure else datetime.now(timezone.utc).isoformat()
        self._failure = (reason[:300], since)


def open_database(settings: StorageSettings, schema: Schema, sqlite_file: str) -> Database:
    """The store's database: PostgreSQL when a URL is set, else sqlite_file in the state directory.

    The schema is migrated now when the storage can be reached, else at first use.
    """
    if settings.database_url:
        from capibara6.kit.storage.postgresql import PostgresDatabase
        database: Database = PostgresDatabase(settings, schema)
    else:
        from capibara6.kit.storage.sqlite import SqliteDatabase
        database = SqliteDatabase(settings.state_dir / sqlite_file, schema,
                                  busy_timeout=settings.statement_timeout)
    database.try_migrate()
    return database

