"""Fixtures for the storage tests: a real PostgreSQL server, and a fresh database per test.

`postgres` is one server for the whole session; a test that stops and starts
its server takes `own_postgres` instead, so the others never see it go away.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.storage.postgres import PostgresServer


@contextmanager
def running_postgres():
    server = PostgresServer()
    try:
        yield server.init()
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres():
    with running_postgres() as server:
        yield server


@pytest.fixture
def own_postgres():
    with running_postgres() as server:
        yield server


@pytest.fixture
def database_url(postgres) -> str:
    return postgres.create_database()
