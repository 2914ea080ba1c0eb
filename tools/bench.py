"""`make bench`: the fake against Stoplight Prism and a bare route, under the same wrk load.

Everything runs one after the other on this machine, in one run, so the ratios compare like
with like:
- the fake, as `make run` serves it (a SQLite file, response validation off as in production);
- Prism mocking the same contract (with /v1 folded into its paths, which it needs);
- a bare Starlette route answering the fake's own JSON with no checks (the ceiling).

Each is driven by wrk at 1, 16 and 64 connections, after a warm-up: fetch, list (a page of 50),
and create followed by delete. The run also measures start-up to the first 200 (fake, Prism),
the fake's peak memory, and the cost of fetch and list with 1,000 and with 1,000,000 numbers
stored. It prints one table and writes reports/bench.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

from twilio_fake.cli import serve_command

ROOT = Path(__file__).resolve().parent.parent
PRISM = ROOT / "tools" / "npm" / "node_modules" / ".bin" / "prism"
WRK_SCRIPTS = ROOT / "tools" / "wrk"
ACCOUNT, TOKEN = "AC" + "b" * 32, "bench-token"
SERVICE = "MG" + "b" * 32
AUTH = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
POOL = f"/v1/Services/{SERVICE}/PhoneNumbers"
STORED = 1_000  # numbers in the pool for the main runs
FREE = 64  # numbers kept out of the pool, one per connection of the create+delete runs
CONNECTIONS = (1, 16, 64)
# The fake with one layer of its speed-ups taken away, or with a second worker process.
VARIANTS = {
    "--no-read-cache": ("--no-read-cache",),
    "--no-fast-lane (connexion only)": ("--no-fast-lane",),
    "--workers 2": ("--workers", "2"),
}
OPERATIONS = ("fetch", "list", "create+delete")


def sid(n: int) -> str:
    return f"PN{n:032x}"


def e164(n: int) -> str:
    return f"+1415{n % 10_000_000:07d}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- servers -------------------------------------------------------------------------------------
class Process:
    """A server under test: started, timed to its first 200, measured, stopped."""

    def __init__(self, command: list[str], port: int, ready_path: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        ready_url = self.url + ready_path
        self.log = tempfile.TemporaryFile()
        started = time.monotonic()
        self.popen = subprocess.Popen(command, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = started + 120
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{command[0]} exited:\n{self.log.read().decode()[-2000:]}")
            try:
                if (
                    requests.get(
                        ready_url, headers={"Authorization": f"Basic {AUTH}"}, timeout=1
                    ).status_code
                    == 200
                ):
                    break
            except requests.ConnectionError:
                time.sleep(0.01)
        else:
            raise RuntimeError(f"{command[0]} did not answer {ready_url}")
        self.startup = time.monotonic() - started

    def peak_memory_mb(self) -> float:
        """The process's peak resident memory (VmHWM), with its children's."""
        pids = [self.popen.pid, *_children(self.popen.pid)]
        total_kb = 0
        for pid in pids:
            status = Path(f"/proc/{pid}/status").read_text()
            total_kb += int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return total_kb / 1024

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.log.close()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def fixture_file(directory: Path) -> Path:
    numbers = [{"sid": sid(n), "phone_number": e164(n), "capabilities": ["SMS", "MMS"]}
               for n in range(STORED + FREE)]  # fmt: skip
    document = {"accounts": [{"sid": ACCOUNT, "auth_token": TOKEN, "services": [{"sid": SERVICE}],
                              "incoming_phone_numbers": numbers}]}  # fmt: skip
    path = directory / "bench-fixtures.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def fill_pool(database: Path, count: int, first_sid: int = FREE) -> None:
    """Put `count` numbers straight into the pool (and the incoming numbers they need)."""
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


def start_fake(database: Path, fixtures: Path | None, *options: str) -> Process:
    """The fake as `make run` serves it; with a fixture file, room for the scale run's numbers.

    (The default pool limit, Twilio's 400, would answer the scale run's creates with 21714.)
    """
    port = free_port()
    data = ("--fixtures", str(fixtures), "--pool-limit", "2000000") if fixtures else ()
    return Process(serve_command(port, database, *data, *options), port, "/_fake/health")


def start_prism(directory: Path) -> Process:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    spec["paths"] = {"/v1" + path: item for path, item in spec["paths"].items()}
    spec["servers"] = [{"url": "/"}]
    folded = directory / "openapi-for-prism.yaml"
    folded.write_text(yaml.safe_dump(spec, sort_keys=False))
    port = free_port()
    command = [str(PRISM), "mock", str(folded), "--host", "127.0.0.1", "--port", str(port),
               "--verboseLevel", "silent"]  # fmt: skip
    return Process(command, port, POOL)


def start_bare(directory: Path, fake_url: str | None) -> Process:
    """The bare route, answering the fake's own JSON (taken from `fake_url` when given)."""
    path = directory / "bare-bodies.json"
    if fake_url:
        headers = {"Authorization": f"Basic {AUTH}"}
        bodies = {
            "fetch": requests.get(f"{fake_url}{POOL}/{sid(FREE)}", headers=headers, timeout=5).text,
            "list": requests.get(f"{fake_url}{POOL}?PageSize=50", headers=headers, timeout=5).text,
        }
        path.write_text(json.dumps(bodies))
    elif not path.exists():
        path.write_text(json.dumps({"fetch": "{}", "list": "{}"}))
    port = free_port()
    command = [sys.executable, str(ROOT / "tools" / "bench_bare.py"), str(path), str(port)]
    return Process(command, port, POOL)


