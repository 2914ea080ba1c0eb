"""The Database class: what it shows of its URL, and how reads and writes share it."""

from __future__ import annotations

import pytest

from twilio_fake.cli import banner
from twilio_fake.config import Settings
from twilio_fake.db import shown

SECRET = "s3cret"


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        ("postgresql://fake:s3cret@db.internal/fake", "postgresql://fake:***@db.internal/fake"),
        (
            "postgresql://fake@db.internal/fake?password=s3cret",
            "postgresql://fake@db.internal/fake?password=***",
        ),
        (
            "postgresql://fake@db.internal/fake?sslmode=require&PASSWORD=s3cret",
            "postgresql://fake@db.internal/fake?PASSWORD=***&sslmode=require",
        ),
        (
            "postgresql://fake@db.internal/fake?password=s3cret&password=other",
            "postgresql://fake@db.internal/fake?password=***&password=***",
        ),
        ("fake.sqlite3", "fake.sqlite3"),
    ],
    ids=["in the authority", "in the query", "in the query, in capitals", "twice", "a file"],
)
def test_a_password_is_never_shown(database: str, expected: str) -> None:
    assert shown(database) == expected
    printed = banner(Settings(database=database), 8080)
    assert SECRET not in printed and expected in printed
