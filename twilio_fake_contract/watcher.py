"""Ends a server with the process that started it: `serving.Server` runs this beside each server.

A server runs in a session of its own (so that it can be signalled as a group), so it outlives
the process that started it when that one is killed outright (SIGKILL, or SIGTERM, which runs no
clean-up): a test run killed by CI left its servers running for good. This watcher, a child of
the starter in a session of its own, reads a pipe whose only writer is the starter:

- a byte on it: the starter has stopped the server itself (`Server.stop`, `Server.kill`), so
  the watcher leaves;
- the pipe's end with no byte before it: the starter ended first, however it ended. If the
  server still runs, the watcher sends its group SIGTERM, and SIGKILL if it has not ended
  GRACE seconds later (what `Server.stop` does); then it removes the server's scratch
  directory, if it has one.

The server is signalled only while it runs: a process that ended and was reaped leaves its
number free for another. Its pidfd (Linux 5.3+) says so for certain; elsewhere `kill(pid, 0)`
does, with a moment's race. Standard library only: it runs as `python -I -S watcher.py PID
[SCRATCH]`, outside any package.
"""

from __future__ import annotations

import os
import select
import sys
import time

GRACE = 15.0  # seconds between SIGTERM and SIGKILL, as Server.stop waits
# The watcher starts beside every server a test run starts, so it imports little: `signal` (its
# enums) and `shutil` cost more than the rest of its start-up. These two numbers are POSIX's.
SIGTERM, SIGKILL = 15, 9


class Watched:
    """The server's leading process, looked at without ever mistaking another for it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self.pidfd: int | None = os.pidfd_open(pid)  # readable once it has ended
        except (AttributeError, OSError):
            self.pidfd = None

    def running(self) -> bool:
        if self.pidfd is not None:
            return not select.select([self.pidfd], [], [], 0)[0]
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def signal_group(self, signum: int) -> None:
        if self.running():
            try:
                os.killpg(self.pid, signum)
            except OSError:
                pass

    def wait(self, seconds: float) -> bool:
        """Wait until the server has ended, at most `seconds`; whether it has."""
        deadline = time.monotonic() + seconds
        while self.running():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.pidfd is not None:
                select.select([self.pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.05))
        return True


def watch(server: Watched, scratch: str, orders: int = 0) -> None:
    """Wait for the starter's word or end on `orders` (the pipe, as standard input)."""
    if os.read(orders, 1):
        return  # the starter stopped the server itself
    server.signal_group(SIGTERM)
    if not server.wait(GRACE):
        server.signal_group(SIGKILL)
        server.wait(GRACE)
    if scratch:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str]) -> None:
    pid = int(argv[1])
    if pid <= 1:  # signal the group of init, or of every process one may signal? Never.
        sys.exit(f"watcher: {pid} is no server's process")
    server = Watched(pid)  # before anything else: while the starter holds it unreaped
    os.chdir("/")  # hold no directory of the starter's
    watch(server, argv[2] if len(argv) > 2 else "")


if __name__ == "__main__":
    main(sys.argv)
