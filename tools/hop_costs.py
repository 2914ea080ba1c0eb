"""What a hop from the event loop to a thread and back costs: anyio's `to_thread` against the
database's own caller threads (`twilio_fake.db._Callers`, which PostgreSQL's calls take).

    python tools/hop_costs.py [--hops 20000]
    python tools/hop_costs.py --postgresql [--hops 8000]

Each way runs `hops` calls of a function that returns at once, one at a time and then 16 at
once (as a server at 16 connections would), and prints wall and CPU time a hop.

With `--postgresql`, each hop runs a statement on a throwaway PostgreSQL (the tests' own): a
lone read of an account's credentials by its key, as authentication runs it. Three ways: the
fake's (`Database.call` on its caller threads: `alone`, its kept connection, `Prepared`); the
same SQL on caller threads of the same kind with nothing of the fake's around it (psycopg's
blocking connection, one kept by each thread); and the same SQL awaited on the event loop
through psycopg's `AsyncConnection`, one per task, with no thread. It prints the process's CPU
and context switches a statement (`getrusage`): the second against the third is what the
threads cost, the first against the second what the fake's own layers add (docs/performance.md,
fourteenth pass).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from anyio import to_thread

from twilio_fake.db import CALLERS, _Callers

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = 1000


def nothing() -> int:
    return 1


async def timed(name: str, hop: Callable[[], Awaitable[object]], hops: int, at_once: int) -> None:
    async def worker(count: int) -> None:
        for _ in range(count):
            await hop()

    wall, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as group:
        for _ in range(at_once):
            group.start_soon(worker, hops // at_once)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name:22} {at_once:2} at once: {wall / hops * 1e6:6.1f} us wall, "
          f"{cpu / hops * 1e6:6.1f} us CPU a hop")  # fmt: skip


async def main(hops: int) -> None:
    callers = _Callers(CALLERS)
    for at_once in (1, 16):
        await timed("anyio to_thread", lambda: to_thread.run_sync(nothing), hops, at_once)
        await timed("database callers", lambda: callers.run(nothing), hops, at_once)
    callers.stop()


def _usage() -> tuple[float, int]:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime, used.ru_nvcsw + used.ru_nivcsw


async def statements(name: str, run: Callable[[int], Awaitable[object]], hops: int,
                     at_once: int) -> None:  # fmt: skip
    async def worker(index: int) -> None:
        for n in range(hops // at_once):
            await run(index * hops + n)

    for _pass in ("warm-up", "timed"):  # the first warms connections and plans up
        cpu, switches = _usage()
        wall = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(at_once)))
        wall = time.perf_counter() - wall
        after = _usage()
        cpu, switches = after[0] - cpu, after[1] - switches
    print(f"{name:22} {at_once:2} at once: {wall / hops * 1e6:6.1f} us wall, "
          f"{cpu / hops * 1e6:6.1f} us CPU, {switches / hops:5.1f} context switches "
          "a statement")  # fmt: skip


async def on_postgresql(url: str, hops: int) -> None:
    import psycopg
    from sqlalchemy import bindparam, insert, select

    from twilio_fake.db import Database, accounts
    from twilio_fake.statements import Prepared

    database = Database(url)
    with database.engine.begin() as setup:
        setup.execute(insert(accounts), [{"sid": f"AC{n:032d}", "auth_token_hash": "0" * 64}
                                        for n in range(ACCOUNTS)])  # fmt: skip
    query = select(accounts.c.sid, accounts.c.auth_token_hash).where(
        accounts.c.sid == bindparam("sid")
    )
    credentials = Prepared(query)
    sql = query.compile(dialect=database.engine.dialect).string
    driver_url = database.engine.url.set(drivername="postgresql").render_as_string(False)
    connections: list[psycopg.AsyncConnection] = []
    callers, kept = _Callers(CALLERS), threading.local()

    def on_a_thread(n: int) -> object:
        if getattr(kept, "connection", None) is None:
            kept.connection = psycopg.connect(driver_url, autocommit=True)
        return kept.connection.execute(sql, {"sid": f"AC{n % ACCOUNTS:032d}"}).fetchall()

    try:
        for at_once in (1, 16):
            await statements(
                "caller threads",
                lambda n: database.call(database.first, credentials,
                                        {"sid": f"AC{n % ACCOUNTS:032d}"}),  # fmt: skip
                hops, at_once,
            )  # fmt: skip
            await statements("threads, psycopg alone", lambda n: callers.run(on_a_thread, n),
                             hops, at_once)  # fmt: skip
            while len(connections) < at_once:
                connections.append(
                    await psycopg.AsyncConnection.connect(driver_url, autocommit=True)
                )

            async def awaited(n: int) -> object:
                cursor = await connections[n // hops].execute(
                    sql, {"sid": f"AC{n % ACCOUNTS:032d}"}
                )
                return await cursor.fetchall()

            await statements("awaited on the loop", awaited, hops, at_once)
    finally:
        for connection in connections:
            await connection.close()
        callers.stop()  # their connections close as the threads end
        database.dispose()


def postgresql(hops: int) -> None:
    sys.path.insert(0, str(ROOT))  # the tests' throwaway PostgreSQL server
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    try:
        asyncio.run(on_postgresql(server.create_database(), hops))
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, help="20000, or 8000 with --postgresql")
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="a statement a hop, on a throwaway PostgreSQL (see above)",
    )
    args = parser.parse_args()
    if args.hops is not None and args.hops < 16:
        parser.error("--hops must be at least 16 (16 run at once)")
    if args.postgresql:
        postgresql(8000 if args.hops is None else args.hops)
    else:
        asyncio.run(main(20000 if args.hops is None else args.hops))
