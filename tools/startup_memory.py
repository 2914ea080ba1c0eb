"""Start-up and peak memory of the fake as one or more Python environments serve it, measured in
turn in one run: for comparing this checkout with an older one on the same machine, where rows
of two days cannot be compared (docs/performance.md).

    .venv/bin/python tools/startup_memory.py [--rounds 5] [--requests 300] \
        [--python /tmp/old/.venv/bin/python ...]

Each `--python` (default: this interpreter) is an environment with twilio-fake installed; for an
older commit, `git worktree add /tmp/old COMMIT && cd /tmp/old && python3 -m venv .venv &&
.venv/bin/pip install -e .`. A round starts `python -m twilio_fake --port 0` on a new SQLite
file with the demo data, as `make run` does, once per environment in turn; start-up is from the
process's start to its first 200 on /_fake/health, and peak memory (VmHWM) is read after
`--requests` more health checks. Prints the median and every round of each.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

LISTENING = re.compile(r"listening on (https?://[^\s/]+)", re.IGNORECASE)


def measure(python: str, requests_after: int) -> tuple[float, float]:
    """Start-up (s) and peak resident memory (MB) of one start of the fake under `python`."""
    with tempfile.TemporaryDirectory() as directory:
        log_path = Path(directory) / "log"
        with log_path.open("w+") as log:
            started = time.monotonic()
            command = [python, "-m", "twilio_fake", "--port", "0",
                       "--database", f"{directory}/fake.sqlite3"]  # fmt: skip
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
            try:
                url = _ready(process, log_path, started + 60)
                startup = time.monotonic() - started
                for _ in range(requests_after):
                    requests.get(url + "/_fake/health", timeout=5).raise_for_status()
                status = Path(f"/proc/{process.pid}/status").read_text()
                peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
            finally:
                process.terminate()
                process.wait(30)
    return startup, peak


def _ready(process: subprocess.Popen[bytes], log: Path, deadline: float) -> str:
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the fake exited early:\n{log.read_text()}")
        if url is None and (found := LISTENING.search(log.read_text())):
            url = found.group(1)
        if url is not None:
            try:
                if requests.get(url + "/_fake/health", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                pass  # accepted but not answering yet
        time.sleep(0.005)
    raise RuntimeError(f"the fake did not answer in time:\n{log.read_text()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", help="an environment's interpreter")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300, help="health checks before reading")
    args = parser.parse_args()
    pythons = args.python or [sys.executable]
    found: dict[str, list[tuple[float, float]]] = {python: [] for python in pythons}
    for _ in range(args.rounds):
        for python in pythons:
            found[python].append(measure(python, args.requests))
    for python, rounds in found.items():
        starts = [start for start, _ in rounds]
        peaks = [peak for _, peak in rounds]
        print(
            f"{python}: start-up {statistics.median(starts):.3f} s "
            f"({', '.join(f'{s:.2f}' for s in starts)}); peak memory "
            f"{statistics.median(peaks):.1f} MB ({', '.join(f'{p:.1f}' for p in peaks)})"
        )


if __name__ == "__main__":
    main()
