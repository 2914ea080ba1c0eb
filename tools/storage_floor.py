"""What an operation's SQL alone costs on SQLite: the least any fake that stores its state there
pays, whatever its Python does.

    .venv/bin/python tools/storage_floor.py [fetch|list|create+delete|send ...]

The fake is built over the bench's data (as tools/profile_requests.py builds it) and runs the
operation in-process once with every `sqlite3` connection it holds traced; the statements it
ran (authentication, the rules' reads and writes, `BEGIN IMMEDIATE` and `COMMIT`) are then
replayed as they were traced, with nothing else, on one connection to the same file in the
fake's own modes (WAL, `synchronous=NORMAL`). Prints the CPU time of one replay (best of five
rounds of 500), beside which the operation's budget can be set: to be within a tenth of the
connexion floor, the fake may add at most a ninth of the floor's cost to it, storage included.

The trace writes each statement's parameters into its SQL, so a cost that comes with binding
them does not show here: SQLite prepares a statement again each time a LIKE pattern is bound to
it (docs/performance.md, eighteenth pass). `tests/unit/test_statements.py` keeps the fake's
prepared statements free of those.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import profile_requests  # beside this file


def traced(operation: str, directory: Path) -> tuple[Path, list[str]]:
    """The database file and the statements one `operation` ran, as sqlite3 traced them."""
    app = profile_requests.bench_app(directory)
    run = profile_requests.operations(app)[operation]
    asyncio.run(profile_requests.repeat(run, 20))  # every statement prepared, the app settled
    statements: list[str] = []
    connections = [o for o in gc.get_objects() if isinstance(o, sqlite3.Connection)]
    for connection in connections:
        connection.set_trace_callback(statements.append)
    asyncio.run(profile_requests.repeat(run, 1))
    for connection in connections:
        connection.set_trace_callback(None)
    app.backend.db.dispose()
    return directory / "profile.sqlite3", statements


def replayed(database: Path, statements: list[str], rounds: int = 5, count: int = 500) -> float:
    """The best CPU time (s) of one replay of `statements`.

    A message's SID (a send's insert) is made anew for each replay, as each send makes one:
    the same insert twice would break the key."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    sids = sorted({sid for statement in statements for sid in _MESSAGE_SID.findall(statement)})
    made = itertools.count()

    def fresh() -> list[str]:  # made before the timing starts
        n = next(made)
        sql = [*statements]
        for k, sid in enumerate(sids):
            sql = [statement.replace(sid, f"SM{n:024x}{k:08x}") for statement in sql]
        return sql

    def replay(sql: list[str]) -> None:
        for statement in sql:
            connection.execute(statement).fetchall()

    for sql in [fresh() for _ in range(50)]:
        replay(sql)
    best = float("inf")
    for _ in range(rounds):
        batch = [fresh() for _ in range(count)]
        started = time.process_time()
        for sql in batch:
            replay(sql)
        best = min(best, (time.process_time() - started) / count)
    connection.close()
    return best


OPERATIONS = ("fetch", "list", "create+delete", "send")
_MESSAGE_SID = re.compile(r"SM[0-9a-f]{32}")


def main() -> int:
    operations = sys.argv[1:] or list(OPERATIONS)
    unknown = set(operations) - set(OPERATIONS)
    if unknown:
        sys.exit(f"unknown operation(s): {', '.join(sorted(unknown))}; one of {OPERATIONS}")
    for operation in operations:
        with tempfile.TemporaryDirectory() as tmp:
            database, statements = traced(operation, Path(tmp))
            cost = replayed(database, statements)
        print(f"{operation}: {len(statements)} statements, {cost * 1e6:.0f} us of CPU replayed")
        for statement in statements:
            print(f"    {' '.join(statement.split())[:120]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
