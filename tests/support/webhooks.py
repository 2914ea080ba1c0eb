"""Receivers that misbehave, for the webhook tests: real sockets on loopback, in threads.

`Listener` accepts connections and hands each to a function of the test's (answer nothing,
trickle, redirect, send too much); it counts what connected, so a test can show that a refused
URL was never connected to. The well-behaved receiver is the plugin's own
(`twilio_fake.testing.CallbackReceiver`).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class Listener:
    """A TCP listener on loopback; each connection goes to `serve(conn)` in a thread of its own."""

    def __init__(self, serve: Callable[[socket.socket], None], host: str = "127.0.0.1") -> None:
        self.serve = serve
        self.connections = 0
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/hook"
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            self.connected.set()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join()
        self._sock.close()
        for conn in self._open:
            conn.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def read_request(conn: socket.socket) -> bytes:
    """Read a request's head and its body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def silent(stopping: threading.Event) -> Callable[[socket.socket], None]:
    """A receiver that reads the request and never answers (until the test ends)."""

    def serve(conn: socket.socket) -> None:
        read_request(conn)
        stopping.wait()

    return serve


def answering(status_line: str, headers: dict[str, str], body: bytes = b"") -> Callable[..., None]:
    """A receiver that reads the request and answers this, then closes."""

    def serve(conn: socket.socket) -> None:
        read_request(conn)
        head = [f"HTTP/1.1 {status_line}", f"Content-Length: {len(body)}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        conn.close()

    return serve
