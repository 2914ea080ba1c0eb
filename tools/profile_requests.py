"""Where a request's time goes, in-process: the app called straight through ASGI, no network.

    .venv/bin/python tools/profile_requests.py [fetch|list|create+delete|send] [--rounds 7]
        [--app fake|floor] [--dispatcher live|off] [--functions N] [--postgresql] [--cold]
        [--page-size 50]

Prints the best time per request over several rounds (wall clock: it drifts on a shared VM; and
the process's CPU time, which drifts much less),
then cProfile's own time and call counts per request grouped by package (call counts do not
drift, which makes them the better yardstick for a change). Calls made in worker threads (a
write's, on SQLite) are counted too, so that moving work into a thread does not hide it.

`--app floor` profiles the connexion floor of `make bench` (tools/bench_floor.py: connexion's
AsyncApp over the same openapi.yaml, handlers answering the fake's own bodies, no storage)
instead, so that the fake's calls per request can be set against connexion's own.

The app is built as the server builds it, start-up's objects frozen out of the garbage
collector (`settle_heap`), over the data `make bench` serves. `send` is
`POST .../Messages.json` from the bench account's +14155550100 (tools/bench.py's sender) to a
US number the fake does not serve, without a StatusCallback. A served fake runs its dispatcher
(in the app's ASGI lifespan), which moves each message sent through three more statuses in the
same process; so for `send` the rounds run inside the lifespan, and a round ends when every
message sent in it is delivered: its CPU is what a send costs served, the dispatcher's steps
included (`--dispatcher off`: the request alone, no lifespan). Beside it the rounds time the
request alone, and the dispatcher alone catching up with what those requests left (its cost a
message when it finds many due at once).
`--postgresql` builds the fake on a throwaway PostgreSQL server (the tests' own) instead of a
SQLite file: its calls run on the database's threads, whose CPU the rounds count.
`--functions N` also lists the N functions with the most own time, and the N with the most
time inclusive, with their calls per operation.

`--cold` runs a client's turn before each request, as a served request finds it: the client
(twilio-python, requests) runs on the same two cores between two calls and takes the CPU's
caches. Only the requests are timed and profiled. Warm, a request's code and data stay in the
caches from one request to the next, and the fake's extra code and data cost little; cold, each
request fetches them again, as served (docs/performance.md, eighth pass: a list of 5 costs the
fake 8% more CPU than the floor warm, 20% cold, and about 45% in the app served).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import cProfile
import json
import logging
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import bench  # beside this file
from sqlalchemy import func, select

from twilio_fake.app import create_app, settle_heap
from twilio_fake.config import Settings
from twilio_fake.resources.messages.tables import messages

# The data `make bench` serves (tools/bench.py): a pool of bench.STORED numbers, so that a list
# is a full page of 50 as it is there, and bench.FREE numbers out of it to add and remove.
ACCOUNT, TOKEN, POOL = bench.ACCOUNT, bench.TOKEN, bench.POOL
IN_POOL, FREE = bench.sid(bench.FREE), [bench.sid(n) for n in range(2)]
AUTH = b"Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode())
App = Callable[..., Coroutine[Any, Any, None]]  # an ASGI app: the fake, or the floor
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
# tools/bench.py's send: from the account's number to a US number the fake does not serve.
SEND = urlencode({"From": "+14155550100", "To": "+14155550199", "Body": "bench"}).encode()
OPS = ("fetch", "list", "create+delete", "send")
PACKAGES = ("connexion", "starlette", "sqlalchemy", "twilio_fake", "handlers", "jsonschema",
            "werkzeug", "anyio", "inspect.py", "copy.py", "json", "logging", "typing")  # fmt: skip


async def call(app: App, method: str, path: str, query: bytes = b"", body: bytes = b"") -> int:
    headers = [(b"host", b"127.0.0.1:8080"), (b"authorization", AUTH)]
    if body:
        headers += [(b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(body)).encode())]  # fmt: skip
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
        "root_path": "", "headers": headers, "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


def operations(app: App, page_size: int = 50) -> dict:
    number = FREE[0]

    async def fetch() -> None:
        assert await call(app, "GET", f"{POOL}/{IN_POOL}") == 200

    async def listing() -> None:
        assert await call(app, "GET", POOL, query=f"PageSize={page_size}".encode()) == 200

    async def create_delete() -> None:
        assert await call(app, "POST", POOL, body=f"PhoneNumberSid={number}".encode()) == 201
        assert await call(app, "DELETE", f"{POOL}/{number}") == 204

    async def send() -> None:
        assert await call(app, "POST", MESSAGES, body=SEND) == 201

    return {"fetch": fetch, "list": listing, "create+delete": create_delete, "send": send}


async def repeat(operation: Callable[[], Awaitable[None]], count: int) -> None:
    for _ in range(count):
        await operation()


# What a client's turn between two requests touches: more memory than the CPU's L2 caches hold
# (2 MiB a core here), and Python code of its own (JSON decoding, as a client reads an answer).
_CLIENTS_MEMORY = bytearray(8 * 1024 * 1024)
_CLIENTS_ANSWER = json.dumps([{f"key{n}": list(range(20))} for n in range(2000)])


def clients_turn() -> None:
    """Take the CPU's caches from the app, as the client's work between two calls does."""
    bytes(_CLIENTS_MEMORY)  # read it all, into as much memory again
    json.loads(_CLIENTS_ANSWER)


async def repeat_cold(
    operation: Callable[[], Awaitable[None]],
    count: int,
    spent: list[float] | None = None,
    profiler: cProfile.Profile | None = None,
) -> None:
    """`count` operations, each after a client's turn; `spent` gets the CPU seconds of the
    operations alone, `profiler` (if any) profiles them alone."""
    used = 0.0
    for _ in range(count):
        clients_turn()
        started = time.process_time()
        if profiler is not None:
            profiler.enable()
        await operation()
        if profiler is not None:
            profiler.disable()
        used += time.process_time() - started
    if spent is not None:
        spent.append(used)


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    """The app's ASGI lifespan, as a server runs it around its requests (the fake's dispatcher
    starts with it and stops at its end)."""
    started, stopping = asyncio.Event(), asyncio.Event()

    async def receive() -> dict:
        if not started.is_set():
            return {"type": "lifespan.startup"}
        await stopping.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: dict) -> None:
        if message["type"].endswith(".failed"):
            raise RuntimeError(message.get("message", "the lifespan failed"))
        if message["type"] == "lifespan.startup.complete":
            started.set()

    running = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    )
    await started.wait()
    try:
        yield
    finally:
        stopping.set()
        await running


async def drained(app: App) -> None:
    """Wait until the dispatcher has moved every message to its last status."""
    waiting = select(func.count()).select_from(messages).where(messages.c.due_at.is_not(None))
    while True:
        with app.backend.db.read() as conn:  # type: ignore[attr-defined]  # the fake's
            if not conn.scalar(waiting):
                return
        await asyncio.sleep(0.02)


async def served(app: App, operation: Callable[[], Awaitable[None]], count: int) -> float:
    """CPU seconds of `count` operations with the app's lifespan running, until the dispatcher
    is done with them (its start and stop, once per server, not counted)."""
    async with lifespan(app):
        started = time.process_time()
        for _ in range(count):
            await operation()
            # A server's loop runs its other tasks between requests (here: the dispatcher,
            # woken by the send); called straight through ASGI, a request may never yield.
            await asyncio.sleep(0)
        await drained(app)
        return time.process_time() - started


async def catch_up(app: App) -> float:
    """CPU seconds of the dispatcher alone moving what requests made without it, until it is
    done (its start and stop not counted)."""
    async with lifespan(app):
        started = time.process_time()
        await drained(app)
        return time.process_time() - started


def cpu_of(work: Callable[[], Coroutine[Any, Any, None]]) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) of running `work` in a new event loop."""
    started, started_cpu = time.perf_counter(), time.process_time()
    asyncio.run(work())
    return time.perf_counter() - started, time.process_time() - started_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("operation", choices=OPS, nargs="?",
                        default="fetch")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=500, help="requests a round")
    parser.add_argument("--app", choices=["fake", "floor"], default="fake")
    parser.add_argument(
        "--dispatcher",
        choices=["live", "off"],
        default="live",
        help="send on the fake: profile with its lifespan's dispatcher running, or without",
    )
    parser.add_argument("--functions", type=int, default=0, help="list the top N functions")
    parser.add_argument("--page-size", type=int, default=50, help="a list's page (bench: 50)")
    parser.add_argument(
        "--cold", action="store_true", help="a client's turn before each request (see above)"
    )
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="the fake on a throwaway PostgreSQL (the tests' own) instead of a SQLite file",
    )
    args = parser.parse_args()
    if args.cold and args.operation == "send" and args.app == "fake" and args.dispatcher == "live":
        parser.error("--cold profiles a request alone: with send, add --dispatcher off")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, postgresql(args.postgresql) as database:
        fake = bench_app(Path(tmp), database)
        app: App = floor(fake, args.page_size) if args.app == "floor" else fake
        settle_heap()  # as the server does once the app is built
        operation = operations(app, args.page_size)[args.operation]
        count = args.count
        dispatched = args.operation == "send" and args.app == "fake"
        asyncio.run(repeat(operation, 100))  # warm-up
        if dispatched:
            asyncio.run(catch_up(fake))
        best = cpu = float("inf")
        live = catching_up = float("inf")
        for _ in range(args.rounds):
            if args.cold:
                spent: list[float] = []
                started = time.perf_counter()
                asyncio.run(repeat_cold(operation, count, spent))
                best = min(best, (time.perf_counter() - started) / count)
                cpu = min(cpu, spent[0] / count)
                continue
            wall, used = cpu_of(lambda: repeat(operation, count))
            best, cpu = min(best, wall / count), min(cpu, used / count)
            if dispatched:
                catching_up = min(catching_up, asyncio.run(catch_up(fake)) / count)
                live = min(live, asyncio.run(served(fake, operation, count)) / count)
        if args.cold:
            print(
                f"{args.operation}, cold: best of {args.rounds} rounds, {cpu * 1e6:.0f} us of CPU "
                f"each, the client's turns not counted ({best * 1e6:.0f} us each with them)"
            )
        else:
            print(
                f"{args.operation}: best of {args.rounds} rounds, {best * 1e6:.0f} us each "
                f"({cpu * 1e6:.0f} us of CPU, all threads)"
            )
        if dispatched and not args.cold:
            print(
                f"  served, with the dispatcher running: {live * 1e6:.0f} us of CPU a send, its "
                f"three steps included; the dispatcher alone catching up after the requests: "
                f"{catching_up * 1e6:.0f} us a message"
            )
        if dispatched and args.dispatcher == "live":
            # Each thread's CPU time, not wall time: waiting for the last steps to fall due is
            # idle, and would otherwise count as time in the event loop's poll.
            print("profiled with the dispatcher running (each message sent until delivered), CPU:")
            own, calls, stats = profile(lambda: served(fake, operation, count), time.thread_time)
        elif args.cold:
            own, calls, stats = profile(
                lambda profiler: repeat_cold(operation, count, profiler=profiler), cold=True
            )
        else:
            own, calls, stats = profile(lambda: repeat(operation, count))
    total = sum(own.values())
    print("own time by package (cProfile), and calls per operation:")
    for package, seconds in own.most_common():
        print(f"  {package:12} {seconds / total:6.1%}  {calls[package] / count:8.1f}")
    print(f"  {'all':12} {'':6}  {sum(calls.values()) / count:8.1f}")
    if args.functions:
        functions(stats, count, args.functions)


