"""Where a request's time goes, in-process: the app called straight through ASGI, no network.

    .venv/bin/python tools/profile_requests.py [fetch|list|create+delete] [--rounds 7]
        [--app fake|floor]

Prints the best time per request over several rounds (wall clock: it drifts on a shared VM; and
the process's CPU time, which drifts much less),
then cProfile's own time and call counts per request grouped by package (call counts do not
drift, which makes them the better yardstick for a change). Calls made in worker threads (a
write's, on SQLite) are counted too, so that moving work into a thread does not hide it.

`--app floor` profiles the connexion floor of `make bench` (tools/bench_floor.py: connexion's
AsyncApp over the same openapi.yaml, handlers answering the fake's own bodies, no storage)
instead, so that the fake's calls per request can be set against connexion's own.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import cProfile
import logging
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import bench  # beside this file

from twilio_fake.app import create_app, settle_heap
from twilio_fake.config import Settings

# The data `make bench` serves (tools/bench.py): a pool of bench.STORED numbers, so that a list
# is a full page of 50 as it is there, and bench.FREE numbers out of it to add and remove.
ACCOUNT, TOKEN, POOL = bench.ACCOUNT, bench.TOKEN, bench.POOL
IN_POOL, FREE = bench.sid(bench.FREE), [bench.sid(n) for n in range(2)]
AUTH = b"Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode())
App = Callable[..., Awaitable[None]]  # an ASGI app: the fake, or the floor
OPS = ("fetch", "list", "create+delete")
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


def operations(app: App) -> dict:
    number = FREE[0]

    async def fetch() -> None:
        assert await call(app, "GET", f"{POOL}/{IN_POOL}") == 200

    async def listing() -> None:
        assert await call(app, "GET", POOL, query=b"PageSize=50") == 200

    async def create_delete() -> None:
        assert await call(app, "POST", POOL, body=f"PhoneNumberSid={number}".encode()) == 201
        assert await call(app, "DELETE", f"{POOL}/{number}") == 204

    return {"fetch": fetch, "list": listing, "create+delete": create_delete}


async def repeat(operation: Callable[[], Awaitable[None]], count: int) -> None:
    for _ in range(count):
        await operation()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("operation", choices=OPS, nargs="?",
                        default="fetch")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=500, help="requests a round")
    parser.add_argument("--app", choices=["fake", "floor"], default="fake")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        app = bench_app(Path(tmp))
        if args.app == "floor":
            app = floor(app)
        settle_heap()  # as the served app does once it is built
        operation = operations(app)[args.operation]
        asyncio.run(repeat(operation, 100))  # warm-up
        best = cpu = float("inf")
        for _ in range(args.rounds):
            started, started_cpu = time.perf_counter(), time.process_time()
            asyncio.run(repeat(operation, args.count))
            best = min(best, (time.perf_counter() - started) / args.count)
            cpu = min(cpu, (time.process_time() - started_cpu) / args.count)
        print(
            f"{args.operation}: best of {args.rounds} rounds, {best * 1e6:.0f} us each "
            f"({cpu * 1e6:.0f} us of CPU, all threads)"
        )
        own, calls = profile(operation, args.count)
    total = sum(own.values())
    print("own time by package (cProfile), and calls per operation:")
    for package, seconds in own.most_common():
        print(f"  {package:12} {seconds / total:6.1%}  {calls[package] / args.count:8.1f}")
    print(f"  {'all':12} {'':6}  {sum(calls.values()) / args.count:8.1f}")


def bench_app(directory: Path) -> Any:
    """The fake over the bench's data (see ACCOUNT)."""
    database = directory / "profile.sqlite3"
    settings = Settings(
        database=str(database),
        fixtures=str(bench.fixture_file(directory)),
        pool_limit=2 * bench.STORED,
    )
    create_app(settings).backend.db.dispose()  # the tables and the fixtures
    bench.fill_pool(database, bench.STORED)
    return create_app(settings)


def profile(
    operation: Callable[[], Awaitable[None]], count: int
) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """cProfile's own time and calls of `count` operations, by package, worker threads included."""
    profiles = [cProfile.Profile()]
    threading.setprofile(_profile_this_thread(profiles))  # the worker threads made from now
    profiles[0].enable()
    asyncio.run(repeat(operation, count))
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
    return own, calls


def _profile_this_thread(profiles: list[cProfile.Profile]) -> Callable[..., None]:
    """A threading.setprofile hook: each new thread (asyncio's and anyio's workers) profiles
    itself with a profiler of its own, kept in `profiles`."""

    def start(*_args: object) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()

    return start


def floor(fake: App) -> App:
    """The connexion floor (tools/bench_floor.py), answering what `fake` answers."""
    import bench_floor  # beside this file

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
        return b"".join(m.get("body", b"") for m in sent[1:]).decode()

    async def bodies() -> dict:
        number = FREE[1]
        created = await body("POST", POOL, form=f"PhoneNumberSid={number}".encode())
        await body("DELETE", f"{POOL}/{number}")
        return {
            "fetch": await body("GET", f"{POOL}/{IN_POOL}"),
            "create": created,
            "list": {"50": await body("GET", POOL, query=b"PageSize=50")},
        }

    answers = asyncio.run(bodies())
    return bench_floor.build(answers, credentials={ACCOUNT: TOKEN})


if __name__ == "__main__":
    main()
