"""A throwaway PostgreSQL server for the tests: initdb and pg_ctl from the machine's PostgreSQL,
run as an unprivileged user, on a free port, in a temporary directory removed afterwards.

PostgreSQL refuses to run as root; when the tests run as root (a CI container), the server runs
as `nobody`. Its binaries are found on PATH, in $PG_BIN, or in /usr/lib/postgresql/*/bin.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

UNPRIVILEGED = "nobody"

# Run beside every server, in a session of its own: it waits for the end of its standard input,
# which comes when the process that started the server ends, however it ends (a test run killed
# with SIGKILL or SIGTERM runs no clean-up), then stops the server at once and removes its
# directory. A server stopped normally is gone by then: the watcher finds nothing to do.
_WATCHER = """
import os, shutil, signal, sys, time
root, data = sys.argv[1], sys.argv[2]
sys.stdin.buffer.read()
try:
    with open(os.path.join(data, "postmaster.pid")) as pid_file:
        postmaster = int(pid_file.read().split()[0])
    os.kill(postmaster, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        os.kill(postmaster, 0)
        time.sleep(0.05)
except (OSError, ValueError, IndexError):
    pass
shutil.rmtree(root, ignore_errors=True)
"""


def find_binaries() -> Path:
    """The directory holding initdb and pg_ctl, or RuntimeError saying what to install."""
    candidates = [os.environ.get("PG_BIN", "")]
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in candidates:
        if directory and (Path(directory) / "initdb").exists():
            return Path(directory)
    raise RuntimeError(
        "PostgreSQL's initdb and pg_ctl were not found: install PostgreSQL 15 (Debian: apt-get "
        "install postgresql-15) or set PG_BIN to their directory"
    )


class PostgresServer:
    """A PostgreSQL server of its own; `url(name)` gives a SQLAlchemy URL for a database."""

    def __init__(self) -> None:
        self.bin = find_binaries()
        self.root = Path(tempfile.mkdtemp(prefix="twilio-fake-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, UNPRIVILEGED)
        self.root.chmod(0o755)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")  # fmt: skip
        # A port found free may be taken before the server binds it: then try another.
        for attempt in range(3):
            self.port = _free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                "-c fsync=off -c synchronous_commit=on -c full_page_writes=off "
                "-c max_connections=300 -c shared_buffers=64MB"
            )
            try:
                self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                          str(self.root / "server.log"), "-w", "-t", "60", "start")  # fmt: skip
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        # pg_ctl leaves the server running on its own: the watcher ends it with this process.
        self._watcher = subprocess.Popen(
            [sys.executable, "-c", _WATCHER, str(self.root), str(self.data)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,  # it holds none of the test run's output open
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
            user=UNPRIVILEGED if self.as_root else None,
            cwd=self.root,
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(
                f"{program} failed: {result.stderr or result.stdout}"
                + (log.read_text() if log.exists() else "")
            )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; return its URL."""
        import sqlalchemy

        name = "fake_" + uuid.uuid4().hex[:12]
        engine = sqlalchemy.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine.dispose()
        return self.url(name)

    def processes(self) -> list[int]:
        """The server's processes: the postmaster, then its children."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    @contextmanager
    def hung(self) -> Iterator[None]:
        """Stop every process of the server (SIGSTOP), as a partition leaves it to a client:
        connections open, nothing answered. They go on (SIGCONT) on leaving."""
        stopped: list[int] = []
        try:
            for pid in self.processes():  # the postmaster first: it forks no more children
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            yield
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)

    def restart(self) -> None:
        """Stop the server (its clients' connections cut) and start it again on the same port."""
        # Its output to the log, as at start: a postmaster holding our pipe would never let the
        # command's output end.
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "restart")  # fmt: skip

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            if self._watcher.stdin is not None:
                self._watcher.stdin.close()  # nothing left for it to do: it ends
            self._watcher.wait(timeout=15)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_engines: dict[str, Any] = {}  # one per database URL, kept for the process


def emptied(url: str) -> str:
    """Empty every table of the fake in the database at `url` (if it has them) and restart its
    sequences; return the URL.

    Much faster than a new database per test. On tables this small, DELETE is quicker than
    TRUNCATE, which makes new files for every table and index (9 ms against 24 ms a test,
    2026-12-03), and the engine is kept for the URL (making one and inspecting the tables took
    16 ms more). DELETE would not see rows that a transaction an earlier test left open has
    yet to commit, so the tables are locked first (EXCLUSIVE: open writes are waited for, open
    reads are not); that, or a row locked, gives up after 10 s, naming why.
    """
    import sqlalchemy

    from twilio_fake import db

    engine = _engines.get(url) or _engines.setdefault(
        url, sqlalchemy.create_engine(url, pool_pre_ping=True)
    )
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        existing = set(
            conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).scalars()
        )
        tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name in existing]
        if tables:  # children first
            conn.exec_driver_sql(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
        for table in tables:
            conn.exec_driver_sql(f'DELETE FROM "{table}"')
        sequences = conn.exec_driver_sql(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"
        ).scalars()
        for sequence in list(sequences):
            conn.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" RESTART')
    return url


def in_a_thread(action: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Start `action` in a thread of its own: the thread, and a list that gets what the action
    returned or raised once it ends."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(action())
        except Exception as error:  # its outcome is the caller's to assert
            outcome.append(error)

    running = threading.Thread(target=run)
    running.start()
    return running, outcome


def waits_for_a_lock(engine: Any, running: threading.Thread, seconds: float = 10) -> bool:
    """Whether PostgreSQL shows a lock waited for (pg_locks) while `running` goes on, within
    `seconds`: polled, with a deadline."""
    deadline = time.monotonic() + seconds
    with engine.connect() as watcher:
        while not watcher.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE NOT granted"
        ).scalar():
            if not running.is_alive() or time.monotonic() > deadline:
                return False
            running.join(0.01)
    return True


class Interloper:
    """An action (a reset, a replica starting) let in at one point of a rule under test:
    `come_in()`, called there, starts it in a thread of its own and returns once PostgreSQL
    shows a lock waited for; `outcome()`, after the rule, is what the action returned or raised
    (a test that let it in nowhere, or that it never waited in, fails)."""

    def __init__(self, engine: Any, action: Callable[[], object]) -> None:
        self.engine, self.action = engine, action
        self._came: tuple[threading.Thread, list[object], bool] | None = None

    def come_in(self) -> None:
        assert self._came is None, "it came in twice"
        running, outcome = in_a_thread(self.action)
        self._came = running, outcome, waits_for_a_lock(self.engine, running)

    def outcome(self) -> list[object]:
        assert self._came is not None, "it never came in"
        running, outcome, waited = self._came
        running.join(10)
        assert waited, f"it did not wait for the rule: {outcome}"
        assert not running.is_alive(), "it did not finish after the rule"
        return outcome


def outcome_once_it_waits(
    engine: Any,
    hold: Callable[[Any], object],
    rule: Callable[[], object],
    then: Callable[[Any], object] | None = None,
) -> list[object]:
    """What `rule` returned or raised, run while another writer holds a lock it needs.

    `hold(connection)` runs in a transaction of its own on `engine`; `rule` then runs in a
    thread, and once PostgreSQL shows a lock waited for (pg_locks) the writer runs `then` (if
    given) and commits, so the rule goes on after the writer's commit and must see what it did.
    A rule that does not wait within 10 s (its lock removed) fails the test."""
    with engine.connect() as writer:
        with writer.begin():
            hold(writer)
            running, outcome = in_a_thread(rule)
            assert waits_for_a_lock(engine, running), (
                f"the rule did not wait for the lock: {outcome}"
            )
            if then is not None:
                then(writer)
        running.join(10)
    assert not running.is_alive(), "the rule did not finish after the writer's commit"
    return outcome


def pooled_by_hand(writer: Any, number_sid: str, service_sid: str) -> None:
    """Put a number in a service's pool on `writer`, taking the locks an add takes (the
    service's row, then the entry, whose foreign key holds the number's row): a `hold` for
    `outcome_once_it_waits`, an add that another writer must wait for."""
    from datetime import datetime

    from sqlalchemy import insert, select

    from twilio_fake.resources.pool.tables import pool_entries
    from twilio_fake.resources.services.tables import services

    writer.execute(select(services.c.sid).where(services.c.sid == service_sid).with_for_update())
    now = datetime(2026, 1, 1)
    writer.execute(insert(pool_entries).values(
        sid=number_sid, service_sid=service_sid, date_created=now, date_updated=now
    ))  # fmt: skip
