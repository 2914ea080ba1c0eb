"""Shared fixtures: a fresh app on a fresh SQLite file for every test, and the demo's identities."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from twilio_fake import fixtures
from twilio_fake.app import create_app
from twilio_fake.config import Settings
from twilio_fake.models import Backend

# The demo fixture's identities (twilio_fake/demo_fixtures.yaml).
ACCOUNT = "AC00000000000000000000000000000001"
TOKEN = "demo-auth-token-1"
KEY, KEY_SECRET = "SK00000000000000000000000000000001", "demo-api-key-secret-1"
SERVICE = "MG00000000000000000000000000000001"
SERVICE2 = "MG00000000000000000000000000000002"
NUMBERS = [f"PN{n:032d}" for n in range(1, 6)]  # PN…01 to PN…05, all the first account's
OTHER_ACCOUNT, OTHER_TOKEN = "AC00000000000000000000000000000002", "demo-auth-token-2"
OTHER_SERVICE, OTHER_NUMBER = (
    "MG00000000000000000000000000000003",
    "PN00000000000000000000000000000006",
)
AUTH = (ACCOUNT, TOKEN)


def pool_path(service: str = SERVICE, sid: str | None = None) -> str:
    path = f"/v1/Services/{service}/PhoneNumbers"
    return f"{path}/{sid}" if sid else path


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "fake.sqlite3")


@pytest.fixture
def backend(database: str) -> Iterator[Backend]:
    backend = Backend(database, fixtures.demo())
    yield backend
    backend.db.dispose()


@pytest.fixture
def app(backend: Backend):
    return create_app(
        Settings(database=backend.db.engine.url.database or "", validate_responses=True), backend
    )


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with app.test_client() as client:
        yield client


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """Say what the reliability tests put the server through (most of all under `make soak`)."""
    from .servers import survived

    if survived:
        terminalreporter.section("survived")
        for what, count in sorted(survived.items()):
            terminalreporter.write_line(f"{count:>8}  {what}")
