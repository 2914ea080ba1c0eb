"""The HTTP connection, below the app: deadlines and size limits on a request's head.

uvicorn's httptools protocol, with what a shared fake needs before any request reaches the app
(`uvicorn.Config(http=GuardedHttpProtocol)`; the class is in overrides.py, with every other
override of a library's members, and this module keeps what it answers with):
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

import json
import logging

from .exceptions import MORE_INFO

log = logging.getLogger("twilio_fake.requests")

BODY_GRACE = 1.0  # seconds past the app's body deadline before the connection answers itself
REASONS = {
    400: b"Bad Request",
    403: b"Forbidden",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


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
