"""The storage layer and the stores on it, the same tests on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from capibara6.auth.store import (SCHEMA as AUTH_SCHEMA, AuthStore, LoginLimits, PendingLogin,
                                  TooManyPendingLogins)
from capibara6.chat.conversations import SCHEMA as CHAT_SCHEMA, ConversationStore
from capibara6.kit.storage import StorageSettings, open_database
from tests.processes import ROOT


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path) -> StorageSettings:
    url = request.getfixturevalue("database_url") if request.param == "postgresql" else None
    return StorageSettings(state_dir=tmp_path / "state", database_url=url, connect_timeout=2)


@pytest.fixture
def opened():
    databases = []

    def open_(settings, schema, sqlite_file):
        database = open_database(settings, schema, sqlite_file)
        databases.append(database)
        return database

    yield open_
    for database in databases:
        database.close()


def login(state: str, client: str | None = "192.0.2.1", expires_at: int | None = None):
    return PendingLogin(state=state, provider="github", code_verifier="v", nonce="n",
                        expires_at=expires_at or int(time.time()) + 600, client=client)


def test_conversations_round_trip_with_unicode(settings, opened):
    store = ConversationStore(opened(settings, CHAT_SCHEMA, "conversations.sqlite3"))
    saved = store.save({"conversations": [{"message": "¿Qué es un capibara?", "response": "Un roedor 🦫"},
                                          {"user": "gracias", "assistant": "de nada"}]})
    assert saved["saved"] == 2
    assert store.load(saved["id"]) == [{"message": "¿Qué es un capibara?", "response": "Un roedor 🦫"},
                                       {"message": "gracias", "response": "de nada"}]
    assert store.count() == 2


def test_revocations_and_pending_logins(settings, opened):
    store = AuthStore(opened(settings, AUTH_SCHEMA, "auth.sqlite3"))
    store.revoke("jti-1", int(time.time()) + 60)
    store.revoke("jti-1", int(time.time()) + 90)  # a second logout of the same token is fine
    assert store.is_revoked("jti-1") and not store.is_revoked("jti-2")
    store.add_login(login("state-1"))
    taken = store.take_login("state-1")
    assert taken is not None and taken.client == "192.0.2.1" and taken.code_verifier == "v"
    assert store.take_login("state-1") is None  # a state works once


def test_pending_logins_are_bounded_per_client_and_in_total(settings, opened):
    store = AuthStore(opened(settings, AUTH_SCHEMA, "auth.sqlite3"),
                      limits=LoginLimits(per_client=2, total=3))
    now = int(time.time())
    store.add_login(login("a1", "192.0.2.1", now + 100))
    store.add_login(login("a2", "192.0.2.1", now + 200))
    with pytest.raises(TooManyPendingLogins) as per_client:
        store.add_login(login("a3", "192.0.2.1"))
    assert per_client.value.status == 429
    # Retry when the client's oldest login has expired, not before.
    assert int(per_client.value.headers["Retry-After"]) in (100, 101, 102)
    store.add_login(login("b1", "192.0.2.2"))  # another client still may
    with pytest.raises(TooManyPendingLogins) as total:
        store.add_login(login("c1", "192.0.2.3"))
    assert "on this server" in total.value.message
    assert store.take_login("a3") is None and store.take_login("c1") is None  # nothing kept
    assert store.take_login("a1") is not None  # finishing a login frees a place
    store.add_login(login("c1", "192.0.2.3"))


def test_concurrent_first_starts_migrate_once(settings, caplog):
    caplog.set_level(logging.INFO, logger="capibara6.storage")
    databases, errors = [], []

    def start():
        try:
            databases.append(open_database(settings, AUTH_SCHEMA, "auth.sqlite3"))
        except Exception as error:  # noqa: BLE001 - the test reports any failure
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        applied = [r.getMessage() for r in caplog.records if "applied migration" in r.getMessage()]
        assert len(applied) == len(AUTH_SCHEMA.migrations), applied
        assert all(db.check()[0] for db in databases)
        AuthStore(databases[0]).add_login(login("after-migration"))
    finally:
        for database in databases:
            database.close()


def test_a_sqlite_file_from_before_the_storage_layer_is_migrated(tmp_path, opened):
    state = tmp_path / "state"
    state.mkdir()
    old = sqlite3.connect(state / "auth.sqlite3")
    old.executescript("""
        CREATE TABLE revoked_tokens (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
        CREATE TABLE pending_logins (state TEXT PRIMARY KEY, provider TEXT NOT NULL,
            code_verifier TEXT, nonce TEXT, expires_at INTEGER NOT NULL);
    """)
    old.execute("INSERT INTO revoked_tokens VALUES ('old-jti', ?)", (int(time.time()) + 600,))
    old.commit()
    old.close()
    store = AuthStore(opened(StorageSettings(state_dir=state), AUTH_SCHEMA, "auth.sqlite3"))
    assert store.is_revoked("old-jti")  # a logout from before the upgrade still holds
    store.add_login(login("new"))
    assert store.take_login("new").client == "192.0.2.1"


@pytest.mark.parametrize("url", ["mysql://capibara6:s3cret-pw@db/capibara6", "db.internal:5432"])
def test_a_bad_database_url_stops_the_service_with_one_line_that_hides_it(url, tmp_path):
    done = subprocess.run([sys.executable, "-m", "capibara6", "serve", "chat", "--port", "0"],
                          env={"CAPIBARA6_DATABASE_URL": url, "CAPIBARA6_STATE_DIR": str(tmp_path),
                               "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "CAPIBARA6_DATABASE_URL" in lines[0], done.stderr
    assert "s3cret" not in done.stderr and "db.internal" not in done.stderr