def functions(stats: dict, count: int, top: int) -> None:
    """The functions with the most own time, then the most inclusive time, per operation."""
    for title, column in (("own", 2), ("inclusive", 3)):
        print(f"top {top} functions by {title} time: us, calls per operation")
        ranked = sorted(stats.items(), key=lambda item: item[1][column], reverse=True)
        for (filename, line, name), values in ranked[:top]:
            where = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
            print(
                f"  {values[column] / count * 1e6:8.1f} {values[1] / count:7.1f}  "
                f"{where}:{line}({name})"
            )


@contextlib.contextmanager
def postgresql(wanted: bool) -> Iterator[str | None]:
    """A database on a throwaway PostgreSQL server (tests/support/postgres.py), if `wanted`."""
    if not wanted:
        yield None
        return
    sys.path.insert(0, str(bench.ROOT))
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    try:
        yield server.create_database()
    finally:
        server.stop()


def bench_app(directory: Path, database: str | None = None) -> Any:
    """The fake over the bench's data (see ACCOUNT): in a SQLite file, or in `database`."""
    database = database or str(directory / "profile.sqlite3")
    settings = Settings(
        database=str(database),
        fixtures=str(bench.fixture_file(directory)),
        pool_limit=2 * bench.STORED,
    )
    create_app(settings).backend.db.dispose()  # the tables and the fixtures
    bench.fill_pool(database, bench.STORED)
    return create_app(settings)


