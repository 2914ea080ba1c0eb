"""Shared fixtures: a fresh app on a fresh SQLite file for every test; markers by directory.

The tests are sorted by level, each directory a marker: `unit` (rules, fixtures, the spec),
`api` (HTTP through the in-process app), `contract` (schemathesis and the contract kit) and
`e2e` (real server processes, the official SDKs, the built wheel).

`make test` runs them on several pytest-xdist workers (`--dist loadgroup`, docs/testing.md):
the tests of a `contract` or `e2e` module run on one worker, in their order, so that the
servers its module-scoped fixtures start are started once; a module whose tests are each
independent of the others says so with `pytestmark = pytest.mark.spread`, and its tests go
wherever a worker is free (a module-scoped fixture is then made once on each worker that runs
some of them). `unit` and `api` tests need nothing of the kind and are spread too.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from twilio_fake import fixtures
from twilio_fake.app import FakeApp
from twilio_fake.backend import Backend

from .support import app_for, build_wheel, database_for, plain_id, survived
from .support.postgres import PostgresServer

LEVELS = ("unit", "api", "contract", "e2e")

# An application's test suite that uses the plugin: tests/e2e/test_plugin.py runs it elsewhere.
collect_ignore = ["e2e/plugin_project"]


# Levels whose modules keep their tests on one xdist worker unless marked `spread`.
GROUPED_LEVELS = ("contract", "e2e")


# First, so that pytest-xdist (which names each test's group in its own hook) sees the groups.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        level = item.path.parent.name
        if level in LEVELS:
            item.add_marker(getattr(pytest.mark, level))
        grouped = level in GROUPED_LEVELS and not item.get_closest_marker("spread")
        if grouped and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(f"{level}/{item.path.stem}"))


def pytest_make_parametrize_id(val: object) -> str | None:
    """Strings that pytest would show escaped (non-ASCII, control characters) get a plain ID,
    so that each test can be run by its ID (tests.support.plain_id)."""
    text = val.decode("latin-1") if isinstance(val, bytes) else val
    if isinstance(text, str) and not (text.isascii() and text.isprintable() and "\\" not in text):
        return plain_id(text)
    return None  # pytest's own


def pytest_collection_finish(session: pytest.Session) -> None:
    unreachable = [item.nodeid for item in session.items if plain_id(item.nodeid) != item.nodeid]
    if unreachable:
        raise pytest.UsageError(
            "these tests' IDs cannot be given back to pytest (use tests.support.plain_id): "
            + ", ".join(unreachable[:5])
        )


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


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once a run: pytest-xdist's workers share a folder of the
    run's (their own temporary folders' parent), and the first to ask builds it there."""
    base = tmp_path_factory.getbasetemp()
    return build_wheel((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "wheel")


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


# Under pytest-xdist each worker counts what its tests put the servers through, and hands its
# count to the controller when it ends; the controller adds them up for the summary.
survived_on_workers: Counter[str] = Counter()


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a worker
        workeroutput["survived"] = dict(survived)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    """An xdist worker ended (a hook of pytest-xdist's, called on the controller)."""
    survived_on_workers.update(getattr(node, "workeroutput", {}).get("survived", {}))


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """Say what the reliability tests put the server through (most of all under `make soak`)."""
    counts = survived + survived_on_workers
    if counts:
        terminalreporter.section("survived")
        for what, count in sorted(counts.items()):
            terminalreporter.write_line(f"{count:>8}  {what}")
