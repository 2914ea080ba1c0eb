"""`make bench`: the fake against its peers and references, measured in one run on this machine.

A benchmark, not a test: it prints one table and writes reports/bench.json. Everything runs one
after the other, so the ratios compare like with like:
- the fake as `make run` serves it (a SQLite file, response validation off), with one worker
  and with two;
- a bare Starlette route answering the fake's own bodies with no checks (the ceiling);
- Stoplight Prism mocking the same contract (the stateless reference);
- the stateful fakes a user might pick instead, each in its own virtual environment from PyPI:
  moto's server (GET of a small public-read S3 object) and localstripe (fetch of a customer).

Load comes from wrk (fetch, list of 50, create then delete; and, in the floor's rounds, send:
a message from one of the bench account's numbers), after a warm-up. The SDK rows time
twilio-python, one client making sequential calls, against the fake and the bare route. The
run also takes start-up to the first 200, and fetch and list with 1,000 and with 1,000,000
numbers stored, with the fake's peak memory.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
import sqlalchemy
import yaml
from twilio.rest import Client

from twilio_fake import db
from twilio_fake.launch import serve_command
from twilio_fake.resources.numbers import model as numbers_model
from twilio_fake.resources.numbers.tables import incoming_phone_numbers
from twilio_fake.resources.pool.tables import pool_entries
from twilio_fake_contract.serving import LISTENING, Server

ROOT = Path(__file__).resolve().parent.parent
PRISM = ROOT / "tools" / "npm" / "node_modules" / ".bin" / "prism"
WRK_SCRIPTS = ROOT / "tools" / "wrk"
PEERS = ROOT / ".bench-peers"  # the peers' virtual environments, kept between runs (ignored)
PEER_PACKAGES = {"moto": "moto[server]==5.2.5", "localstripe": "localstripe==1.15.10"}
ACCOUNT, TOKEN = "AC" + "b" * 32, "bench-token"
SERVICE = "MG" + "b" * 32
AUTH = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
POOL = f"/v1/Services/{SERVICE}/PhoneNumbers"
STORED = 1_000  # numbers in the pool for the main runs
FREE = 64  # numbers kept out of the pool, one per connection of the create+delete runs
CONNECTIONS = (1, 16, 64)
OPERATIONS = ("fetch", "list", "create+delete")
FLOOR_OPERATIONS = (*OPERATIONS, "send")  # the floor's rounds also send messages
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
# A message from the account's sender (a valid US number: the pool's +1415000… are not, their
# exchange starts with 0) to a US number the fake does not serve (no inbound delivery), with no
# StatusCallback: each send stores a message that the dispatcher moves on to delivered, with
# nothing held in memory for it.
SENDER_NUMBER = "+14155550100"
SENDER = {"sid": "PN" + "f" * 32, "phone_number": SENDER_NUMBER, "capabilities": ["SMS", "MMS"]}
SEND_FORM = {"From": SENDER_NUMBER, "To": "+14155550199", "Body": "bench"}
SDK_CALLS = ("fetch", "delete then create", "list of 5")


@dataclass(frozen=True)
class Sender:
    """An account that sends, with its number: the bench's, or one minted for a round."""

    account: str
    token: str
    phone_number: str

    @property
    def messages(self) -> str:
        return f"/2010-04-01/Accounts/{self.account}/Messages.json"

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.account}:{self.token}".encode()).decode()


BENCH_SENDER = Sender(ACCOUNT, TOKEN, SENDER_NUMBER)


def mint_sender(url: str) -> Sender:
    """An account of its own on the fake (the control surface), with one number to send from."""
    minted = requests.post(f"{url}/_fake/accounts", json={"services": 0, "numbers": 1}, timeout=10)
    minted.raise_for_status()
    body = minted.json()
    return Sender(body["sid"], body["auth_token"], body["phone_numbers"][0])


def drop_sender(url: str, sender: Sender) -> None:
    requests.delete(f"{url}/_fake/accounts/{sender.account}", timeout=60).raise_for_status()


def sid(n: int) -> str:
    return f"PN{n:032x}"


def e164(n: int) -> str:
    return f"+1415{n % 10_000_000:07d}"