def profile(
    work: Callable[..., Coroutine[Any, Any, object]],
    timer: Callable[[], float] | None = None,
    cold: bool = False,
) -> tuple[collections.Counter[str], collections.Counter[str], dict]:
    """cProfile's own time and calls of `work`, by package, worker threads included; and the
    merged statistics by function. With `cold`, `work` is given the profiler, and enables it
    around what is to be profiled."""
    profiles = [cProfile.Profile(timer) if timer else cProfile.Profile()]
    threading.setprofile(_profile_this_thread(profiles, timer))  # the worker threads made from now
    if cold:
        asyncio.run(work(profiles[0]))
    else:
        profiles[0].enable()
        asyncio.run(work())
        profiles[0].disable()
    threading.setprofile(None)
    own: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    merged = pstats.Stats(profiles[0])
    for other in profiles[1:]:
        merged.add(other)
    stats: dict = merged.stats  # type: ignore[attr-defined]  # not in typeshed
    for (filename, _line, _name), (_cc, number, tottime, _ct, _callers) in stats.items():
        package = next(
            (p for p in PACKAGES if p in filename), "builtins" if filename == "~" else "other"
        )
        own[package] += tottime
        calls[package] += number
    return own, calls, stats


def _profile_this_thread(
    profiles: list[cProfile.Profile], timer: Callable[[], float] | None
) -> Callable[..., None]:
    """A threading.setprofile hook: each new thread (asyncio's and anyio's workers) profiles
    itself with a profiler of its own, kept in `profiles`."""

    def start(*_args: object) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(timer) if timer else cProfile.Profile()
        profiles.append(profile)
        profile.enable()

    return start


