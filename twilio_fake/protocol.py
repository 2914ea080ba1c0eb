"""The HTTP connection, below the app: deadlines and size limits on a request's head.

uvicorn's httptools protocol, with what a shared fake needs before any request reaches the app
(`uvicorn.Config(http=GuardedHttpProtocol)`):
- a connection that sends no complete request head within `head_timeout` seconds, from when it
  opened or from the first byte of its next request, is answered 408 and closed (idle and
  trickling connections would otherwise be held open for ever);
- a head larger than `max_head_bytes` is answered 431 and closed;
- what uvicorn answers itself (a request that is not HTTP) has Twilio's error body too, and the
  headers the contract promises on every answer (a request id; CORS, but not on `/_fake/`);
- the app finds the connection's transport in the scope, for a fault that drops it.
Idle keep-alive connections are closed by uvicorn's own `timeout_keep_alive`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import unquote_to_bytes

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import Settings
from .edge import CONTROL_PREFIX, CORS_HEADERS, new_request_id
from .exceptions import MORE_INFO
from .faults import TRANSPORT_KEY

log = logging.getLogger("twilio_fake.requests")

_REASONS = {
    400: b"Bad Request",
    403: b"Forbidden",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


class GuardedHttpProtocol(HttpToolsProtocol):
    head_timeout: float = Settings.head_timeout
    max_head_bytes: int = Settings.max_head_bytes

    @classmethod
    def configure(cls, settings: Settings) -> None:
        cls.head_timeout = settings.head_timeout
        cls.max_head_bytes = settings.max_head_bytes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # waiting for (the rest of) a request head
        self._head_bytes = 0
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(431, f"The request head is larger than {self.max_head_bytes} bytes")
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_deadline()
        super().on_headers_complete()

    def on_message_begin(self) -> None:
        # The next request's head begins (after a response, or pipelined behind one).
        super().on_message_begin()
        # An injected fault may drop the connection (faults.drop_connection).
        extensions: Any = {TRANSPORT_KEY: self.transport}
        self.scope["extensions"] = extensions
        self._in_head, self._head_bytes = True, 0
        if self._head_deadline is None:
            self._arm_head_deadline()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"The request is not valid HTTP: {msg}")

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._in_head and not self.transport.is_closing():
            if self._head_bytes:
                self._refuse(408, f"The request head did not arrive within {self.head_timeout:g} s")
            else:
                self.transport.close()  # nothing was asked: nothing to answer

    def _refuse(self, status: int, message: str, code: int = 20001) -> None:
        """Answer Twilio's error body and close: the app never sees the request."""
        if self.transport.is_closing():
            return
        body = error_body(status, code, message)
        headers = {"Twilio-Request-Id": new_request_id()}
        # The path, if the head got that far: no CORS approval on the control surface.
        if not unquote_to_bytes(getattr(self, "url", b"")).startswith(CONTROL_PREFIX.encode()):
            headers |= CORS_HEADERS
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n" % (status, _REASONS[status], len(body))
        )
        head += b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items())
        self.transport.write(head + b"\r\n" + body)
        self.transport.close()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
        log.info("- %d refused before the app (%s): %s", status, client, message)
        self._cancel_head_deadline()


def error_body(status: int, code: int, message: str) -> bytes:
    """Twilio's error body, for what is answered below the app."""
    return json.dumps(
        {
            "code": code,
            "message": message,
            "more_info": MORE_INFO.format(code=code),
            "status": status,
        }
    ).encode()
