"""What starting and stopping a server through `serving.Server` costs, the watcher included.

    .venv/bin/python tools/server_start_cost.py [--count 40]

Starts a trivial server (a Python process that says where it listens and sleeps) and stops it,
`count` times, and prints the wall time and the CPU of the processes it started (the server,
the watcher), each divided by `count`. Run it on two commits to compare (a test run starts some
150 servers).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from twilio_fake_contract.serving import Server

LISTENS = "print('listening on http://127.0.0.1:1', flush=True); import time; time.sleep(60)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40)
    count = parser.parse_args().count
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    for _ in range(count):
        Server([sys.executable, "-c", LISTENS]).stop()
    wall = (time.monotonic() - started) / count
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / count
    print(f"a server started and stopped: {wall * 1000:.1f} ms, children's CPU {cpu * 1000:.1f} ms")


if __name__ == "__main__":
    main()
