"""The Database class: what it shows of its URL, and how reads and writes share it."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError

from tests.support.postgres import PostgresServer
from twilio_fake.cli import banner
from twilio_fake.config import Settings
from twilio_fake.db import MEMORY, Database, metadata, settings, shown

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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_made_by_an_earlier_version_gets_the_columns_and_indexes_added_since(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Tables an earlier version made are kept, with their rows; what was defined since (a
    nullable column, an index) is added when a newer version opens the database."""
    import twilio_fake.backend  # noqa: F401  (every resource's tables, as a server has them)

    if kind == "sqlite":
        database = str(tmp_path / "fake.sqlite3")
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        database = postgres.create_database()
    db = Database(database)
    with db.engine.begin() as conn:  # what the earlier version lacked
        conn.exec_driver_sql("DROP INDEX ix_messages_account_due")
        conn.exec_driver_sql("ALTER TABLE messages DROP COLUMN outcome_error")
        # A column other tables have too (services, numbers): each table is looked at alone.
        conn.exec_driver_sql("ALTER TABLE messages DROP COLUMN status_callback")
    db.dispose()
    db = Database(database)
    try:
        with db.engine.connect() as conn:
            found = inspect(conn)
            assert "ix_messages_account_due" in {i["name"] for i in found.get_indexes("messages")}
            columns = {c["name"] for c in found.get_columns("messages")}
            assert {"outcome_error", "status_callback"} <= columns
    finally:
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


@pytest.mark.parametrize("holder", ["another process", "another thread"])
def test_a_write_that_must_wait_for_the_write_lock_does_not_hold_the_event_loop(
    holder: str, tmp_path: Path
) -> None:
    """A write runs on the event loop only when the write lock is free at once; one that would
    wait (another worker process's write, or a write of another thread) waits in a thread, and
    the loop serves a read meanwhile. The holder lets go after the read, or after a deadline:
    a loop held by the waiting write reads only after that, and the order says so."""
    path = tmp_path / "fake.sqlite3"
    db = Database(str(path))
    insert = settings.insert().values(name="written", value="1")
    count = select(func.count()).select_from(settings)
    read_done, holding = threading.Event(), threading.Event()
    order: list[str] = []

    def hold_the_lock() -> None:
        if holder == "another process":
            # flock locks an open file, not a process: a second open of the lock file is what
            # another worker process has.
            with open(f"{path}-writer.lock", "ab") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                holding.set()
                read_done.wait(10)
                order.append("released")
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        else:
            with db.write():
                holding.set()
                read_done.wait(10)
                order.append("released")

    def write() -> None:
        with db.write() as conn:
            conn.execute(insert)

    async def meanwhile() -> int:
        writing = asyncio.create_task(db.call(write, write=True))
        await asyncio.sleep(0)  # the write starts, and finds the lock taken
        seen = (await db.call(db.first, count, {}))[0]
        order.append("read")
        read_done.set()
        await writing
        return int(seen)

    thread = threading.Thread(target=hold_the_lock)
    thread.start()
    try:
        assert holding.wait(10)
        seen = asyncio.run(meanwhile())
    finally:
        read_done.set()
        thread.join(10)
    assert order == ["read", "released"], "the event loop waited for the write lock"
    assert seen == 0
    assert db.first(count, {}) == (1,)
    db.dispose()


def test_lone_reads_on_threads_that_come_and_go_keep_no_connection(tmp_path: Path) -> None:
    """Only threads that live as long as the database keep a connection for lone reads (on
    SQLite, the event loop's). A read on any other thread (anyio's workers, where a write that
    waits for the lock runs, and a list of numbers reads) gives its connection back: kept,
    they drained the pool of 15, and every request after waited for one and failed."""
    db = Database(str(tmp_path / "fake.sqlite3"))
    count = select(func.count()).select_from(settings)
    seen: list[int] = []
    for _ in range(5):
        thread = threading.Thread(target=lambda: seen.append(db.first(count, {})[0]))
        thread.start()
        thread.join(10)
    assert seen == [0] * 5
    assert db.engine.pool.checkedout() == 0, "threads that are gone still hold connections"
    db.dispose()


