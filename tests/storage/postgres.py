"""A real PostgreSQL server (Debian's `postgresql` package) as a plain process, for tests.

initdb in a temporary directory, then `postgres` on a free loopback port with
its unix socket in that directory; pg_ctl stops and restarts it. PostgreSQL
refuses to run as root and the tests run as root, so every PostgreSQL command
runs as the unprivileged user `nobody` through `runuser -u nobody --` (when
the tests run as another user, as that user). The directory is made for
nobody, outside pytest's root-only temporary directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.processes import free_port

UNPRIVILEGED_USER = "nobody"
ROLE = "capibara6"
ROLE_PASSWORD = "capibara6-test-password"
SUPERUSER_PASSWORD = "superuser-test-password"


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory (scripts/bootstrap installs it)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/bootstrap (apt package postgresql)")
    return Path(found[-1]).parent


def as_unprivileged(command: list[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED_USER, "--", *command] if os.geteuid() == 0 else command


def make_unprivileged_dir(prefix: str) -> Path:
    """A fresh directory the unprivileged user owns (and may write), readable by root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(path, user.pw_uid, user.pw_gid)
    return path


class PostgresServer:
    def __init__(self):
        self.bin = postgres_bin_dir()
        self.dir = make_unprivileged_dir("capibara6-pg-")
        self.data = self.dir / "data"
        self.port = free_port()
        self._databases = 0

    def _run(self, *command: str) -> None:
        done = subprocess.run(as_unprivileged([str(self.bin / command[0]), *command[1:]]),
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
                               f"\n{self.log()}")

    def init(self) -> "PostgresServer":
        password_file = self.dir / "superuser-password"
        password_file.write_text(SUPERUSER_PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(password_file, UNPRIVILEGED_USER)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
                  f"--pwfile={password_file}", "--encoding=UTF8", "--no-sync")
        password_file.unlink()
        self.start()
        with self.connect() as db:
            db.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_PASSWORD}'")
        return self

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.dir} -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def log(self) -> str:
        path = self.dir / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """What a service is given: the capibara6 role's URL for that database."""
        return f"postgresql://{ROLE}:{ROLE_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.admin_url(database), autocommit=True, connect_timeout=5)

    def create_database(self) -> str:
        """A new empty database owned by the capibara6 role; returns its URL."""
        self._databases += 1
        name = f"capibara6_test_{self._databases}"
        with self.connect() as db:
            db.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url(name)

    def close(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except RuntimeError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
