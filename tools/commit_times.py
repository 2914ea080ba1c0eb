"""How long each commit of a served fake takes, and what the slow ones (checkpoints) cost.

    .venv/bin/python tools/commit_times.py [--seconds 8] [--rounds 3] [--operation create+delete]

The fake as `make bench` serves it (a SQLite file, its fixtures, 1,000 numbers in the pool) is
loaded by wrk at 16 connections, after a warm-up. Its process is started with every commit
timed (SQLAlchemy's `do_commit`, wrapped before the server is imported), and writes the times
to a file as it stops. The report is their distribution, and how much of the run the commits
over 1 ms took: on SQLite those are the ones that ran a WAL checkpoint (every ~1,000 pages,
with its fsyncs), on the event loop, while every other request waited. The shares are of the
time under load, warm-up included, as the commits counted are.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import bench  # beside this file

# Run as the server's process: time every commit, write the times (us) as the process ends.
TIMED_SERVER = """
import atexit, sys, time
from sqlalchemy.engine import default
times, commit = [], default.DefaultDialect.do_commit
def do_commit(dialect, connection):
    started = time.perf_counter()
    commit(dialect, connection)
    times.append(time.perf_counter() - started)
default.DefaultDialect.do_commit = do_commit
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(" ".join(f"{t * 1e6:.1f}" for t in times)))
from twilio_fake.__main__ import main
sys.exit(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--operation", default="create+delete")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fixtures = bench.fixture_file(directory)
        database = directory / "commits.sqlite3"
        bench.start_fake(database, fixtures).stop()  # the schema
        bench.fill_pool(database, bench.STORED)
        times_file = directory / "commit-times"
        # `make bench`'s command, `python -m twilio_fake ARGS`, as `python -c TIMED_SERVER ARGS`
        python, _m, _module, *arguments = bench.fake_command(database, fixtures)
        server = bench.Measured([python, "-c", TIMED_SERVER, str(times_file), *arguments],
                                "/_fake/health")  # fmt: skip
        try:
            bench.free_the_numbers(server.url)
            started = time.monotonic()
            bench.wrk(server.url, args.operation, 16, 2)  # warm-up
            for _ in range(args.rounds):
                load = bench.wrk(server.url, args.operation, 16, args.seconds)
                rps, p50, p99 = load["rps"], load["p50_ms"], load["p99_ms"]
                print(f"wrk c=16 {args.operation}: {rps:.0f} req/s, p50 {p50:.1f} ms, "
                      f"p99 {p99:.1f} ms", flush=True)  # fmt: skip
            served = time.monotonic() - started
        finally:
            server.stop()
        times = sorted(float(t) for t in times_file.read_text().split())

    def at(share: float) -> float:  # the time at that share of the sorted times
        return times[min(len(times) - 1, int(share * len(times)))]

    slow = [t for t in times if t > 1000]
    print(f"{len(times)} commits (warm-up included): p50 {at(0.5):.0f} us, p99 {at(0.99):.0f}, "
          f"p99.9 {at(0.999):.0f}, max {times[-1]:.0f}")  # fmt: skip
    print(f"over 1 ms: {len(slow)}, {sum(slow) / 1000:.0f} ms in all, "
          f"{sum(slow) / 1e6 / served:.1%} of the {served:.0f} s under load; "
          f"all commits {sum(times) / 1e6 / served:.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