# -- load ----------------------------------------------------------------------------------------
def free_the_numbers(url: str) -> None:
    """Take the create+delete numbers out of the pool: a run may end between POST and DELETE."""
    headers = {"Authorization": f"Basic {AUTH}"}
    for n in range(FREE):
        requests.delete(f"{url}{POOL}/{sid(n)}", headers=headers, timeout=10)  # 204 or 404


def wrk(url: str, operation: str, connections: int, seconds: float) -> dict:
    env = {**os.environ, "BENCH_AUTH": AUTH, "BENCH_NUMBERS": ",".join(sid(n) for n in range(FREE))}
    if operation == "create+delete":
        free_the_numbers(url)
        script, target, threads = "create_delete.lua", f"{url}{POOL}", connections
    else:
        path = f"{POOL}/{sid(FREE)}" if operation == "fetch" else f"{POOL}?PageSize=50"
        script, target, threads = "get.lua", f"{url}{path}", min(connections, 2)
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


def drive(name: str, url: str, seconds: float, warmup: float, results: dict) -> None:
    for operation in OPERATIONS:
        wrk(url, operation, 16, warmup)  # warm-up, discarded
        for connections in CONNECTIONS:
            measured = wrk(url, operation, connections, seconds)
            results.setdefault(name, {}).setdefault(operation, {})[str(connections)] = measured
            print(
                f"  {name:6} {operation:14} c={connections:<3} {measured['rps']:9.1f} req/s "
                f"p50 {measured['p50_ms']:7.2f} ms  p99 {measured['p99_ms']:7.2f} ms",
                flush=True,
            )


# -- the run -------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per measurement (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per operation")
    parser.add_argument(
        "--large", type=int, default=1_000_000, help="numbers stored for the scale run"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "bench.json")
    args = parser.parse_args()
    report: dict = {"machine": {"cores": os.cpu_count()}, "seconds": args.seconds, "load": {}}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fixtures = fixture_file(directory)

        print("start-up (process start to first 200), median of 3", flush=True)
        starts: dict[str, list[float]] = {}
        starters = {
            "fake": lambda n: start_fake(directory / f"start{n}.sqlite3", None),  # `make run`
            "fake_with_fixture_file": lambda n: start_fake(
                directory / f"start-fixtures{n}.sqlite3", fixtures
            ),  # the 1,064 numbers of the load runs, from YAML
            "prism": lambda _n: start_prism(directory),
            "bare": lambda _n: start_bare(directory, None),  # python + uvicorn + one route
        }
        for attempt in range(3):
            for name, start in starters.items():
                server = start(attempt)
                starts.setdefault(name, []).append(server.startup)
                server.stop()
        report["startup_s"] = {name: statistics.median(times) for name, times in starts.items()}

        print("load", flush=True)
        database = directory / "bench.sqlite3"
        fake = start_fake(database, fixtures)
        fake.stop()  # created the tables and loaded the fixtures; now fill the pool
        fill_pool(database, STORED)
        fake = start_fake(database, fixtures)
        try:
            drive("fake", fake.url, args.seconds, args.warmup, report["load"])
            report["memory_mb"] = {"fake_peak_after_load": fake.peak_memory_mb()}
            bare = start_bare(directory, fake.url)
        finally:
            fake.stop()
        try:
            drive("bare", bare.url, args.seconds, args.warmup, report["load"])
        finally:
            bare.stop()
        prism = start_prism(directory)
        try:
            drive("prism", prism.url, args.seconds, args.warmup, report["load"])
        finally:
            prism.stop()

        print("variants of the fake, at 16 connections: what each layer buys", flush=True)
        report["variants"] = {}
        for name, options in VARIANTS.items():
            fake = start_fake(database, fixtures, *options)
            try:
                for op in OPERATIONS:
                    wrk(fake.url, op, 16, args.warmup)  # warm-up, discarded
                    measured = wrk(fake.url, op, 16, args.seconds)
                    report["variants"].setdefault(name, {})[op] = measured
                    print(f"  {name:28} {op:14} {measured['rps']:9.1f} req/s", flush=True)
            finally:
                fake.stop()

        print(
            f"scale: fetch and list with {STORED:,} and {args.large:,} numbers stored "
            "(read cache off)",
            flush=True,
        )
        report["scale"] = {}
        for stored in (STORED, args.large):
            database = directory / f"scale{stored}.sqlite3"
            fake = start_fake(database, fixtures)
            fake.stop()
            fill_pool(database, stored)
            # Without the read cache, which would answer both from memory: this is the cost
            # of the database's work as the data grows.
            fake = start_fake(database, fixtures, "--no-read-cache")
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


