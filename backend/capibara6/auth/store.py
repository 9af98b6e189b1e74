"""What the login service must remember, in the service's storage (kit/storage).

With SQLite (the default) it is one file, auth.sqlite3, in the state
directory; with CAPIBARA6_DATABASE_URL it is the PostgreSQL database every
GPU VM shares, so a logout on one VM is refused on every VM.

- revoked_tokens: the jti of every logged-out token, kept until the token
  would have expired anyway, so a logout survives a restart.
- pending_logins: one row per login in progress, keyed by its OAuth state,
  with the PKCE verifier and OIDC nonce (they never leave the server) and the
  address of the client that started it. A row is taken out in the same
  statement that reads it, so a state, and with it a callback URL, works once.
  Starting a login is unauthenticated, so the rows are bounded: per client
  address and in total (LoginLimits); past a bound add_login raises
  TooManyPendingLogins (429, with the seconds until the oldest expires).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from capibara6.kit.errors import ApiError
from capibara6.kit.storage import Database, Schema

SCHEMA = Schema("auth", migrations=(
    # 1: the tables as SQLite files made before the storage layer already have them
    ("CREATE TABLE IF NOT EXISTS revoked_tokens ("
     "jti TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
     "CREATE TABLE IF NOT EXISTS pending_logins ("
     "state TEXT PRIMARY KEY, provider TEXT NOT NULL, code_verifier TEXT, nonce TEXT, "
     "expires_at BIGINT NOT NULL)"),
    # 2: who started each login, to bound the logins in progress per client
    ("ALTER TABLE pending_logins ADD COLUMN client TEXT",
     "CREATE INDEX IF NOT EXISTS pending_logins_client ON pending_logins (client, expires_at)",
     "CREATE INDEX IF NOT EXISTS pending_logins_expiry ON pending_logins (expires_at)"),
))
SQLITE_FILE = "auth.sqlite3"


@dataclass(frozen=True)
class PendingLogin:
    state: str
    provider: str
    code_verifier: str | None
    nonce: str | None
    expires_at: int
    client: str | None = None  # the address that started it


@dataclass(frozen=True)
class LoginLimits:
    """How many logins may be in progress at once: from one client address, and in all."""

    per_client: int = 20
    total: int = 10_000


class TooManyPendingLogins(ApiError):
    status = 429
    code = "too_many_pending_logins"


class AuthStore:
    def __init__(self, database: Database, *, limits: LoginLimits = LoginLimits(),
                 clock: Callable[[], float] = time.time):
        self.database = database
        self.limits = limits
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    def revoke(self, jti: str, expires_at: int) -> None:
        with self.database.transaction() as tx:
            tx.run("DELETE FROM revoked_tokens WHERE expires_at < ?", (self._now(),))
            tx.run("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) "
                   "ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at",
                   (jti, int(expires_at)))

    def is_revoked(self, jti: str) -> bool:
        with self.database.transaction(write=False) as tx:
            row = tx.one("SELECT 1 FROM revoked_tokens WHERE jti = ?", (jti,))
        return row is not None

    def add_login(self, login: PendingLogin) -> None:
        """Keep a login in progress; TooManyPendingLogins past a bound (nothing is kept then)."""
        now = self._now()
        # One login start at a time on every VM, so two cannot both take the last place.
        with self.database.transaction(lock="pending_logins") as tx:
            tx.run("DELETE FROM pending_logins WHERE expires_at < ?", (now,))
            total, first_expiry = tx.one("SELECT COUNT(*), MIN(expires_at) FROM pending_logins")
            if total >= self.limits.total:
                _refuse("logins in progress on this server", self.limits.total, first_expiry, now)
            if login.client is not None:
                mine, my_first_expiry = tx.one(
                    "SELECT COUNT(*), MIN(expires_at) FROM pending_logins WHERE client = ?",
                    (login.client,))
                if mine >= self.limits.per_client:
                    _refuse("logins in progress from your address", self.limits.per_client,
                            my_first_expiry, now)
            tx.run("INSERT INTO pending_logins "
                   "(state, provider, code_verifier, nonce, expires_at, client) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (login.state, login.provider, login.code_verifier, login.nonce,
                    login.expires_at, login.client))

    def take_login(self, state: str) -> PendingLogin | None:
        """The login with this state, removed so it cannot be taken twice; None if unknown or stale."""
        with self.database.transaction() as tx:
            row = tx.one("DELETE FROM pending_logins WHERE state = ? "
                         "RETURNING state, provider, code_verifier, nonce, expires_at, client",
                         (state,))
        if row is None:
            return None
        login = PendingLogin(*row)
        return login if login.expires_at >= self._now() else None

    def check(self) -> tuple[bool, dict]:
        """Health: the storage's (ok, or degraded until a write works again)."""
        return self.database.check()


def _refuse(what: str, limit: int, first_expiry: int, now: int) -> None:
    retry_after = max(1, int(first_expiry) - now + 1)
    raise TooManyPendingLogins(f"too many {what} (at most {limit} at once); try again in "
                               f"{retry_after} s", headers={"Retry-After": str(retry_after)},
                               limit=limit)