def floor(fake: App, page_size: int = 50) -> App:
    """The connexion floor (tools/bench_floor.py), answering what `fake` answers."""
    import bench_floor  # beside this file

    added: dict[str, str] = {}  # the headers the fake adds to every answer (tools/bench.py)

    async def body(method: str, path: str, query: bytes = b"", form: bytes = b"") -> str:
        sent: list[dict] = []
        headers = [(b"host", b"127.0.0.1:8080"), (b"authorization", AUTH)]
        if form:
            headers += [(b"content-type", b"application/x-www-form-urlencoded"),
                        (b"content-length", str(len(form)).encode())]  # fmt: skip
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query, "root_path": "", "headers": headers,
                 "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000)}  # fmt: skip

        async def receive() -> dict:
            return {"type": "http.request", "body": form, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await fake(scope, receive, send)
        for name, value in sent[0]["headers"]:
            if name.decode("latin-1") not in bench.SERVER_HEADERS:
                added[name.decode("latin-1")] = value.decode("latin-1")
        return b"".join(m.get("body", b"") for m in sent[1:]).decode()

    async def bodies() -> dict:
        number = FREE[1]
        created = await body("POST", POOL, form=f"PhoneNumberSid={number}".encode())
        await body("DELETE", f"{POOL}/{number}")
        return {
            "fetch": await body("GET", f"{POOL}/{IN_POOL}"),
            "create": created,
            "list": {
                str(size): await body("GET", POOL, query=f"PageSize={size}".encode())
                for size in {50, page_size}
            },
            "send": await body("POST", MESSAGES, form=SEND),
            "headers": added,
        }

    answers = asyncio.run(bodies())
    return bench_floor.build(answers, credentials={ACCOUNT: TOKEN})


if __name__ == "__main__":
    main()