def targets(report: dict) -> list[dict]:
    load, scale = report["load"], report["scale"]
    rps = lambda name, op, c="16": load[name][op][c]["rps"]  # noqa: E731
    large = max(scale, key=int)
    checks = [
        ("fetch c=16 >= 1.5 x Prism", rps("fake", "fetch") / rps("prism", "fetch"), 1.5),
        ("fetch c=16 >= 0.25 x bare", rps("fake", "fetch") / rps("bare", "fetch"), 0.25),
        (
            "create+delete c=16 >= 1.0 x Prism",
            rps("fake", "create+delete") / rps("prism", "create+delete"),
            1.0,
        ),
        ("list c=16 >= 1.0 x Prism", rps("fake", "list") / rps("prism", "list"), 1.0),
    ]
    rows = [
        {"target": name, "value": round(value, 3), "bar": bar, "met": value >= bar}
        for name, value, bar in checks
    ]
    for op in OPERATIONS:
        p99 = load["fake"][op]["16"]["p99_ms"]
        rows.append(
            {"target": f"p99 {op} c=16 <= 20 ms", "value": p99, "bar": 20, "met": p99 <= 20}
        )
    for op in ("fetch", "list"):
        cost = scale[str(STORED)][op]["rps"] / scale[large][op]["rps"]
        rows.append(
            {
                "target": f"{op} cost with {int(large):,} <= 1.3 x with {STORED:,}",
                "value": round(cost, 3),
                "bar": 1.3,
                "met": cost <= 1.3,
            }
        )
    startup = report["startup_s"]["fake"] / report["startup_s"]["prism"]
    rows.append(
        {
            "target": "start-up <= 0.5 x Prism",
            "value": round(startup, 3),
            "bar": 0.5,
            "met": startup <= 0.5,
        }
    )
    memory = report["memory_mb"][f"fake_peak_{large}"]
    rows.append(
        {
            "target": f"peak memory with {int(large):,} < 150 MB",
            "value": round(memory, 1),
            "bar": 150,
            "met": memory < 150,
        }
    )
    return rows


def table(report: dict) -> str:
    load = report["load"]
    header = "| operation | conns | fake req/s | p50 ms | p99 ms | Prism req/s | bare req/s "
    lines = ["", header + "| fake/Prism | fake/bare |", "|---|---|---|---|---|---|---|---|---|"]
    for op in OPERATIONS:
        for c in map(str, CONNECTIONS):
            f, p, b = load["fake"][op][c], load["prism"][op][c], load["bare"][op][c]
            lines.append(
                f"| {op} | {c} | {f['rps']:.0f} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} "
                f"| {p['rps']:.0f} "
                f"| {b['rps']:.0f} | {f['rps'] / p['rps']:.2f} | {f['rps'] / b['rps']:.2f} |"
            )
    lines += [
        "",
        "| fake variant (c=16) | " + " | ".join(f"{op} req/s" for op in OPERATIONS) + " |",
    ]
    lines += ["|---|" + "---|" * len(OPERATIONS)]
    for name, ops in report["variants"].items():
        lines.append(
            f"| {name} | " + " | ".join(f"{ops[op]['rps']:.0f}" for op in OPERATIONS) + " |"
        )
    lines += [
        "",
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
    lines += ["", "| target | measured | bar | met |", "|---|---|---|---|"]
    lines += [
        f"| {t['target']} | {t['value']} | {t['bar']} | {'yes' if t['met'] else 'NO'} |"
        for t in report["targets"]
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