# -- servers -------------------------------------------------------------------------------------
class Measured:
    """A server under test, timed from its start to its first 200 on `ready_path`."""

    def __init__(
        self,
        command: list[str],
        ready_path: str,
        headers: dict[str, str] | None = None,
        ready: re.Pattern[str] | None = None,
    ) -> None:
        started = time.monotonic()
        self.server = Server(command, cwd=ROOT, ready=ready or LISTENING)
        self.url = self.server.url
        deadline = started + 120
        while time.monotonic() < deadline:
            try:
                response = requests.get(self.url + ready_path, headers=headers, timeout=1)
                if response.status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # not accepting yet, or accepted but still starting (worker processes)
            time.sleep(0.005)
        else:
            self.stop()
            raise RuntimeError(f"{command[0]} did not answer {ready_path}")
        self.startup = time.monotonic() - started

    def peak_memory_mb(self) -> float:
        """The process's peak resident memory (VmHWM), with its children's."""
        pids = [self.server.pid, *_children(self.server.pid)]
        total_kb = 0
        for pid in pids:
            status = Path(f"/proc/{pid}/status").read_text()
            total_kb += int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return total_kb / 1024

    def stop(self) -> None:
        self.server.stop(timeout=30)

    def cpu_seconds(self) -> float:
        """CPU time the server's processes have used so far (user and system)."""
        ticks = 0
        for pid in [self.server.pid, *_children(self.server.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:  # a child that has just ended
                continue
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def settle(self, deadline: float = 120, window: float = 0.5, busy: float = 0.05) -> None:
        """Wait until the server is idle: using less than `busy` of a core over `window` s.

        What a measurement leaves running (the fake's dispatcher moving thousands of messages
        sent through their statuses) must not be counted against the next one."""
        give_up = time.monotonic() + deadline
        while time.monotonic() < give_up:
            used = self.cpu_seconds()
            time.sleep(window)
            if self.cpu_seconds() - used < busy * window:
                return
        print(f"  (still busy after {deadline:g} s; measuring anyway)", flush=True)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def fixture_file(directory: Path) -> Path:
    numbers = [{"sid": sid(n), "phone_number": e164(n), "capabilities": ["SMS", "MMS"]}
               for n in range(STORED + FREE)] + [SENDER]  # fmt: skip
    document = {"accounts": [{"sid": ACCOUNT, "auth_token": TOKEN, "services": [{"sid": SERVICE}],
                              "incoming_phone_numbers": numbers}]}  # fmt: skip
    path = directory / "bench-fixtures.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def fill_pool(database: Path | str, count: int, first_sid: int = FREE) -> None:
    """Put `count` numbers straight into the pool (and the incoming numbers they need)."""
    if "://" in str(database):
        fill_pool_through_sqlalchemy(str(database), count, first_sid)
        return
    with sqlite3.connect(database) as conn:
        existing = {row[0] for row in conn.execute("SELECT sid FROM incoming_phone_numbers")}
        rows = ((sid(n), ACCOUNT, e164(n), "US", '["MMS", "SMS"]')
                for n in range(first_sid, first_sid + count) if sid(n) not in existing)  # fmt: skip
        conn.executemany("INSERT INTO incoming_phone_numbers VALUES (?, ?, ?, ?, ?)", rows)
        conn.executemany(
            "INSERT INTO pool_entries (sid, service_sid, date_created, date_updated) "
            "VALUES (?, ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            ((sid(n), SERVICE) for n in range(first_sid, first_sid + count)),
        )
        # Their 2010 fields, as the fake stores them for a number it loads (all local numbers,
        # the defaults of the contract): without them the fake would complete a million
        # numbers at start-up, the path of a database an earlier version made.
        settings = numbers_model.defaults()
        names = ", ".join(settings)
        conn.execute(
            f"INSERT INTO incoming_phone_number_details (sid, account_sid, type, friendly_name, "
            f"{names}, date_created, date_updated) SELECT sid, account_sid, 'local', phone_number, "
            f"{', '.join('?' for _ in settings)}, '2026-01-01 00:00:00', '2026-01-01 00:00:00' "
            "FROM incoming_phone_numbers WHERE sid NOT IN "
            "(SELECT sid FROM incoming_phone_number_details)",
            [int(v) if isinstance(v, bool) else v for v in settings.values()],
        )


def fill_pool_through_sqlalchemy(url: str, count: int, first_sid: int) -> None:
    """fill_pool for PostgreSQL, through the fake's own tables."""
    engine = sqlalchemy.create_engine(db.database_url(url))
    moment = datetime(2026, 1, 1)
    wanted = range(first_sid, first_sid + count)
    try:
        with engine.begin() as conn:
            existing = set(conn.scalars(sqlalchemy.select(incoming_phone_numbers.c.sid)))
            numbers = [
                {"sid": sid(n), "account_sid": ACCOUNT, "phone_number": e164(n),
                 "country_code": "US", "capabilities": ["MMS", "SMS"]}
                for n in wanted if sid(n) not in existing
            ]  # fmt: skip
            if numbers:
                conn.execute(sqlalchemy.insert(incoming_phone_numbers), numbers)
            entries = [{"sid": sid(n), "service_sid": SERVICE, "date_created": moment,
                        "date_updated": moment} for n in wanted]  # fmt: skip
            conn.execute(sqlalchemy.insert(pool_entries), entries)
    finally:
        engine.dispose()


def start_fake(database: Path | str, fixtures: Path | None, *options: str) -> Measured:
    """The fake as `make run` serves it; with a fixture file, room for the scale run's numbers.

    (The default pool limit, Twilio's 400, would answer the scale run's creates with 21714.)
    """
    return Measured(fake_command(database, fixtures, *options), "/_fake/health")


def fake_command(database: Path | str, fixtures: Path | None, *options: str) -> list[str]:
    data = ("--fixtures", str(fixtures), "--pool-limit", "2000000") if fixtures else ()
    return serve_command(database, *data, *options)


def start_prism(directory: Path) -> Measured:
    # The contract's paths are whole (/v1/..., /2010-04-01/...) and its server is "/"; the
    # servers of its path items (Twilio's hosts) are dropped, so that Prism serves them all here.
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    spec["servers"] = [{"url": "/"}]
    for item in spec["paths"].values():
        item.pop("servers", None)
    folded = directory / "openapi-for-prism.yaml"
    folded.write_text(yaml.safe_dump(spec, sort_keys=False))
    command = [str(PRISM), "mock", str(folded), "--host", "127.0.0.1", "--port", "0",
               "--verboseLevel", "info"]  # fmt: skip
    return Measured(command, POOL, {"Authorization": f"Basic {AUTH}"})


def start_bare(directory: Path, fake_url: str | None) -> Measured:
    """The bare route, answering the fake's own bodies (taken from `fake_url` when given)."""
    path = bodies_file(directory, fake_url)
    return Measured([sys.executable, str(ROOT / "tools" / "bench_bare.py"), str(path)], POOL)


def start_floor(directory: Path, fake_url: str | None) -> Measured:
    """The connexion floor (tools/bench_floor.py): connexion's AsyncApp over the same
    openapi.yaml, its default middleware and request validation, handlers returning the fake's
    own bodies (taken from `fake_url` when given), no storage."""
    path = bodies_file(directory, fake_url)
    command = [sys.executable, str(ROOT / "tools" / "bench_floor.py"), str(path)]
    return Measured(command, POOL, {"Authorization": f"Basic {AUTH}"})


# What the server (uvicorn, starlette) writes itself on every answer; the rest of the fake's
# headers are the contract's (`x-standard-headers`: a request id, CORS) and its duration.
SERVER_HEADERS = frozenset({"date", "server", "content-length", "content-type"})


def bodies_file(directory: Path, fake_url: str | None) -> Path:
    """What the fake answers (asked of `fake_url` when given), for the bare route and the floor:
    its bodies, and the headers it adds to every answer, so that they answer the same bytes (a
    client reads every header: twilio-python's seven more cost it about a tenth of a call)."""
    path = directory / "bare-bodies.json"
    if fake_url:
        headers = {"Authorization": f"Basic {AUTH}"}
        get = lambda url: requests.get(fake_url + url, headers=headers, timeout=5).text  # noqa: E731
        answered = requests.get(f"{fake_url}{POOL}/{sid(FREE)}", headers=headers, timeout=5)
        added = {k: v for k, v in answered.headers.items() if k.lower() not in SERVER_HEADERS}
        number = sid(0)
        requests.delete(f"{fake_url}{POOL}/{number}", headers=headers, timeout=5)
        created = requests.post(
            fake_url + POOL, data={"PhoneNumberSid": number}, headers=headers, timeout=5
        ).text
        requests.delete(f"{fake_url}{POOL}/{number}", headers=headers, timeout=5)
        sent = requests.post(fake_url + MESSAGES, data=SEND_FORM, headers=headers, timeout=5)
        sent.raise_for_status()  # the floor and the bare route must answer a message, not an error
        bodies = {
            "fetch": get(f"{POOL}/{sid(FREE)}"),
            "create": created,
            "list": {size: get(f"{POOL}?PageSize={size}") for size in ("50", "5")},
            "send": sent.text,
            "headers": added,
        }
        path.write_text(json.dumps(bodies))
    elif not path.exists():
        path.write_text(
            json.dumps({"fetch": "{}", "create": "{}", "list": {"50": "{}"}, "send": "{}"})
        )
    return path


def free_port() -> int:
    """For the peers, which cannot bind port 0 and report it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peer_environment(name: str) -> Path:
    """The peer's own virtual environment, made from PyPI on first use."""
    environment = PEERS / name
    stamp = environment / f".installed-{PEER_PACKAGES[name]}"
    if not stamp.exists():
        print(f"  installing {PEER_PACKAGES[name]} into {environment}", flush=True)
        venv.create(environment, with_pip=True, clear=True)
        subprocess.run(
            [str(environment / "bin" / "pip"), "install", "--quiet", PEER_PACKAGES[name]],
            check=True,
        )
        stamp.touch()
    return environment / "bin"


def start_moto() -> tuple[Measured, str]:
    """moto's server with one public-read object; returns it and the object's path."""
    command = [str(peer_environment("moto") / "moto_server"), "-H", "127.0.0.1",
               "-p", str(free_port())]  # fmt: skip
    server = Measured(command, "/", ready=re.compile(r"Running on (http://\S+)"))
    requests.put(f"{server.url}/bench", timeout=5).raise_for_status()
    requests.put(
        f"{server.url}/bench/object.json",
        data=b'{"sid": "bench"}',
        headers={"x-amz-acl": "public-read", "Content-Type": "application/json"},
        timeout=5,
    ).raise_for_status()
    return server, "/bench/object.json"


STRIPE_KEY = "sk_test_bench"


def start_localstripe() -> tuple[Measured, str]:
    """localstripe with one customer; returns it and the customer's path."""
    command = [str(peer_environment("localstripe") / "localstripe"), "--port", str(free_port())]
    headers = {"Authorization": f"Bearer {STRIPE_KEY}"}
    server = Measured(
        command, "/v1/customers", headers, ready=re.compile(r"Running on (http://\S+)")
    )
    customer = requests.post(
        f"{server.url}/v1/customers",
        data={"email": "bench@example.com"},
        headers=headers,
        timeout=5,
    ).json()
    return server, f"/v1/customers/{customer['id']}"


# -- load ----------------------------------------------------------------------------------------
def free_the_numbers(url: str, numbers: range = range(FREE)) -> None:
    """Take the create+delete numbers out of the pool: a run may end between POST and DELETE.

    A POST that wrk sent as it stopped is still served, and may add its number after this pass
    deleted it (then the next run's POSTs of that number all get 409): pass again until a whole
    pass finds every number free.
    """
    headers = {"Authorization": f"Basic {AUTH}"}
    for _ in range(10):
        deleted = [
            requests.delete(f"{url}{POOL}/{sid(n)}", headers=headers, timeout=10).status_code
            for n in numbers
        ]
        if 204 not in deleted:  # all 404: nothing was left, nor added meanwhile
            return


def wrk(
    url: str,
    operation: str,
    connections: int,
    seconds: float,
    auth: str = "",
    numbers: range = range(FREE),
    sender: Sender | None = None,
) -> dict:
    """One wrk run; `operation` is fetch, list, create+delete, send, or a path to GET.

    create+delete takes one of `numbers` per connection (two wrk runs at once take apart ones).
    """
    sender = sender or BENCH_SENDER
    env = {
        **os.environ,
        "BENCH_AUTH": auth or f"Basic {AUTH}",
        "BENCH_NUMBERS": ",".join(sid(n) for n in numbers),
        "BENCH_FORM": urlencode(SEND_FORM),
    }
    if operation == "send":
        env["BENCH_AUTH"] = sender.basic()
        env["BENCH_FORM"] = urlencode(SEND_FORM | {"From": sender.phone_number})
    threads = min(connections, 2)
    script = "get.lua"
    if operation == "create+delete":
        free_the_numbers(url, numbers)
        script, target, threads = "create_delete.lua", f"{url}{POOL}", connections
    elif operation == "send":
        script, target = "post_form.lua", f"{url}{sender.messages}"
    elif operation == "fetch":
        target = f"{url}{POOL}/{sid(FREE)}"
    elif operation == "list":
        target = f"{url}{POOL}?PageSize=50"
    else:
        target = url + operation
    duration = f"{max(1, round(seconds))}s"  # wrk takes whole seconds
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency",
               "-s", str(WRK_SCRIPTS / script), target]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    if errors:
        # A rate of refused requests measures nothing: stop rather than report it.
        raise RuntimeError(f"{errors} non-2xx responses from {operation} at {url}:\n{output}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": _latency(output, "50%"),
        "p99_ms": _latency(output, "99%"),
    }


def _latency(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def measure(
    name: str, url: str, operations: tuple[str, ...], connections: tuple[int, ...], args: Any,
    results: dict, auth: str = "",
) -> None:  # fmt: skip
    for operation in operations:
        wrk(url, operation, 16, args.warmup, auth)  # warm-up, discarded
        for c in connections:
            measured = wrk(url, operation, c, args.seconds, auth)
            results.setdefault(name, {}).setdefault(operation, {})[str(c)] = measured
            print(
                f"  {name:12} {operation[:24]:24} c={c:<3} {measured['rps']:9.1f} req/s "
                f"p50 {measured['p50_ms']:7.2f} ms  p99 {measured['p99_ms']:7.2f} ms",
                flush=True,
            )


def measure_shared(
    name: str, urls: list[str], operations: tuple[str, ...], connections: int, args: Any,
    results: dict,
) -> None:  # fmt: skip
    """Like measure, with the load split evenly over servers that share one database (one wrk
    per server, at once, each with its own create+delete numbers): rates add up, the p50 is
    the mean and the p99 the worst of them."""
    share = connections // len(urls)
    numbers = [range(i * share, (i + 1) * share) for i in range(len(urls))]

    def run(seconds: float) -> list[dict]:
        with ThreadPoolExecutor(len(urls)) as pool:
            runs = pool.map(lambda i: wrk(urls[i], op, share, seconds, numbers=numbers[i]),
                            range(len(urls)))  # fmt: skip
            return list(runs)

    for op in operations:
        run(args.warmup)  # warm-up, discarded
        runs = run(args.seconds)
        measured = {
            "rps": sum(r["rps"] for r in runs),
            "p50_ms": statistics.mean(r["p50_ms"] for r in runs),
            "p99_ms": max(r["p99_ms"] for r in runs),
        }
        results.setdefault(name, {}).setdefault(op, {})[str(connections)] = measured
        print(
            f"  {name:12} {op[:24]:24} c={connections:<3} {measured['rps']:9.1f} req/s "
            f"p50 {measured['p50_ms']:7.2f} ms  p99 {measured['p99_ms']:7.2f} ms",
            flush=True,
        )


def bench_postgresql(directory: Path, fixtures: Path, args: Any, load: dict) -> None:
    """One replica on PostgreSQL, and two sharing the load, beside SQLite with one worker."""
    sys.path.insert(0, str(ROOT))  # the tests' throwaway PostgreSQL server
    from tests.support.postgres import PostgresServer

    print("postgresql: one replica, two replicas sharing the load (16 connections)", flush=True)
    postgres = PostgresServer()
    try:
        url = postgres.create_database()
        first = start_fake(url, fixtures)
        fill_pool(url, STORED)
        try:
            measure("pg", first.url, OPERATIONS, (16,), args, load)
            second = start_fake(url, fixtures)
            try:
                measure_shared("pg x2", [first.url, second.url], OPERATIONS, 16, args, load)
            finally:
                second.stop()
        finally:
            first.stop()
    finally:
        postgres.stop()


def sdk_rates(url: str, seconds: float) -> dict[str, float]:
    """twilio-python, one client, sequential calls: completed calls (or pairs) per second."""
    client = Client(ACCOUNT, TOKEN)
    client.messaging.base_url = url
    pool = client.messaging.v1.services(SERVICE).phone_numbers
    number = sid(0)
    free_the_numbers(url)  # a wrk run of create+delete may have left it in the pool

    def delete_then_create() -> None:
        pool.create(phone_number_sid=number)
        pool(number).delete()

    calls: dict[str, Callable[[], Any]] = {
        "fetch": lambda: pool(sid(FREE)).fetch(),
        "delete then create": delete_then_create,
        "list of 5": lambda: pool.list(limit=5),
    }
    rates = {}
    for name, call in calls.items():
        for _ in range(20):  # warm-up
            call()
        done, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            call()
            done += 1
        rates[name] = done / elapsed
    return rates


FLOOR_SERVERS = ("fake", "floor", "bare")
SDK_FOR = {
    "fetch": "fetch",
    "create+delete": "delete then create",
    "list": "list of 5",
    "send": "send",
}


def sdk_rate(url: str, call: str, seconds: float, sender: Sender | None = None) -> float:
    """sdk_rates for one call: twilio-python, one client, sequential calls, per second (a
    send from `sender`, by default the bench's account)."""
    sender = sender or BENCH_SENDER
    client = Client(sender.account, sender.token) if call == "send" else Client(ACCOUNT, TOKEN)
    client.messaging.base_url = url
    client.api.base_url = url
    pool = client.messaging.v1.services(SERVICE).phone_numbers
    number = sid(0)

    def delete_then_create() -> None:
        pool.create(phone_number_sid=number)
        pool(number).delete()

    calls: dict[str, Callable[[], Any]] = {
        "fetch": lambda: pool(sid(FREE)).fetch(),
        "delete then create": delete_then_create,
        "list of 5": lambda: pool.list(limit=5),
        "send": lambda: client.messages.create(
            from_=sender.phone_number, to=SEND_FORM["To"], body=SEND_FORM["Body"]
        ),
    }
    function = calls[call]
    for _ in range(20):  # warm-up
        function()
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        function()
        done += 1
    return done / elapsed


def bench_startup(directory: Path, report: dict) -> None:
    """Start-up of the fake (as `make run` starts it), Prism and the bare route, in turn,
    three times: the median of each, process start to the first 200."""
    print("start-up (process start to first 200), median of 3", flush=True)
    starts: dict[str, list[float]] = {}
    starters = {
        "fake": lambda n: start_fake(directory / f"start{n}.sqlite3", None),  # `make run`
        "prism": lambda _n: start_prism(directory),
        "bare": lambda _n: start_bare(directory, None),  # python + uvicorn + one route
    }
    for attempt in range(3):
        for name, start in starters.items():
            server = start(attempt)
            starts.setdefault(name, []).append(server.startup)
            server.stop()
    report["startup_s"] = {name: statistics.median(times) for name, times in starts.items()}


def bench_floor(directory: Path, fixtures: Path, args: Any, report: dict) -> None:
    """The fake, the connexion floor and the bare route, in interleaved rounds of one run.

    The three serve at once (an idle one costs nothing) and are measured in turn, operation by
    operation, round after round, so that the machine's drift falls on all three alike: each
    round gives a ratio fake / floor per operation, and the report keeps the median of the
    rounds and their spread (the drift). Two measures per server and operation: twilio-python
    making sequential calls (as a test suite does), and wrk at 16 connections.
    """
    print(
        f"connexion floor: fake, floor and bare route, {args.rounds} interleaved rounds "
        f"({', '.join(args.ops)})",
        flush=True,
    )
    database = directory / "floor.sqlite3"
    fake = start_fake(database, fixtures)
    fake.stop()
    fill_pool(database, STORED)
    servers = {"fake": start_fake(database, fixtures)}
    try:
        free_the_numbers(servers["fake"].url)
        servers["floor"] = start_floor(directory, servers["fake"].url)
        servers["bare"] = start_bare(directory, None)  # the bodies the floor was given
        rounds: list[dict] = []
        for number in range(args.rounds):
            measured: dict = {"sdk": {}, "wrk": {}}
            for op in args.ops:
                for name in FLOOR_SERVERS:
                    url = servers[name].url
                    if name == "fake":  # a wrk run may have ended between a POST and its DELETE
                        free_the_numbers(url)
                    servers[name].settle()  # what an earlier measure left, done first
                    # The fake's sends come from an account of their own each round, dropped
                    # after: an account holds at most `messages-per-account` messages.
                    sender = mint_sender(url) if name == "fake" and op == "send" else None
                    rate = sdk_rate(url, SDK_FOR[op], args.seconds, sender)
                    measured["sdk"].setdefault(name, {})[op] = rate
                    servers[name].settle()
                    wrk(url, op, 16, args.warmup, sender=sender)  # warm-up, discarded
                    load = wrk(url, op, 16, args.seconds, sender=sender)
                    measured["wrk"].setdefault(name, {})[op] = load
                    if sender is not None:
                        servers[name].settle()
                        drop_sender(url, sender)
                    print(
                        f"  round {number + 1} {name:6} {op:14} SDK {rate:7.1f}/s   wrk c=16 "
                        f"{load['rps']:8.1f} req/s p99 {load['p99_ms']:7.2f} ms",
                        flush=True,
                    )
            rounds.append(measured)
        report["memory_mb"] = {"fake_peak_after_floor": servers["fake"].peak_memory_mb()}
    finally:
        for server in servers.values():
            server.stop()
    report["floor"] = floor_summary(rounds, args.ops)


def floor_summary(rounds: list[dict], ops: list[str]) -> dict:
    """Medians of the rounds per server, and each ratio's median with its spread (min, max)."""
    summary: dict = {"rounds": rounds, "sdk": {}, "wrk": {}, "ratios": {}}
    for name in FLOOR_SERVERS:
        for op in ops:
            summary["sdk"].setdefault(name, {})[op] = statistics.median(
                r["sdk"][name][op] for r in rounds
            )
            summary["wrk"].setdefault(name, {})[op] = {
                key: statistics.median(r["wrk"][name][op][key] for r in rounds)
                for key in ("rps", "p50_ms", "p99_ms")
            }
    for top, bottom in (("fake", "floor"), ("floor", "bare"), ("fake", "bare")):
        for measure_name in ("sdk", "wrk"):
            for op in ops:

                def rate(r: dict, name: str, m: str = measure_name, o: str = op) -> float:
                    value = r[m][name][o]
                    return float(value["rps"] if m == "wrk" else value)

                per_round = [rate(r, top) / rate(r, bottom) for r in rounds]
                summary["ratios"].setdefault(f"{top}/{bottom}", {}).setdefault(measure_name, {})[
                    op
                ] = {
                    "median": round(statistics.median(per_round), 3),
                    "min": round(min(per_round), 3),
                    "max": round(max(per_round), 3),
                }
    return summary


def floor_table(report: dict) -> list[str]:
    floor = report["floor"]
    ops = list(floor["sdk"]["fake"])
    lines = [
        "",
        "| measure | operation | fake | connexion floor | bare route | fake / floor "
        "(min-max of rounds) | floor / bare | fake p99 c=16 ms |",
        "|---" * 8 + "|",
    ]
    for m, unit in (("sdk", "calls/s"), ("wrk", "req/s c=16")):
        for op in ops:

            def value(name: str, m: str = m, op: str = op) -> float:
                v = floor[m][name][op]
                return float(v["rps"] if m == "wrk" else v)

            ratio = floor["ratios"]["fake/floor"][m][op]
            lines.append(
                f"| {'SDK sequential' if m == 'sdk' else 'wrk'} ({unit}) | {op} "
                f"| {value('fake'):.0f} | {value('floor'):.0f} | {value('bare'):.0f} "
                f"| {ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f}) "
                f"| {floor['ratios']['floor/bare'][m][op]['median']:.2f} "
                f"| {format(floor['wrk']['fake'][op]['p99_ms'], '.1f') if m == 'wrk' else ''} |"
            )
    return lines


# -- the run -------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per measurement (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per operation")
    parser.add_argument(
        "--large", type=int, default=1_000_000, help="numbers stored for the scale run"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "bench.json")
    parser.add_argument(
        "--only",
        choices=("all", "postgresql", "floor", "startup"),
        default="all",
        help="postgresql: only the PostgreSQL rows, beside SQLite with one worker; "
        "floor: only the fake, the connexion floor and the bare route, interleaved; "
        "startup: only start-up, the fake's beside Prism's and the bare route's",
    )
    parser.add_argument(
        "--ops",
        default=",".join(FLOOR_OPERATIONS),
        help="of the floor's rounds: a comma-separated subset of fetch,list,create+delete,send",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the floor")
    args = parser.parse_args()
    args.ops = [op for op in args.ops.split(",") if op]
    if not args.ops or set(args.ops) - set(FLOOR_OPERATIONS):
        parser.error(f"--ops takes a subset of {','.join(FLOOR_OPERATIONS)}")
    report: dict = {"machine": {"cores": os.cpu_count()}, "seconds": args.seconds, "load": {}}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fixtures = fixture_file(directory)

        if args.only == "floor":
            bench_floor(directory, fixtures, args, report)
            report["targets"] = targets(report)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(report, indent=2))
            print(table(report))
            return 0

        if args.only == "postgresql":
            database = directory / "bench.sqlite3"
            fake = start_fake(database, fixtures)
            fake.stop()
            fill_pool(database, STORED)
            fake = start_fake(database, fixtures)
            try:
                measure("fake", fake.url, OPERATIONS, (16,), args, report["load"])
            finally:
                fake.stop()
            bench_postgresql(directory, fixtures, args, report["load"])
            report["targets"] = targets(report)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(report, indent=2))
            print(table(report))
            return 0

        bench_startup(directory, report)
        if args.only == "startup":
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(report, indent=2))
            print(json.dumps(report["startup_s"]))
            return 0

        print("load", flush=True)
        database = directory / "bench.sqlite3"
        fake = start_fake(database, fixtures)
        fake.stop()  # created the tables and loaded the fixtures; now fill the pool
        fill_pool(database, STORED)
        load = report["load"]
        fake = start_fake(database, fixtures)
        try:
            measure("fake", fake.url, OPERATIONS, CONNECTIONS, args, load)
            report["memory_mb"] = {"fake_peak_after_load": fake.peak_memory_mb()}
            report["sdk"] = {"fake": sdk_rates(fake.url, args.seconds)}
            bare = start_bare(directory, fake.url)
        finally:
            fake.stop()
        try:
            measure("bare", bare.url, OPERATIONS, (16,), args, load)
            report["sdk"]["bare"] = sdk_rates(bare.url, args.seconds)
        finally:
            bare.stop()
        fake = start_fake(database, fixtures, "--workers", "2")
        try:
            measure("fake x2", fake.url, OPERATIONS, (16,), args, load)
        finally:
            fake.stop()
        prism = start_prism(directory)
        try:
            measure("prism", prism.url, OPERATIONS, (16,), args, load)
        finally:
            prism.stop()
        bench_postgresql(directory, fixtures, args, load)
        floor_memory: dict = {}
        bench_floor(directory, fixtures, args, floor_memory)
        report["floor"] = floor_memory["floor"]

        print("stateful peers (fetch at 16 connections, one process each)", flush=True)
        peers: list[tuple[str, Callable[[], tuple[Measured, str]], str]] = [
            ("moto", start_moto, "none"),
            ("localstripe", start_localstripe, f"Bearer {STRIPE_KEY}"),
        ]
        for name, start_peer, auth in peers:
            peer, path = start_peer()
            try:
                measure(name, peer.url, (path,), (16,), args, load, auth)
                load[name]["fetch"] = load[name].pop(path)
            finally:
                peer.stop()

        print(
            f"scale: fetch and list with {STORED:,} and {args.large:,} numbers stored", flush=True
        )
        report["scale"] = {}
        for stored in (STORED, args.large):
            database = directory / f"scale{stored}.sqlite3"
            fake = start_fake(database, fixtures)
            fake.stop()
            fill_pool(database, stored)
            fake = start_fake(database, fixtures)
            try:
                report["scale"][str(stored)] = {}
                for op in ("fetch", "list"):
                    wrk(fake.url, op, 16, args.warmup)  # warm-up, discarded
                    report["scale"][str(stored)][op] = wrk(fake.url, op, 16, args.seconds)
                report["memory_mb"][f"fake_peak_{stored}"] = fake.peak_memory_mb()
            finally:
                fake.stop()
    report["targets"] = targets(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(table(report))
    return 0


Target = tuple[str, float, float, bool]  # name, value, bar, higher is better


def targets(report: dict) -> list[dict]:
    load = report["load"]

    def rps(name: str, op: str = "fetch") -> float:
        return float(load[name][op]["16"]["rps"])

    rows: list[Target] = []
    if "floor" in report:
        ratios = report["floor"]["ratios"]["fake/floor"]
        for op in report["floor"]["sdk"]["fake"]:
            rows.append((f"SDK {op}: fake >= 0.9 x connexion floor", ratios["sdk"][op]["median"],
                         0.9, True))  # fmt: skip
        for op in report["floor"]["sdk"]["fake"]:
            rows.append((f"wrk {op} c=16: fake >= 0.9 x connexion floor",
                         ratios["wrk"][op]["median"], 0.9, True))  # fmt: skip
        if "scale" not in report:  # a floor run alone: the p99s of its rounds (medians)
            for op in report["floor"]["wrk"]["fake"]:
                p99 = report["floor"]["wrk"]["fake"][op]["p99_ms"]
                rows.append((f"p99 {op} c=16 <= 20 ms", p99, 20, False))
    if "pg" in load:
        rows.append(
            ("PostgreSQL: 2 replicas fetch >= 1.5 x one", rps("pg x2") / rps("pg"), 1.5, True)
        )
        cost = rps("pg", "create+delete") / rps("fake", "create+delete")
        rows.append(("PostgreSQL create+delete >= 0.5 x SQLite's", cost, 0.5, True))
    if "scale" in report:
        rows += _sqlite_targets(report, rps)
    return [
        {
            "target": name,
            "value": round(value, 3),
            "bar": bar,
            "met": value >= bar if higher else value <= bar,
        }
        for name, value, bar, higher in rows
    ]


def _sqlite_targets(report: dict, rps: Callable[..., float]) -> list[Target]:
    load, scale, sdk = report["load"], report["scale"], report["sdk"]
    large = max(scale, key=int)
    rows: list[Target] = []
    for call in SDK_CALLS:
        ratio = sdk["fake"][call] / sdk["bare"][call]
        rows.append((f"SDK {call}: fake >= 0.6 x bare", ratio, 0.6, True))
    rows.append(("fetch c=16: fake >= 2 x moto", rps("fake") / rps("moto"), 2.0, True))
    for op in OPERATIONS:
        rows.append((f"p99 {op} c=16 <= 20 ms", load["fake"][op]["16"]["p99_ms"], 20, False))
    startup = report["startup_s"]["fake"] / report["startup_s"]["prism"]
    rows.append(("start-up <= Prism's", startup, 1.0, False))
    for op in ("fetch", "list"):
        cost = scale[str(STORED)][op]["rps"] / scale[large][op]["rps"]
        rows.append((f"{op} cost with {int(large):,} <= 1.3 x with {STORED:,}", cost, 1.3, False))
    memory = report["memory_mb"][f"fake_peak_{large}"]
    rows.append((f"peak memory with {int(large):,} < 150 MB", memory, 150, False))
    rows.append(("--workers 2 fetch >= 1.6 x one worker", rps("fake x2") / rps("fake"), 1.6, True))
    return rows


def table(report: dict) -> str:
    load = report["load"]
    lines = ["", "| server | operation | conns | req/s | p50 ms | p99 ms |", "|---" * 6 + "|"]
    for name, operations in load.items():
        for op, by_connections in operations.items():
            for c, r in by_connections.items():
                lines.append(
                    f"| {name} | {op} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} "
                    f"| {r['p99_ms']:.2f} |"
                )
    if "sdk" in report:
        lines += _sqlite_summary(report)
    if "floor" in report:
        lines += floor_table(report)
    lines += ["", "| target | measured | bar | met |", "|---|---|---|---|"]
    lines += [
        f"| {t['target']} | {t['value']} | {t['bar']} | {'yes' if t['met'] else 'NO'} |"
        for t in report["targets"]
    ]
    return "\n".join(lines)


def _sqlite_summary(report: dict) -> list[str]:
    load = report["load"]
    lines = ["", "| SDK call (twilio-python, sequential) | fake calls/s | bare calls/s |"]
    lines += ["|---|---|---|"]
    for call in SDK_CALLS:
        lines.append(
            f"| {call} | {report['sdk']['fake'][call]:.0f} | {report['sdk']['bare'][call]:.0f} |"
        )
    fake_fetch = load["fake"]["fetch"]["16"]["rps"]
    lines += [
        "",
        "fetch at 16 connections, fake / peer: "
        + ", ".join(
            f"{peer} {fake_fetch / load[peer]['fetch']['16']['rps']:.2f}"
            for peer in ("moto", "localstripe", "prism", "bare")
        ),
        "start-up to first 200: "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report["startup_s"].items()),
        "peak memory (fake): "
        + ", ".join(f"{k} {v:.0f} MB" for k, v in report["memory_mb"].items()),
        "",
    ]
    for stored, ops in report["scale"].items():
        lines.append(
            f"{int(stored):>9,} stored: "
            + ", ".join(
                f"{op} {r['rps']:.0f} req/s (p50 {r['p50_ms']:.2f} ms)" for op, r in ops.items()
            )
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
