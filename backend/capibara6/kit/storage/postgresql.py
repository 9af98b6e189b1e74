"""The shared backend: a PostgreSQL database every GPU VM uses, through psycopg 3's pool.

Connections come from a psycopg_pool.ConnectionPool opened in the background,
so a service starts (degraded) while the database is still down. Each is
checked before use, so connections a database restart broke are replaced,
not handed out. The pool retries a failed connect with growing pauses; it
gives up after twice the connect timeout, so that the next request tries at
once: a database that is back serves within seconds, not after a long pause. libpq's connect_timeout bounds a connect, the pool's timeout
the wait for a connection, and statement_timeout (a session setting) every
statement. A transaction that needs a critical section across VMs takes a
transaction-scoped advisory lock named after it.
"""

from __future__ import annotations

import zlib
from contextlib import contextmanager

import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict

from capibara6.kit.storage import Database, Schema, Statements, StorageSettings


def describe_url(url: str) -> str:
    """postgresql://host:port/database: where the database is, without user or password."""
    params = conninfo_to_dict(url)
    host = params.get("host") or "localhost"
    return f"postgresql://{host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"


def lock_key(name: str) -> int:
    # Advisory locks take a bigint; crc32 is stable across processes and releases.
    return zlib.crc32(f"capibara6:{name}".encode())


class PostgresDatabase(Database):
    backend = "postgresql"

    def __init__(self, settings: StorageSettings, schema: Schema):
        super().__init__(schema, where=describe_url(settings.database_url))
        self.wait = settings.connect_timeout
        self.pool = psycopg_pool.ConnectionPool(
            settings.database_url,
            min_size=1, max_size=settings.pool_size, timeout=settings.connect_timeout,
            reconnect_timeout=2 * settings.connect_timeout,
            # a database restart breaks pooled connections: check each before handing it out
            check=psycopg_pool.ConnectionPool.check_connection,
            kwargs={
                "connect_timeout": max(2, int(settings.connect_timeout)),
                "options": f"-c statement_timeout={int(settings.statement_timeout * 1000)}",
                "application_name": f"capibara6-{schema.component}",
            },
            name=schema.component, open=False)
        self.pool.open(wait=False)

    @contextmanager
    def _begin(self, *, write: bool, lock: str | None, wait: float | None):
        with self.pool.connection(timeout=wait or self.wait) as conn:
            # The pool's context commits when the block ends and rolls back when it raises.
            conn.read_only = not write
            with conn.cursor() as cursor:
                if lock is not None:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(lock),))
                yield Statements(cursor, "%s")

    def _is_unavailable(self, error: Exception) -> bool:
        # Down, unreachable, restarting, out of disk, timed out, or a read-only standby;
        # not a constraint or a bug in our SQL.
        return isinstance(error, (psycopg.OperationalError, psycopg_pool.PoolTimeout,
                                  psycopg.errors.ReadOnlySqlTransaction, psycopg.InterfaceError))

    def close(self) -> None:
        self.pool.close()
