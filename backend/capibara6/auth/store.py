"""What the login service must remember, in one SQLite file in its state directory.

- revoked_tokens: the jti of every logged-out token, kept until the token
  would have expired anyway, so a logout survives a restart.
- pending_logins: one row per login in progress, keyed by its OAuth state,
  with the PKCE verifier and OIDC nonce (they never leave the server). A row
  is taken out in the same statement that reads it, so a state, and with it
  a callback URL, works once.

Each call opens its own connection: waitress serves requests on many threads
and sqlite3 connections must not be shared between them.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

SCHEMA = """
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_logins (
    state TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    code_verifier TEXT,
    nonce TEXT,
    expires_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class PendingLogin:
    state: str
    provider: str
    code_verifier: str | None
    nonce: str | None
    expires_at: int


class AuthStore:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        with self._connection() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connection(self):
        with closing(sqlite3.connect(self.path, timeout=10)) as db:
            with db:  # commits on success, rolls back on error
                yield db

    def _now(self) -> int:
        return int(self._clock())

    def revoke(self, jti: str, expires_at: int) -> None:
        with self._connection() as db:
            db.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (self._now(),))
            db.execute("INSERT OR REPLACE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
                       (jti, int(expires_at)))

    def is_revoked(self, jti: str) -> bool:
        with self._connection() as db:
            row = db.execute("SELECT 1 FROM revoked_tokens WHERE jti = ?", (jti,)).fetchone()
        return row is not None

    def add_login(self, login: PendingLogin) -> None:
        with self._connection() as db:
            db.execute("DELETE FROM pending_logins WHERE expires_at < ?", (self._now(),))
            db.execute("INSERT INTO pending_logins (state, provider, code_verifier, nonce, expires_at) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (login.state, login.provider, login.code_verifier, login.nonce, login.expires_at))

    def take_login(self, state: str) -> PendingLogin | None:
        """The login with this state, removed so it cannot be taken twice; None if unknown or stale."""
        with self._connection() as db:
            row = db.execute("DELETE FROM pending_logins WHERE state = ? "
                             "RETURNING state, provider, code_verifier, nonce, expires_at",
                             (state,)).fetchone()
        if row is None:
            return None
        login = PendingLogin(*row)
        return login if login.expires_at >= self._now() else None

    def check(self) -> tuple[bool, dict]:
        """Health: can the file be read?"""
        try:
            with self._connection() as db:
                db.execute("SELECT count(*) FROM revoked_tokens").fetchone()
        except sqlite3.Error as error:
            return False, {"status": "error", "error": str(error)}
        return True, {"status": "ok"}
