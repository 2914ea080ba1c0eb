"""Real server processes for the end-to-end tests: started as users start them, on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

from twilio_fake.app import SPEC_DIR
from twilio_fake.cli import serve_command

# `make soak` sets SOAK=1: the same tests, run long. `make test` runs them short.
SOAK = os.environ.get("SOAK") == "1"

# What the run survived, printed at the end of the session (see conftest.py).
survived: Counter[str] = Counter()


def scale(short: int, soak: int) -> int:
    return soak if SOAK else short


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A fake started as users start it, in its own process (and process group)."""

    def __init__(self, command: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        # A file, not a pipe: a pipe nobody reads fills up and blocks a chatty server.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            command,
            cwd=SPEC_DIR,
            env={**os.environ, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                if requests.get(f"{self.url}/_fake/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer on {self.url}")

    def kill(self) -> str:
        """Kill the whole process group at once, as a crash would (SIGKILL: no clean-up)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return self.output()

    def stop(self) -> str:
        """Stop with SIGTERM (the whole group: `make run` has a child) and return the output."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.output()

    def output_so_far(self) -> str:
        """Read what the running server has printed (the file offset ends at the end again)."""
        self.log.seek(0)
        return self.log.read()

    def output(self) -> str:
        """Return everything the server printed (read once, when it has stopped)."""
        if not self.log.closed:
            self.log.seek(0)
            self.captured = self.log.read()
            self.log.close()
        return self.captured


def serve(
    database: Path, *extra: str, port: int | None = None, env: dict[str, str] | None = None
) -> Server:
    port = port or free_port()
    return Server(serve_command(port, database, *extra), port, env)
