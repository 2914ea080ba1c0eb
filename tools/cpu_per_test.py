"""Where the suite's CPU goes: a pytest plugin that records each test's CPU time, its own
process's and its children's (the servers, kit runs and SDKs it started and reaped), and sums
them by module when the run ends.

    PYTHONPATH=tools .venv/bin/pytest -p cpu_per_test -n 4 --dist loadgroup -q
    .venv/bin/python tools/cpu_per_test.py [TEST_CPU_DIR]     # the summary again

`make test` is CPU-bound on two cores: a second of CPU saved is about half a second of wall
time, while a test's wall time (what `--durations` and JUnit report) mostly says how busy the
other workers were. Each xdist worker writes TEST_CPU_DIR/test-cpu-<worker>.json
(TEST_CPU_DIR: reports/test-cpu under the directory pytest starts in; the run clears it
first).

What it cannot see, so "in all" means the CPU spent inside tests, not the suite's:
- PostgreSQL's server: `pg_ctl` detaches it, so no test reaps it; the postgresql-parametrised
  tests are charged their client side only;
- a worker's start, collection and imports, outside every test.
And a child counts when reaped: a module's server, stopped at the module's end, is charged to
the module's last test; a session's (initdb, `pg_ctl stop`) to whichever test ran then.
A worker that crashes writes nothing.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DIRECTORY = Path(os.environ.get("TEST_CPU_DIR", "reports/test-cpu")).resolve()
_rows: list[dict[str, Any]] = []


def _cpu() -> tuple[float, float]:
    times = os.times()
    return times.user + times.system, times.children_user + times.children_system


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    own, children = _cpu()
    started = time.monotonic()
    yield
    own_after, children_after = _cpu()
    _rows.append(
        {
            "test": item.nodeid,
            "own": own_after - own,
            "children": children_after - children,
            "wall": time.monotonic() - started,
        }
    )


def _worker(config: pytest.Config) -> str | None:
    """This xdist worker's id; None in the controller, or in a run without xdist."""
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else str(workerinput["workerid"])


def pytest_sessionstart(session: pytest.Session) -> None:
    if _worker(session.config) is None:  # before any worker has written
        for left in DIRECTORY.glob("test-cpu-*.json"):
            left.unlink()


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker = _worker(session.config)
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    (DIRECTORY / f"test-cpu-{worker or 'main'}.json").write_text(json.dumps(_rows))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """In the controller, once every worker has written (or at the end of a run without xdist)."""
    if _worker(terminalreporter.config) is None:
        terminalreporter.write_sep("-", "CPU per test (tools/cpu_per_test.py)")
        terminalreporter.write_line(summary(DIRECTORY))


def summary(directory: Path, top: int = 15) -> str:
    rows = [
        row for path in directory.glob("test-cpu-*.json") for row in json.loads(path.read_text())
    ]
    spent = {row["test"]: row["own"] + row["children"] for row in rows}
    by_module: collections.Counter[str] = collections.Counter()
    for test, seconds in spent.items():
        by_module[test.split("::")[0]] += seconds
    lines = [f"CPU of {len(spent)} tests: {sum(spent.values()):.0f} s; the modules that took most:"]
    lines += [f"{seconds:8.1f} s  {module}" for module, seconds in by_module.most_common(top)]
    lines.append("the tests that took most:")
    ranked = sorted(spent.items(), key=lambda item: -item[1])[:top]
    lines += [f"{seconds:8.1f} s  {test[:140]}" for test, seconds in ranked]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1]) if len(sys.argv) > 1 else DIRECTORY))
