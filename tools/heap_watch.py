"""What a long test run's memory is made of: a pytest plugin that, every HEAP_WATCH_SECONDS
(20), writes the process's resident memory and the kinds of Python object that grew the most
since the last look to HEAP_WATCH_FILE (heap-watch.log).

    PYTHONPATH=tools SOAK=1 .venv/bin/pytest -p heap_watch -n 0 \
        tests/contract/test_contract.py::test_every_operation_keeps_the_contract

Kinds are named by module and class, so that the fake's (`twilio_fake.*`), the libraries it
serves with (connexion, starlette, SQLAlchemy) and the test tools' (hypothesis, schemathesis)
can be told apart. A look walks every object the collector tracks: it pauses the run for a
moment, and is for finding out, not for the suite.
"""

from __future__ import annotations

import collections
import gc
import os
import threading
import time
from typing import Any

SECONDS = float(os.environ.get("HEAP_WATCH_SECONDS", "20"))
TOP = 12  # kinds listed a look


def _resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _kind(thing: object) -> str:
    kind = type(thing)
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}"


def _watch(path: str) -> None:
    last: collections.Counter[str] = collections.Counter()
    with open(path, "w", buffering=1) as out:
        while True:
            time.sleep(SECONDS)
            counts = collections.Counter(_kind(thing) for thing in gc.get_objects())
            grown = sorted(counts, key=lambda kind: counts[kind] - last[kind], reverse=True)
            out.write(
                f"{time.strftime('%H:%M:%S')} resident {_resident_mb():.0f} MB, "
                f"{sum(counts.values())} objects tracked\n"
            )
            for kind in grown[:TOP]:
                out.write(f"  {counts[kind] - last[kind]:+9d} {counts[kind]:9d}  {kind}\n")
            last = counts


def pytest_configure(config: Any) -> None:
    path = os.environ.get("HEAP_WATCH_FILE", "heap-watch.log")
    threading.Thread(target=_watch, args=(path,), name="heap-watch", daemon=True).start()