def test_a_write_with_the_lock_free_runs_at_once_and_leaves_the_lock_free(tmp_path: Path) -> None:
    """The write taken on the event loop holds the lock for its call only, and lets it go when
    the write fails too: the next writer, in another thread, does not wait."""
    db = Database(str(tmp_path / "fake.sqlite3"))
    insert = settings.insert().values(name="written", value="1")

    def write() -> None:
        with db.write() as conn:
            conn.execute(insert)

    def failing() -> None:
        with db.write() as conn:
            conn.execute(insert)  # the same primary key again
            raise AssertionError("not reached")

    asyncio.run(db.call(write, write=True))
    with pytest.raises(IntegrityError):
        asyncio.run(db.call(failing, write=True))
    done = threading.Event()

    def other_writer() -> None:
        with db.write():
            done.set()

    other = threading.Thread(target=other_writer)
    other.start()
    other.join(10)
    assert done.is_set(), "the lock was left taken"
    assert db.first(select(func.count()).select_from(settings), {}) == (1,)
    db.dispose()


def test_a_bulk_write_runs_in_a_thread_even_with_the_lock_free(tmp_path: Path) -> None:
    """A write that may change a whole pool (deleting a service) keeps the event loop free for
    reads while it runs; a write of a few rows with the lock free runs on the loop itself."""
    db = Database(str(tmp_path / "fake.sqlite3"))
    threads: dict[str, int] = {}

    async def writes() -> int:
        await db.call(lambda: threads.setdefault("brief", threading.get_ident()), write=True)
        await db.call(
            lambda: threads.setdefault("bulk", threading.get_ident()), write=True, bulk=True
        )
        return threading.get_ident()

    loop_thread = asyncio.run(writes())
    db.dispose()
    assert threads["brief"] == loop_thread
    assert threads["bulk"] != loop_thread


def test_a_database_that_cannot_be_opened_leaves_nothing_open(tmp_path: Path) -> None:
    # Not a SQLite file: the schema cannot be made, and the writers' lock file it opened first
    # is closed again (a server that retries, or a test, would otherwise keep it open).
    path = tmp_path / "not-a-database.sqlite3"
    path.write_bytes(b"not SQLite " * 1000)
    with pytest.raises(DatabaseError):
        Database(str(path))
    lock = str(path) + "-writer.lock"
    held = [fd for fd in os.listdir("/proc/self/fd") if _target(fd) == lock]
    assert held == []


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # the listing's own descriptor, closed since
        return ""


def test_a_write_holds_the_database_write_lock_from_its_start(tmp_path: Path) -> None:
    """A write is BEGIN IMMEDIATE: SQLite's write lock is held from the start of the
    transaction, not from its first change, so no writer can slip in between a rule's check and
    its insert (one number in one pool, the pool limit). The fake's own lock and flock keep its
    writers apart already; this holds against any other writer on the file too, which is refused
    (SQLITE_BUSY at once, with no busy timeout) instead of committing under the rule's check."""
    path = tmp_path / "fake.sqlite3"
    db = Database(str(path))
    count = select(func.count()).select_from(settings)
    outside = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with db.write() as conn:
            assert conn.execute(count).scalar_one() == 0  # the rule's check
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                outside.execute("INSERT INTO fake_settings VALUES ('outside', '1')")
            conn.execute(settings.insert().values(name="written", value="1"))
    finally:
        outside.close()
    assert db.first(select(settings.c.name), {}) == ("written",)
    db.dispose()


def _flock_waiters(path: Path) -> int:
    """How many flock requests wait for the file at `path` (Linux's /proc/locks marks them
    "->")."""
    inode = f":{os.stat(path).st_ino} "
    with open("/proc/locks") as locks:
        return sum(" -> FLOCK " in line and inode in line for line in locks)


