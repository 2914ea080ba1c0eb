"""The HTTP connection, below the app: deadlines and size limits on a request's head.

uvicorn's httptools protocol, with what a shared fake needs before any request reaches the app
(`uvicorn.Config(http=GuardedHttpProtocol)`):
- a connection that sends no complete request head within `head_timeout` seconds, from when it
  opened or from the first byte of its next request, is answered 408 and closed (idle and
  trickling connections would otherwise be held open for ever);
- a head larger than `max_head_bytes` is answered 431 and closed, on every request of a
  connection (bytes of a body that arrive in the same read are not head; a head pipelined in
  the read that ends the request before it is counted from the next read);
- a request whose body has not all arrived is answered with `connection: close` and its
  connection closed after the answer (a body that trickles in after its answer, never read,
  would otherwise hold the connection for ever); and a body has a deadline here, whether or not
  the app reads it: `body_timeout` (the app's own, which answers 408) and a grace second, then
  the request is answered 408 here (if it was not answered) and the connection closed;
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

BODY_GRACE = 1.0  # seconds past the app's body deadline before the connection answers itself
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
    body_timeout: float = Settings.body_timeout + BODY_GRACE

    @classmethod
    def configure(cls, settings: Settings) -> None:
        cls.head_timeout = settings.head_timeout
        cls.max_head_bytes = settings.max_head_bytes
        cls.body_timeout = settings.body_timeout + BODY_GRACE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # waiting for (the rest of) a request head
        self._head_bytes = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        self._in_body = False  # a head was read; its body has not all arrived
        self._keep_alive = True  # what the client asked, while a body keeps the answer's closed
        self._body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        self._cancel_body_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
        else:
            # Feed the parser no more than the head may still hold, so that a head that ends
            # in this read is told from one that is too long; what follows it goes on whole.
            room = self.max_head_bytes - self._head_bytes + 1
            head = data if len(data) <= room else data[:room]
            self._head_bytes += len(head)
            super().data_received(head)
            if self._in_head and self._head_bytes > self.max_head_bytes:
                self._refuse(431, f"The request head is larger than {self.max_head_bytes} bytes")
                return
            if len(head) < len(data) and not self.transport.is_closing():
                self.data_received(data[room:])
                return
        if self._in_body and self._body_deadline is None and not self.transport.is_closing():
            self._body_pending()

    def on_headers_complete(self) -> None:
        self._in_head, self._in_body = False, True
        self._cancel_head_deadline()
        super().on_headers_complete()

    def on_message_begin(self) -> None:
        # The next request's head begins (after a response, or pipelined behind one).
        super().on_message_begin()
        # An injected fault may drop the connection (faults.drop_connection).
        extensions: Any = {TRANSPORT_KEY: self.transport}
        self.scope["extensions"] = extensions
        if self._head_deadline is None:
            self._arm_head_deadline()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # What follows is the next request's head, counted from here.
        self._in_head, self._head_bytes = True, 0
        if self._in_body:
            self._in_body = False
            if self._body_deadline is not None:
                self._cancel_body_deadline()
                if self.cycle is not None and not self.cycle.response_started:
                    self.cycle.keep_alive = self._keep_alive  # all read before the answer

    def _body_pending(self) -> None:
        """A head was read and its body is still on the way: answer it with the connection
        closed, unless the body is all there before the answer starts; and give it a deadline."""
        cycle = self.cycle
        if cycle is not None:
            self._keep_alive, cycle.keep_alive = cycle.keep_alive, False
        self._body_deadline = self.loop.call_later(self.body_timeout, self._body_too_slow)

    def _cancel_body_deadline(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if not self._in_body or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            # The app did not read it in time (the app answers 408 itself when it reads).
            self.cycle.disconnected = True  # whatever the app answers later goes nowhere
            self._refuse(408, f"The request body did not arrive within {self.body_timeout:g} s")
        else:
            self.transport.close()

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
