"""How the `twilio-fake` command's processes start: quietly, whatever comes while they do.

Importing the server (connexion, SQLAlchemy, uvicorn, the specs) and building it take a second
or more, in the command's process and again in each worker of `--workers`. A Ctrl-C in that
time raised KeyboardInterrupt out of whichever import it fell in and printed its traceback (a
terminal's Ctrl-C reaches every process of the group, workers included), and a worker printed
a library's import-time warning that the command's own process hides. So:
- the command's process takes SIGINT and SIGTERM as a clean exit, status 0, before it imports
  anything heavy (`start_command`, called by `__main__.main`, the console script's entry
  point; the package's `__init__` imports nothing else first, and reads `__version__` only
  when asked); once it serves, uvicorn's handlers take over, then `exit_cleanly` again
  (cli.py);
- a worker ignores SIGINT while it starts, and hides the same warnings (`start_worker`, the
  first thing the package's `__init__` does, in a process whose environment has `WORKER`,
  which the command sets for its workers only). Its parent stops it with SIGTERM, which ends
  a worker still starting at once and lets one that serves finish its requests; uvicorn's own
  handlers take both signals once it serves.

What is left to Python: the interpreter's own start before the package is imported (some
30 ms), and in a worker, multiprocessing's start before it (about 0.1 s; with `python -m
twilio_fake`, uvicorn's imports too, since multiprocessing does not run a package's
`__main__` in its children). A Ctrl-C in that window still ends that process with a
traceback. Closing it would mean blocking SIGINT around uvicorn's start of each worker, a
private part of its supervisor.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings

WORKER = "TWILIO_FAKE_WORKER"  # "1" in the environment of the command's worker processes


def hide_library_warnings() -> None:
    """connexion 3.3 imports starlette's test client at import time, which warns about httpx:
    noise for anyone running the server. Call before connexion is imported."""
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")


def fail(message: str) -> int:
    """Say on one line what stops the command (a driver's message may span several); status 2."""
    print(f"twilio-fake: {' '.join(message.split())}", file=sys.stderr)
    return 2


def exit_cleanly(_signum: int, _frame: object) -> None:
    sys.exit(0)


def start_command() -> None:
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, exit_cleanly)


def start_worker() -> None:
    """In a worker of the command only (its environment says so); elsewhere, nothing."""
    if os.environ.get(WORKER) != "1" or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    hide_library_warnings()