def test_servers_starting_at_once_create_the_schema_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating the schema runs in autocommit, one DDL statement at a time: two servers doing it
    at once on one file each found tables the other had just made ("table … already exists")
    and one failed to start. They queue on the writers' flock; two Database objects on one file
    hold two open files, as two processes do. The second, started while the first is creating
    the schema, waits for the flock (a waiter in /proc/locks) and never enters it alongside."""
    if not os.path.exists("/proc/locks"):
        pytest.skip("needs Linux's /proc/locks to see a waiting flock")
    path = tmp_path / "fake.sqlite3"
    creating, finish = threading.Event(), threading.Event()
    inside: list[str] = []
    alongside: list[str] = []
    failed: list[BaseException] = []
    create_all = metadata.create_all

    def creating_slowly(conn: Any, *args: Any, **kwargs: Any) -> None:
        name = threading.current_thread().name
        alongside.extend(inside)
        inside.append(name)
        try:
            if name == "first":
                creating.set()
                finish.wait(30)
            create_all(conn, *args, **kwargs)
        finally:
            inside.remove(name)

    monkeypatch.setattr(metadata, "create_all", creating_slowly)

    def open_database() -> None:
        try:
            Database(str(path)).dispose()
        except BaseException as error:
            failed.append(error)

    first = threading.Thread(target=open_database, name="first")
    second = threading.Thread(target=open_database, name="second")
    first.start()
    try:
        assert creating.wait(10)
        second.start()
        lock = Path(f"{path}-writer.lock")
        deadline = time.monotonic() + 10
        while not alongside and not _flock_waiters(lock) and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert not alongside, "the second created the schema while the first was at it"
        assert _flock_waiters(lock) == 1, "the second did not wait for the flock"
    finally:
        finish.set()
        first.join(30)
        if second.ident is not None:
            second.join(30)
    assert not failed
    assert not alongside


def test_postgresql_calls_at_once_never_run_the_pool_dry(postgres: PostgresServer) -> None:
    """Every caller thread keeps two connections (lone reads, read transactions) for the
    database's life, and takes a pooled one for a write: the pool must hold them all. With
    CALLERS calls at once of each kind, twice over, every read is answered and a write after
    them still gets a connection (with a pool smaller than the kept connections, reads timed
    out and every later write waited for a connection that never came back)."""
    from twilio_fake.db import CALLERS

    db = Database(postgres.create_database())  # its own: the session's is shared
    count = select(func.count()).select_from(settings)
    running, release = threading.Semaphore(0), threading.Event()

    def at_once(read: Callable[[], object]) -> Callable[[], object]:
        def call() -> object:
            running.release()
            release.wait(30)  # until every caller thread has a call: all of them in use
            return read()

        return call

    def lone() -> object:
        return db.first(count, {})[0]

    def in_a_transaction() -> object:
        with db.read() as conn:
            return conn.scalar(count)

    def write() -> None:
        with db.write() as conn:
            conn.execute(settings.insert().values(name="after", value="1"))

    async def bursts() -> list[object]:
        answers: list[object] = []
        for kinds in ([lone, in_a_transaction], [in_a_transaction, lone]):
            calls = [db.call(at_once(kinds[n % 2])) for n in range(2 * CALLERS)]
            burst = asyncio.gather(*calls, return_exceptions=True)
            await asyncio.to_thread(lambda: [running.acquire(timeout=30) for _ in range(CALLERS)])
            release.set()
            answers += await burst
            release.clear()
        await db.call(write, write=True)
        return answers

    try:
        answers = asyncio.run(bursts())
        assert answers == [0] * (4 * CALLERS)
        assert db.first(count, {}) == (1,)
    finally:
        release.set()
        db.dispose()


def test_postgresql_calls_run_on_a_bounded_set_of_kept_threads_in_the_callers_context() -> None:
    """On PostgreSQL every call hops to one of the database's own threads: at most `size` of
    them however many calls wait, the same threads again for later calls (each keeps its
    connection), the task's context variables seen there, errors raised in the caller, and a
    call whose caller gave up finishes without a word."""
    import contextvars

    from twilio_fake.db import _Callers

    callers = _Callers(3)
    request = contextvars.ContextVar("request", default="none")
    release = threading.Event()
    seen: list[tuple[int, str, bool]] = []
    unexpected: list[dict[str, object]] = []

    def call(wait: bool) -> int:
        if wait:
            release.wait(30)
        seen.append((threading.get_ident(), request.get(), _Callers.on_one()))
        return threading.get_ident()

    def fail() -> None:
        raise ValueError("the rules said no")

    async def calls() -> None:
        request.set("mine")
        waiting = [asyncio.ensure_future(callers.run(call, True)) for _ in range(8)]
        await asyncio.sleep(0)  # every call queued
        release.set()
        first = set(await asyncio.gather(*waiting))
        later = {await callers.run(call, False) for _ in range(8)}
        with pytest.raises(ValueError, match="the rules said no"):
            await callers.run(fail)
        release.clear()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: unexpected.append(context))
        abandoned = asyncio.ensure_future(callers.run(call, True))
        await asyncio.sleep(0)
        abandoned.cancel()
        release.set()
        deadline = time.monotonic() + 30
        while (callers._queued or callers._idle < callers._threads) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # until the abandoned call has handed its answer over
        await asyncio.sleep(0)  # and the loop has run what it handed over
        assert len(seen) == 17 and not unexpected, unexpected
        # Three threads at most, kept: every call of the 17 ran on one of them.
        assert len(first | later | {thread for thread, _context, _caller in seen}) <= 3

    asyncio.run(calls())
    callers.stop()
    assert {context for _thread, context, _caller in seen} == {"mine"}
    assert all(caller for _thread, _context, caller in seen)
    assert not _Callers.on_one()
