"""Ends a server with the process that started it: `serving.Server` runs this beside each server.

A server runs in a session of its own (so that it can be signalled as a group), so it outlives
the process that started it when that one is killed outright (SIGKILL, or SIGTERM, which runs no
clean-up): a test run killed by CI left its servers running for good. This watcher reads a pipe
whose only writer is the starter:

- a byte on it: the starter stops the server itself (`Server.stop`, `Server.kill`), so the
  watcher leaves;
- the pipe's end with no byte before it: the starter ended first, however it ended. The watcher
  sends the server's group SIGTERM, unless the server has ended already, and removes the
  server's scratch directory, if it has one.

It forks at once and its first half exits, so that it is nobody's child: the starter never holds
a process it must reap (a Popen dropped while its process runs warns). Standard library only:
it runs as `python -I -S watcher.py SERVER_PID [SCRATCH]`, outside any package.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import sys


def server_ended(pid: int) -> bool:
    """Without a pidfd: whether the server is gone (a zombie still counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def watch(server: int, scratch: str) -> None:
    try:
        ended = [os.pidfd_open(server)]  # readable once the server has ended (Linux 5.3+)
        every = None
    except (AttributeError, OSError):
        ended, every = [], 1.0  # elsewhere: look every second
    running = True
    while True:
        ready = select.select([0, *ended], [], [], every)[0]
        if 0 in ready:
            if os.read(0, 1):
                return  # the starter stops the server itself
            break  # the starter ended first
        if running and (ended[0] in ready if ended else server_ended(server)):
            # The server ended on its own: nothing to signal (its group's number may be
            # another's soon); wait on, for the scratch directory.
            running, ended, every = False, [], None
    if running:
        try:
            os.killpg(server, signal.SIGTERM)
        except OSError:
            pass
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if os.fork():
        os._exit(0)
    watch(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")
