"""The proxy's connections: a CONNECT becomes a TLS tunnel into the app, an absolute http:// URL
is served as it stands, anything else gets 403.

Both protocols are the normal listener's `GuardedHttpProtocol` (uvicorn's httptools protocol with
the head deadline and size limit, Twilio-shaped refusals), so a request through the proxy meets
the same guards and then the same app: routing, authentication and validation happen once, in
connexion. What the proxy adds happens before the app sees anything:
- the target is checked as text (`hosts`): never resolved, never connected to;
- the request's Host becomes the host the client asked for (RFC 9112 3.2.2: an absolute URL's
  host, or the CONNECT target), and the scope says the proxy vetted it (`PROXIED_KEY`), so the
  app answers with `https://` URLs on that host and the client comes back through the proxy;
- a tunnel's TLS handshake has the head deadline to finish (and so has its TLS goodbye), and
  counts against the connection limit like any connection.

uvicorn hands an upgrade request (for it, a WebSocket; CONNECT is one to httptools) to
`_should_upgrade` and `handle_websocket_upgrade`: the front overrides the two to open the tunnel.
The two protocols (`ProxyFront`, `Tunnel`) and the server that listens for them
(`ServerWithProxy`) override uvicorn's members, so they live in overrides.py; this module keeps
what they share with nothing of uvicorn's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import Receive, Scope, Send

from ..edge import PROXIED_KEY, new_request_id
from ..protocol import error_body

log = logging.getLogger("twilio_fake.requests")
# uvicorn's own warnings about a front connection ("Invalid HTTP request received.") would be a
# second line beside the refusal's: the refusal says it all.
front_logger = logging.getLogger("twilio_fake.proxy.front")
front_logger.setLevel(logging.ERROR)

# Handshakes under way: the event loop keeps only weak references to tasks.
HANDSHAKES: set[asyncio.Task[None]] = set()
_HOP_BY_HOP = {b"host", b"proxy-authorization", b"proxy-connection"}


def name_host(headers: list[tuple[bytes, bytes]], scope: Any, host: str) -> None:
    """Make the request's Host the one the proxy accepted, and say so in the scope.

    `headers` is the scope's own list: changed in place. Proxy credentials go no further.
    """
    headers[:] = [(name, value) for name, value in headers if name not in _HOP_BY_HOP]
    headers.append((b"host", host.encode("ascii")))
    scope["extensions"][PROXIED_KEY] = host


def proxy_refusal(message: str) -> Any:
    """An app that answers 403 (Twilio's 20403) and closes: a request the proxy does not take."""

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        body = error_body(403, 20403, message)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"twilio-request-id", new_request_id().encode()),
        ]
        client = scope.get("client")
        where = f"{client[0]}:{client[1]}" if client else "-"
        log.info("- 403 refused by the proxy (%s): %s", where, message)
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return refuse
