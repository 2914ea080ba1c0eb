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
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from starlette.types import Receive, Scope, Send

from ..edge import PROXIED_KEY, new_request_id
from ..protocol import GuardedHttpProtocol, error_body
from . import hosts
from .ca import CertificateAuthority

log = logging.getLogger("twilio_fake.requests")
# uvicorn's own warnings about a front connection ("Invalid HTTP request received.") would be a
# second line beside the refusal's: the refusal says it all.
_front_logger = logging.getLogger("twilio_fake.proxy.front")
_front_logger.setLevel(logging.ERROR)

# Handshakes under way: the event loop keeps only weak references to tasks.
_HANDSHAKES: set[asyncio.Task[None]] = set()
_HOP_BY_HOP = {b"host", b"proxy-authorization", b"proxy-connection"}


class ProxyFront(GuardedHttpProtocol):
    """A connection to the proxy's port."""

    def __init__(self, *args: Any, authority: CertificateAuthority, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _front_logger
        self.authority = authority
        self._connect: str | None = None  # the target of a CONNECT being answered
        self._tunnel_to: str | None = None  # its host, once accepted

    def on_headers_complete(self) -> None:
        if self.parser.get_method() == b"CONNECT":
            self._in_head = False
            self._cancel_head_deadline()
            self._connect = self.url.decode("latin-1")
            host = hosts.connect_target(self.url)
            if host is None:
                self._refuse(403, hosts.refusal(self.url), code=20403)
            elif self.limit_concurrency is not None and (
                len(self.connections) >= self.limit_concurrency  # uvicorn's rule for a request
            ):
                self._refuse(503, "Too many connections to the fake: retry later", code=20503)
            else:
                self._tunnel_to = host
            return  # uvicorn asks _should_upgrade next, then handle_websocket_upgrade
        try:
            url = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            url = None
        host = None
        if url is not None and url.schema == b"http" and url.host and not url.userinfo:
            host = hosts.served(url.host.decode("ascii", "replace"), url.port, hosts.HTTP_PORT)
        if url is None or host is None:
            self.app = _refusal(hosts.refusal(self.url))
        else:
            self.app = self.config.loaded_app
            # The app sees an origin-form request for the host the client named.
            self.url = (url.path or b"/") + (b"?" + url.query if url.query else b"")
            _name_host(self.headers, self.scope, host)
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # What cannot be parsed is refused like any target the proxy does not take.
        self._refuse(403, hosts.refusal(f"a request that is not HTTP ({msg})"), code=20403)

    def _should_upgrade(self) -> bool:
        return self._connect is not None

    def handle_websocket_upgrade(self) -> None:
        """Open the tunnel of an accepted CONNECT (a refused one is answered and closing)."""
        if self._tunnel_to is None or self.transport.is_closing():
            return
        # The next bytes are the TLS handshake, for start_tls. (Bytes a client sent behind the
        # CONNECT head without waiting for the 200 are lost; clients wait, as RFC 9110 9.3.6
        # leads them to.)
        self.transport.pause_reading()
        self.transport.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        task = self.loop.create_task(self._tunnel(self._tunnel_to))
        _HANDSHAKES.add(task)
        task.add_done_callback(_HANDSHAKES.discard)

    async def _tunnel(self, host: str) -> None:
        raw = self.transport
        inner = Tunnel(
            config=self.config,
            server_state=self.server_state,
            app_state=self.app_state,
            _loop=self.loop,
            host=host,
        )
        try:
            tls = await self.loop.start_tls(
                raw,
                inner,
                self.authority.context_for(host),
                server_side=True,
                ssl_handshake_timeout=self.head_timeout,
                # Closing waits this long at most for the client's close_notify: an idle client
                # that never answers must not hold a shutdown (or a connection slot) for 30 s.
                ssl_shutdown_timeout=self.head_timeout,
            )
        except Exception as error:  # a handshake that failed, timed out or was cut short
            raw.abort()
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
            log.info(
                "- tunnel to %s closed before TLS was established (%s): %s",
                host,
                client,
                type(error).__name__,
            )
            return
        finally:
            # The tunnel's own protocol counts the connection from here (or nothing does).
            self.connections.discard(self)
        if tls is None:  # the transport closed as the handshake finished
            return
        inner.connection_made(tls)


class Tunnel(GuardedHttpProtocol):
    """The HTTP inside a tunnel, after the TLS handshake: the normal listener's, for one host."""

    def __init__(self, *args: Any, host: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host = host

    def on_headers_complete(self) -> None:
        _name_host(self.headers, self.scope, self.host)
        super().on_headers_complete()

    def shutdown(self) -> None:
        """The server stops: an idle tunnel is cut at once. A TLS goodbye would wait for the
        client's, and a client with the connection idle in its pool is not reading; a request
        in flight finishes first, as on the normal listener."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()


def _name_host(headers: list[tuple[bytes, bytes]], scope: Any, host: str) -> None:
    """Make the request's Host the one the proxy accepted, and say so in the scope.

    `headers` is the scope's own list: changed in place. Proxy credentials go no further.
    """
    headers[:] = [(name, value) for name, value in headers if name not in _HOP_BY_HOP]
    headers.append((b"host", host.encode("ascii")))
    scope["extensions"][PROXIED_KEY] = host


def _refusal(message: str) -> Any:
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
