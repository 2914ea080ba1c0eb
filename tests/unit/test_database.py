"""The Database class: what it shows of its URL, and how reads and writes share it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from twilio_fake.cli import banner
from twilio_fake.config import Settings
from twilio_fake.db import MEMORY, Database, settings, shown

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


@pytest.mark.parametrize("kind", [MEMORY, "file"])
def test_a_read_completes_while_a_writer_holds_its_transaction_open(
    kind: str, tmp_path: Path
) -> None:
    """Reads (a lone statement on a thread's kept connection, and a snapshot) never wait for a
    writer: they see the last commit. The reader is a new thread, as a new worker thread is."""
    db = Database(MEMORY if kind == MEMORY else str(tmp_path / "fake.sqlite3"))
    insert = settings.insert().values(name="written", value="1")
    count = select(func.count()).select_from(settings)
    writing, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def writer() -> None:
        with db.write() as conn:
            conn.execute(insert)
            writing.set()
            release.wait(30)

    def reader() -> None:
        row = db.first(count, {})
        with db.read() as conn:
            seen.extend([row[0] if row else -1, conn.execute(count).scalar_one()])

    holding = threading.Thread(target=writer)
    holding.start()
    try:
        assert writing.wait(10)
        reading = threading.Thread(target=reader)
        reading.start()
        reading.join(10)  # a deadline, so that a reader stuck behind the writer fails the test
        assert not reading.is_alive(), "the read waited for the writer's transaction"
        assert seen == [0, 0]  # the last commit: not what the open transaction wrote
    finally:
        release.set()
        holding.join(10)
    assert db.first(count, {}) == (1,)
    db.dispose()


def test_an_in_memory_database_leaves_no_file_behind() -> None:
    db = Database(MEMORY)
    (directory,) = {Path(db.engine.url.database or "").parent}
    assert directory.is_dir()
    db.dispose()
    assert not directory.exists()


def test_a_removed_or_replaced_database_file_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "fake.sqlite3"
    db = Database(str(path))
    db.check_present()
    path.unlink()
    with pytest.raises(OperationalError, match="was removed or replaced"):
        db.check_present()
    with pytest.raises(OperationalError, match="was removed or replaced"):
        with db.write():
            pass
    path.write_bytes(b"")  # another file at the same path
    with pytest.raises(OperationalError, match="was removed or replaced"):
        db.check_present()
    db.dispose()
