"""With `--workers N`, the banner waits until every worker serves.

The banner's first line (`twilio-fake listening on …`) is what a supervisor waits for before it
sends requests. One process prints it once its app is built. With workers, the parent listens
and then starts the worker processes, each of which imports the fake and builds its own app
(two seconds here, far more on a loaded machine): a banner printed by the parent at once made
the first requests wait in the socket's backlog for as long, and a client with a deadline fail.

So each worker, once its app has started (the ASGI lifespan's startup is complete), sends its
process ID as a datagram to a Unix socket that the parent binds in a private directory (0700,
named by `VARIABLE`, which the workers inherit); the parent prints the banner once it has heard
from as many workers as it runs. A worker that uvicorn starts again later (one that died) finds
the socket gone and says nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from typing import Any

VARIABLE = "TWILIO_FAKE_READY_SOCKET"  # set by the parent for its workers only


class WorkersReady:
    """The parent's side: call `announce` once `workers` distinct workers have said they serve.

    Used as a context manager around the supervisor's run: entering binds the socket and sets
    `VARIABLE` for the workers to come; leaving removes both. Where the socket cannot be made
    (a TMPDIR whose path leaves no room in a socket's 107 bytes, or that takes no socket), it
    announces at once, as the server did before: ready or not, the server runs."""

    def __init__(self, workers: int, announce: Callable[[], None]) -> None:
        self._workers = workers
        self._announce = announce
        self._directory: str | None = None
        self._socket: socket.socket | None = None
        try:
            self._directory = tempfile.mkdtemp(prefix="twilio-fake-ready-")
            self.path = os.path.join(self._directory, "ready")
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.bind(self.path)
        except OSError:
            self._close()
            self._socket = None

    def __enter__(self) -> WorkersReady:
        if self._socket is None:
            self._announce()
            return self
        os.environ[VARIABLE] = self.path
        threading.Thread(
            target=self._wait, args=(self._socket,), name="workers-ready", daemon=True
        ).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        os.environ.pop(VARIABLE, None)
        self._close()  # a thread still waiting: its recv returns nothing, and it ends

    def _wait(self, sock: socket.socket) -> None:
        serving: set[int] = set()
        try:
            while len(serving) < self._workers:
                word = sock.recv(32)
                if not word:  # shut down: the server stops before every worker started
                    return
                serving = still_serving(serving, word)
        except OSError:  # closed meanwhile
            return
        self._close()  # nobody listens any more: a later worker's word goes nowhere
        self._announce()

    def _close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)  # wakes a recv under way (Linux)
            self._socket.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)


def still_serving(serving: set[int], word: bytes) -> set[int]:
    """The workers that said they serve, with the one whose word this is, less those that died
    since (uvicorn starts another in a dead one's place, which says so in turn). A word that
    is not a process ID is nobody's."""
    try:
        pid = int(word)
    except ValueError:
        pid = 0
    said = serving | {pid} if pid > 0 else serving
    return {p for p in said if _alive(p)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # nobody's, or no process ID at all
        return False
    except PermissionError:  # someone else's: alive
        return True
    return True


def tell_parent() -> None:
    """A worker's side: say this process serves, if a parent is waiting to hear it. A parent
    that stopped listening refuses at once; one that listens but has ten words unread yet
    (more workers than the socket queues) is waited for, a few seconds at most."""
    path = os.environ.get(VARIABLE)
    if not path:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5.0)
        try:
            sock.sendto(str(os.getpid()).encode(), path)
        except OSError:  # the parent has stopped listening (it announced, or is stopping)
            pass


def after_startup(send: Callable[[Any], Any], started: Callable[[], None]) -> Callable[[Any], Any]:
    """An ASGI lifespan `send` that calls `started` once the app has told the server its
    startup is complete."""

    async def send_and_tell(message: Any) -> None:
        await send(message)
        if message["type"] == "lifespan.startup.complete":
            started()

    return send_and_tell
