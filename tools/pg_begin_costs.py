"""What the bulk lock costs a PostgreSQL write, three ways, in one process.

    python tools/pg_begin_costs.py [--writes 2000] [--rounds 3]

On a throwaway PostgreSQL server (the tests' own), one-row updates, each a write transaction
of its own on a pooled connection as `Database.write` takes one, timed (wall and this process's
CPU, per write) in interleaved rounds:
- none: psycopg begins the transaction, no lock (what writes did before the bulk lock);
- separate: the advisory lock taken shared in a statement of its own after psycopg's BEGIN;
- folded: the connection in autocommit, the transaction begun with `BEGIN; SELECT
  pg_advisory_xact_lock_shared(…)` in one round trip (what `Database.write` does).
docs/performance.md (twenty-second pass) has what this showed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import Connection, insert, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' throwaway PostgreSQL server

from tests.support.postgres import PostgresServer  # noqa: E402
from twilio_fake.db import BULK_LOCK, Database, settings  # noqa: E402
from twilio_fake.statements import on_the_driver  # noqa: E402

LOCK = f"SELECT pg_advisory_xact_lock_shared({BULK_LOCK})"


def ways(db: Database) -> dict[str, Callable[[], AbstractContextManager[Connection]]]:
    @contextmanager
    def none() -> Iterator[Connection]:
        with db.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def separate() -> Iterator[Connection]:
        with db.engine.connect() as conn, conn.begin():
            on_the_driver(conn, LOCK)
            yield conn

    @contextmanager
    def folded() -> Iterator[Connection]:
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            with conn.begin():
                on_the_driver(conn, f"BEGIN; {LOCK}")
                yield conn

    return {"none": none, "separate": separate, "folded": folded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = PostgresServer()
    try:
        db = Database(server.create_database())
        with db.write() as conn:
            conn.execute(insert(settings).values(name="timed", value="0"))
        statement = update(settings).where(settings.c.name == "timed").values(value="1")
        timed = ways(db)
        results: dict[str, list[str]] = {name: [] for name in timed}
        for _ in range(args.rounds):
            for name, way in timed.items():
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(args.writes):
                    with way() as conn:
                        conn.execute(statement)
                wall = (time.perf_counter() - wall) / args.writes * 1e6
                cpu = (time.process_time() - cpu) / args.writes * 1e6
                results[name].append(f"{wall:.0f} us ({cpu:.0f} us CPU)")
        for name, rounds in results.items():
            print(f"{name:9}", ", ".join(rounds))
        db.dispose()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
