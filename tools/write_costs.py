"""Where a write's time goes: each part of a create+delete taken out in turn, in one process.

    .venv/bin/python tools/write_costs.py [--rounds 7] [--count 200] [--operation create+delete]
        [--only WORD,WORD] [--raw]

The app is called straight through ASGI (tools/profile_requests.py), with the access log written
to a file as `make run` writes it. Each variant takes one part away (some only to measure it:
writes on the event loop without their thread are not safe as such), and the variants are timed
in interleaved rounds. Time is the process's CPU time (all its threads), which other engineers'
load on a shared machine hardly moves, unlike wall time. The report is each variant's median
saving per operation against the app as it is, and that saving's share. Also printed: calls per
operation as it is (cProfile, worker threads included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import profile_requests  # beside this file

from twilio_fake import db, edge, faults, journal


@contextlib.contextmanager
def patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def variants(app: Any) -> dict[str, Callable[[], contextlib.AbstractContextManager[Any]]]:
    database = app.backend.db
    middleware = next(o for o in gc.get_objects() if isinstance(o, edge.EdgeMiddleware))

    async def inline(self: db.Database, function: Any, *args: Any, write: bool = False) -> Any:
        return function(*args)

    @contextlib.contextmanager
    def no_writer_lock(self: db.Database) -> Iterator[None]:
        yield

    async def no_faults(self: faults.InjectFaults, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    @contextlib.contextmanager
    def no_journal() -> Iterator[None]:
        kept, middleware.journal = middleware.journal, journal.Journal(0)
        try:
            yield
        finally:
            middleware.journal = kept

    @contextlib.contextmanager
    def no_log() -> Iterator[None]:
        logger = logging.getLogger("twilio_fake.requests")
        logger.disabled = True
        try:
            yield
        finally:
            logger.disabled = False

    @contextlib.contextmanager
    def unsynced() -> Iterator[None]:
        with patched(db.Database, "check_present", lambda self: None):
            _set_synchronous(database, "OFF")
            try:
                yield
            finally:
                _set_synchronous(database, "NORMAL")

    return {
        "as it is": contextlib.nullcontext,
        "as it is, again (the noise: should save 0)": contextlib.nullcontext,
        "no thread hop (writes on the loop)": lambda: patched(db.Database, "call", inline),
        "no write lock (thread lock, flock)": lambda: patched(
            db.Database, "_writer", no_writer_lock
        ),
        "no fsync (synchronous=OFF), no file check": unsynced,
        "no journal": no_journal,
        "no access log": no_log,
        "no fault middleware": lambda: patched(faults.InjectFaults, "__call__", no_faults),
    }


def _set_synchronous(database: db.Database, value: str) -> None:
    pool: Any = database.engine.pool
    connections = [pool.connect() for _ in range(3)]
    for connection in connections:
        connection.driver_connection.execute(f"PRAGMA synchronous={value}")
    for connection in connections:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--operation", default="create+delete", choices=profile_requests.OPS)
    parser.add_argument(
        "--only", help="the variants to time besides the app as it is (a word of each name)"
    )
    parser.add_argument("--raw", action="store_true", help="print every round's times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # The access log as `make run` writes it: a line per request, to a file.
        handler = logging.FileHandler(Path(tmp) / "access.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("twilio_fake").setLevel(logging.INFO)
        app = profile_requests.bench_app(Path(tmp))  # the bench's data, as profile_requests
        operation = profile_requests.operations(app)[args.operation]
        asyncio.run(profile_requests.repeat(operation, 100))  # warm-up
        _own, calls, _stats = profile_requests.profile(
            lambda: profile_requests.repeat(operation, args.count)
        )
        print(f"{args.operation}: {sum(calls.values()) / args.count:.0f} calls each as it is")
        measured: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for name, variant in variants(app).items():
                if (
                    args.only
                    and not name.startswith("as it is")
                    and not any(w in name for w in args.only.split(","))
                ):
                    continue
                with variant():
                    started = time.process_time()
                    asyncio.run(profile_requests.repeat(operation, args.count))
                    elapsed = (time.process_time() - started) / args.count
                measured.setdefault(name, []).append(elapsed)
        if args.raw:
            for name, times in measured.items():
                print(f"  {name:45} " + " ".join(f"{t * 1e6:5.0f}" for t in times))
        base = measured.pop("as it is")
        print(
            f"as it is: {statistics.median(base) * 1e6:.0f} us of CPU each "
            f"(median of {args.rounds})"
        )
        for name, times in measured.items():
            saved = [b - t for b, t in zip(base, times, strict=True)]
            share = statistics.median(s / b for s, b in zip(saved, base, strict=True))
            print(f"  {name:45} saves {statistics.median(saved) * 1e6:6.0f} us ({share:6.1%})")


if __name__ == "__main__":
    main()
