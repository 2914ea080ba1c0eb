"""Start a server process and wait until it says where it listens: the one helper for that.

The server binds a free port itself (port 0) and prints a line `… listening on <URL>`; reading
the URL back avoids choosing a port, closing it and hoping it is still free. The fake prints
that line (`twilio-fake listening on http://127.0.0.1:PORT`), and so do Stoplight Prism and the
bench's bare route. Used by the kit, the tests and the bench.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

LISTENING = re.compile(r"listening on (https?://[^\s/]+)", re.IGNORECASE)


class ServerFailed(RuntimeError):
    """The server exited, or did not say where it listens in time; carries what it printed."""


WATCHER = Path(__file__).with_name("watcher.py")  # ends the server if its starter ends first
_ORDERS: weakref.WeakSet[IO[bytes]] = weakref.WeakSet()  # the write ends of watchers' pipes


def _hold_no_orders() -> None:
    """In a child forked from the starter (multiprocessing's default on Linux), the write ends
    of the watchers' pipes point at /dev/null: the child, living on after the starter, would
    hold the pipes open, and the servers would run on with it. (A process started by Popen
    holds none: they are closed on exec.)"""
    for orders in list(_ORDERS):
        try:
            fd = orders.fileno()
        except ValueError:  # closed
            continue
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd, inheritable=False)
        os.close(null)


os.register_at_fork(after_in_child=_hold_no_orders)


class Server:
    """A server in its own process group, started as its users start it, and ended with the
    process that started it if that ends first."""

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout: float = 60,
        ready: re.Pattern[str] = LISTENING,
        scratch: str | Path | None = None,
    ) -> None:
        """Start `command`; return once it has printed the URL `ready` captures (group 1).
        `scratch`, a directory the server works in, is removed if the starter ends first (else
        its owner removes it)."""
        self.ready = ready
        # A file, not a pipe: a pipe nobody reads fills up and blocks a chatty server.
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        self.captured = ""
        started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._watcher: subprocess.Popen[bytes] | None = None
        try:
            self._watcher = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WATCHER), str(self.pid), str(scratch or "")],
                stdin=subprocess.PIPE,  # this process holds the only writer
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C to the starter's group does not end it first
            )
            assert self._watcher.stdin is not None
            _ORDERS.add(self._watcher.stdin)
            self.url = self._wait_for_url(started + timeout)
        except BaseException:  # a Ctrl-C while waiting, too: leave no server running
            self.kill()
            raise
        self.started_in = time.monotonic() - started  # until it said where it listens

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def _wait_for_url(self, deadline: float) -> str:
        while time.monotonic() < deadline:
            match = self.ready.search(self.output_so_far())
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise ServerFailed(f"the server exited early:\n{self.output()}")
            time.sleep(0.02)
        output = self.stop()
        raise ServerFailed(f"the server did not say where it listens in time:\n{output}")

    def output_so_far(self) -> str:
        """What the running server has printed so far."""
        if self.log.closed:
            return self.captured
        self.log.seek(0)
        return self.log.read()

    def output(self) -> str:
        """Everything the server printed (read once it has stopped, then kept)."""
        if self.process.poll() is not None:
            self._dismiss_watcher()  # nothing is left for it to do
        if not self.log.closed:
            self.captured = self.output_so_far()
            self.log.close()
        return self.captured

    def signal(self, signum: int) -> None:
        """Send a signal to the whole group (a server may have worker processes)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signum)

    def _dismiss_watcher(self) -> None:
        """Tell the watcher that the server has ended (any byte says so), and reap it. Only
        once the server is reaped: if this process were killed before, the watcher must still
        end the server."""
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            return
        assert watcher.stdin is not None
        try:
            watcher.stdin.write(b"x")
            watcher.stdin.flush()
        except BrokenPipeError:  # the watcher has gone already
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                watcher.stdin.close()  # closes the pipe even when its flush fails
        try:
            watcher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()

    def kill(self) -> str:
        """Kill the whole group at once, as a crash would (SIGKILL: no clean-up)."""
        self.signal(signal.SIGKILL)
        self.process.wait()
        self._dismiss_watcher()
        return self.output()

    def stop(self, timeout: float = 15) -> str:
        """Stop with SIGTERM, SIGKILL if it will not; return what it printed."""
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.kill()
        self._dismiss_watcher()
        return self.output()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
