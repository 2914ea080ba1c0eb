"""Shared fixtures: a fresh app on a fresh SQLite file for every test; markers by directory.

The tests are sorted by level, each directory a marker: `unit` (rules, fixtures, the spec),
`api` (HTTP through the in-process app), `contract` (schemathesis and the contract kit) and
`e2e` (real server processes, the official SDKs, the built wheel).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from twilio_fake import fixtures
from twilio_fake.app import FakeApp
from twilio_fake.backend import Backend

from .support import app_for, database_for, survived
from .support.postgres import PostgresServer

LEVELS = ("unit", "api", "contract", "e2e")

# An application's test suite that uses the plugin: tests/e2e/test_plugin.py runs it elsewhere.
collect_ignore = ["e2e/plugin_project"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        level = item.path.parent.name
        if level in LEVELS:
            item.add_marker(getattr(pytest.mark, level))


# The rules and the API run on both databases the fake supports (DATABASES); a test about
# SQLite's files asks for `@pytest.mark.parametrize("database", ["sqlite"], indirect=True)`.
DATABASES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the session, started on first use."""
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer) -> str:
    return postgres.create_database()


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file, or an emptied PostgreSQL database."""
    return database_for(request.param, request, tmp_path)


@pytest.fixture
def backend(database: str) -> Iterator[Backend]:
    backend = Backend(database, fixtures.demo())
    yield backend
    backend.db.dispose()


@pytest.fixture
def app(backend: Backend) -> FakeApp:
    return app_for(backend)


@pytest.fixture
def client(app: FakeApp) -> Iterator[TestClient]:
    with app.test_client() as client:
        yield client


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """Say what the reliability tests put the server through (most of all under `make soak`)."""
    if survived:
        terminalreporter.section("survived")
        for what, count in sorted(survived.items()):
            terminalreporter.write_line(f"{count:>8}  {what}")
