"""What one served request costs the fake's process, on SQLite or PostgreSQL.

    python tools/served_costs.py [--postgresql] [--seconds 8] [--rounds 1] [OPERATION ...]

The fake as `make bench` serves it (its fixtures, 1,000 numbers in the pool) is loaded by wrk at
16 connections, an operation at a time (fetch, list of 50, create+delete, send), after a
warm-up. Around each measured run it reads, from /proc, the fake's CPU time (user and system),
the context switches of its threads, and, with `--postgresql` (a throwaway server, the tests'
own), the CPU time of that server's processes: each divided by the requests wrk counted (a
create+delete is two). A thread that ends during the run takes its switches with it (the
callers that run PostgreSQL's statements live as long as the database). A replica bound by
its own CPU serves what its process's CPU a request allows, whatever the database's;
docs/performance.md (fourteenth pass) has what this showed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import bench  # beside this file

TICK = os.sysconf("SC_CLK_TCK")


def process_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of all the process's threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split()[1])
    return total


def server_cpu(server: Any) -> float:
    """CPU seconds of the throwaway PostgreSQL server's processes (0 without one)."""
    total = 0.0
    for pid in server.processes() if server is not None else ():
        try:
            total += sum(process_times(pid))
        except FileNotFoundError:  # a backend that ended meanwhile
            pass
    return total


def measure(url: str, pid: int, operation: str, seconds: float, server: Any) -> None:
    bench.wrk(url, operation, 16, 3)  # warm-up, discarded
    user, system = process_times(pid)
    switches, database = context_switches(pid), server_cpu(server)
    served = bench.wrk(url, operation, 16, seconds)
    requests = served["rps"] * max(1, round(seconds))  # wrk runs whole seconds
    after = process_times(pid)
    line = (
        f"{operation:14} {served['rps']:7.0f} req/s, p99 {served['p99_ms']:6.1f} ms; a request: "
        f"{(after[0] - user) / requests * 1e6:5.0f} us user + "
        f"{(after[1] - system) / requests * 1e6:4.0f} us system CPU, "
        f"{(context_switches(pid) - switches) / requests:4.1f} context switches"
    )
    if server is not None:
        line += f", PostgreSQL {(server_cpu(server) - database) / requests * 1e6:4.0f} us CPU"
    print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("operations", nargs="*", default=list(bench.FLOOR_OPERATIONS))
    parser.add_argument("--postgresql", action="store_true")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    server = None
    with tempfile.TemporaryDirectory(prefix="served-costs-") as scratch:
        directory = Path(scratch)
        if args.postgresql:
            sys.path.insert(0, str(bench.ROOT))  # the tests' throwaway PostgreSQL server
            from tests.support.postgres import PostgresServer

            server = PostgresServer()
            database: str = server.create_database()
        else:
            database = str(directory / "served.sqlite3")
        try:
            fake = bench.start_fake(database, bench.fixture_file(directory))
            try:
                bench.fill_pool(database, bench.STORED)
                for _ in range(args.rounds):
                    for operation in args.operations:
                        measure(fake.url, fake.server.process.pid, operation, args.seconds,
                                server)  # fmt: skip
            finally:
                fake.stop()
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
