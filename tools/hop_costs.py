"""What a hop from the event loop to a thread and back costs: anyio's `to_thread` against the
database's own caller threads (`twilio_fake.db._Callers`, which PostgreSQL's calls take).

    python tools/hop_costs.py [--hops 20000]

Each way runs `hops` calls of a function that returns at once, one at a time and then 16 at
once (as a server at 16 connections would), and prints wall and CPU time a hop.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import anyio
from anyio import to_thread

from twilio_fake.db import CALLERS, _Callers


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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=20000)
    asyncio.run(main(parser.parse_args().hops))
