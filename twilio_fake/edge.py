"""The outermost middleware: Twilio's response headers, CORS preflights, and the request context."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from connexion.middleware.routing import ROUTING_CONTEXT
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import http_errors, journal, spec
from .backend import Backend
from .exceptions import (
    Forbidden,
    InvalidRequest,
    RequestBodyTooLarge,
    RequestTimeout,
    TwilioError,
)
from .faults import INJECTED_KEY, Faults
from .journal import Journal

if TYPE_CHECKING:
    from .dispatch import Dispatcher

# Recorded on Twilio's own responses; a browser needs them to call the API from a page.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, "
        "If-Unmodified-Since"
    ),
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "ETag",
}

# A Host header taken into the URLs of an answer: a DNS name (at most 253 characters) or an IP,
# and a port. Anything else, a 1 MiB Host say, gives way to the server's own address.
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
LOGGED_PATH_LENGTH = 512  # longer paths are cut in the log line, which says how long they were


CONTROL_PREFIX = "/_fake/"  # the fake's own surface: no CORS, no cross-origin requests
# Not journaled besides the control surface: the index and the API's docs.
UNJOURNALED = (
    spec.DOCS_PATH + "/",
    spec.CONTRACT_PATH,
    spec.CONTRACT_PATH.removesuffix(".json") + ".yaml",
)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

access_log = logging.getLogger("twilio_fake.requests")

STAMP_KEY = "twilio_fake.stamp"  # where a request's response headers wait in the ASGI scope
# Set by the proxy (twilio_fake.proxy) on a request it took for a Twilio host: the Host header is
# the host the client asked the proxy for, checked there, so --allowed-hosts does not apply.
PROXIED_KEY = "twilio_fake.proxied_host"


def new_request_id() -> str:
    return "RQ" + secrets.token_hex(16)  # 32 hex digits, as Twilio's


class EdgeMiddleware:
    """Stamp every response, answer preflights, and give handlers the backend and base URL.

    It sits outside connexion's exception middleware, so error responses get the same headers.
    The backend and the public base URL go into connexion's request context, from which
    connexion passes them to any handler (or security function) that asks for them by name.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        backend: Backend,
        public_url: str | None = None,
        allowed_hosts: frozenset[str] | None = None,
        control_token: str | None = None,
        journal: Journal | None = None,
        faults: Faults | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.app = app
        self.dispatcher = dispatcher  # webhooks, the clock's control
        self.backend = backend
        self.journal = journal or Journal(0)
        self.faults = faults or Faults()
        self.public_url = public_url.rstrip("/") if public_url else None
        self.allowed_hosts = allowed_hosts  # None: any Host
        self.control_token = control_token
        self.query_limit = spec.limit("query-parameters")

    def refusal(self, scope: Scope, control: bool) -> TwilioError | None:
        """Refuse a request with two Hosts (RFC 9112: a 400), one that asks to switch protocols,
        a Host this fake does not serve (DNS rebinding), a browser's cross-origin request to
        the control surface (a page the developer visits posting /_fake/reset), and a query
        string of more parameters than the contract's `x-limits` allow."""
        query = scope.get("query_string", b"")
        if query.count(b"&") >= self.query_limit and (
            sum(1 for part in query.split(b"&") if part) > self.query_limit
        ):
            return InvalidRequest(f"The query string holds more than {self.query_limit} parameters")
        headers: dict[bytes, bytes] = {}
        hosts = 0
        for name, value in scope["headers"]:
            if name in _CHECKED_HEADERS:
                hosts += name == b"host"
                headers[name] = value
        if hosts > 1:
            # The check would read one and the URLs of the answer the other.
            return InvalidRequest("The request has more than one Host header")
        if b"upgrade" in headers and b"upgrade" in headers.get(b"connection", b"").lower():
            # The fake serves no WebSocket nor h2c, and uvicorn's parser stops reading a request
            # that asks to switch (its body would be lost): a clear refusal, its connection closed.
            return InvalidRequest(
                "This server does not switch protocols: send the request without Upgrade",
                headers={"Connection": "close"},
            )
        host = headers.get(b"host", b"").decode("latin-1")
        proxied = PROXIED_KEY in scope.get("extensions", {})
        if (
            self.allowed_hosts is not None
            and host
            and not proxied
            and host_name(host) not in self.allowed_hosts
        ):
            # The Host itself is not echoed: an answer carries nothing a client made up.
            return Forbidden("The request's Host is not one this fake serves (--allowed-hosts)")
        if control and from_another_origin(
            host,
            headers.get(b"origin", b"").decode("latin-1"),
            headers.get(b"sec-fetch-site", b"").decode("latin-1"),
        ):
            return Forbidden("Cross-origin requests to the control surface are refused")
        return None

    def base_url(self, scope: Scope) -> str:
        """Return the URL clients reach this server at: the configured one, else the request's.

        A request for a Twilio host (through the proxy, or with --allowed-hosts naming one) is
        answered with https://that-host whatever the configuration: Twilio is only reached by
        https, and a client following a next_page_url must not send its credentials in clear
        text, nor leave the proxy.
        """
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if _HOST.fullmatch(host) and is_twilio_host(host_name(host)):
            return f"https://{host_name(host)}"
        if self.public_url:
            return self.public_url
        if not _HOST.fullmatch(host):
            server_host, server_port = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server_host}:{server_port}"
        return f"{scope.get('scheme', 'http')}://{host}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        control = scope["path"].startswith(CONTROL_PREFIX)
        stamp = {"Twilio-Request-Id": new_request_id(), **({} if control else CORS_HEADERS)}
        extensions = scope.setdefault("extensions", {})
        extensions[STAMP_KEY] = stamp
        refusal = self.refusal(scope, control)

        if (
            refusal is None
            and not control
            and scope["method"] == "OPTIONS"
            and any(k == b"access-control-request-method" for k, _ in scope["headers"])
        ):
            # A CORS preflight carries no credentials by design: answer it here.
            headers = _encode({**stamp, "Twilio-Request-Duration": "0.000"})
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        context = extensions.setdefault("connexion_context", {})
        context["backend"] = self.backend
        context["base_url"] = self.base_url(scope)
        context["control_token"] = self.control_token
        context["journal"] = self.journal
        context["faults"] = self.faults
        context["dispatcher"] = self.dispatcher
        started = time.perf_counter()
        status = 500  # what the log says if the app fails before it responds
        responded = False
        journaled = (
            self.journal.enabled
            and not control
            and scope["path"] != "/"
            and not scope["path"].startswith(UNJOURNALED)
        )
        error_body = bytearray()  # the start of an error answer, for the journal's Twilio code
        form = bytearray()  # the start of a form body, for the journal
        if journaled and _is_form(scope):
            receive = keeping(receive, form, journal.MAX_KEPT_BODY)

        async def send_and_note_status(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
            elif journaled and status >= 400 and len(error_body) < 4096:
                error_body.extend(message.get("body", b"")[:4096])
            await send(message)

        stamped_send = stamping(send_and_note_status, stamp, started=started)
        try:
            if refusal is not None:
                await http_errors.respond(refusal)(scope, receive, stamped_send)
            else:
                await self.app(scope, receive, stamped_send)
        except Exception as error:  # a bug of ours: still a Twilio-shaped 500, if not too late
            if responded:
                raise
            await http_errors.respond(http_errors.unexpected(Request(scope), error))(
                scope, receive, stamped_send
            )
        finally:
            account = context.get("user")
            log_request(scope, status, started, stamp["Twilio-Request-Id"], account)
            if journaled:
                self.journal.record(
                    journal.Request(
                        moment=time.time(),
                        request_id=stamp["Twilio-Request-Id"],
                        operation=extensions.get(ROUTING_CONTEXT, {}).get("operation_id"),
                        method=scope["method"],
                        path=scope["path"][: journal.MAX_PATH_BYTES + 1],
                        query=scope.get("query_string", b""),
                        form=bytes(form),
                        status=status if responded else None,
                        error_body=bytes(error_body),
                        account=account if isinstance(account, str) else None,
                        injected=extensions.get(INJECTED_KEY),
                        duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    )
                )


_CHECKED_HEADERS = {b"host", b"origin", b"sec-fetch-site", b"upgrade", b"connection"}


def _is_form(scope: Scope) -> bool:
    return says_form(scope["headers"])


FORM = "application/x-www-form-urlencoded"


def says_form(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's body is a form: its first Content-Type names the form media type,
    parameters and case aside. The one test of it: the journal keeps such a body's fields, and
    the request validation reads any other body as no parameters (overrides.py)."""
    content_type = next((value for name, value in headers if name == b"content-type"), b"")
    return content_type.partition(b";")[0].strip().lower() == FORM.encode()


def keeping(receive: Receive, kept: bytearray, limit: int) -> Receive:
    """A `receive` that also copies the first `limit` bytes of the request body into `kept`."""

    async def receive_and_keep() -> Message:
        message = await receive()
        if message["type"] == "http.request" and len(kept) < limit:
            kept.extend(message.get("body", b"")[: limit - len(kept)])
        return message

    return receive_and_keep


def from_another_origin(host: str, origin: str, fetch_site: str) -> bool:
    """Whether a browser sent the request from a page of another origin than this fake's (the
    request's Host): its Origin says so, or its Sec-Fetch-Site; an opaque origin ("null", a
    sandboxed page or a file) counts as another."""
    if fetch_site in ("cross-site", "same-site") or origin == "null":
        return True
    return origin != "" and _netloc(origin) != host


def _netloc(origin: str) -> str | None:
    """The host and port of an Origin header; None if it cannot be read (then it is foreign)."""
    try:
        return urlsplit(origin).netloc
    except ValueError:
        return None


def is_twilio_host(name: str) -> bool:
    """Whether a host name (lower-case, no port) is Twilio's: twilio.com or under it."""
    return name == "twilio.com" or name.endswith(".twilio.com")


def host_name(host: str) -> str:
    """The name in a Host header, without its port, lower-cased ("[::1]:8080" gives "[::1]")."""
    if host.startswith("["):
        return host[: host.find("]") + 1].lower()
    name, colon, port = host.rpartition(":")
    return (name if colon and port.isdigit() else host).lower()


def allowed_host_names(
    bound_host: str, allowed: str | None, public_url: str | None
) -> frozenset[str] | None:
    """Which Host names to answer: None (any) unless bound to loopback or names were given."""
    if allowed == "*":
        return None
    names = {name.strip().lower() for name in (allowed or "").split(",") if name.strip()}
    if bound_host not in LOOPBACK_NAMES and not names:
        return None  # serving beyond loopback: whatever names reach it
    names |= LOOPBACK_NAMES | {bound_host.lower()}
    if public_url and urlsplit(public_url).hostname:
        names.add(str(urlsplit(public_url).hostname).lower())
    return frozenset(names)


def log_request(
    scope: Scope, status: int, started: float, request_id: str, account: str | None
) -> None:
    """Log one line per request; no header, query string or body, so no credential can leak.

    The path is taken raw (percent-encoded as sent), so it cannot carry a line break into the log.
    """
    path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
    if len(path) > LOGGED_PATH_LENGTH:
        path = f"{path[:LOGGED_PATH_LENGTH]}...({len(path)} characters)"
    access_log.info(
        "%s %s %s %d %.1fms account=%s",
        request_id,
        scope["method"],
        path,
        status,
        (time.perf_counter() - started) * 1000,
        account or "-",
    )


class StampInnerResponses:
    """Apply the request's stamp again deep in the stack, where connexion validates responses.

    Connexion's response validation sits inside EdgeMiddleware and checks that the headers the
    spec marks as required are present, so they must be on the response before it gets there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stamp = scope.get("extensions", {}).get(STAMP_KEY)
        await self.app(scope, receive, stamping(send, stamp) if stamp else send)


class RefuseUnrouted:
    """Answer 404 for any request connexion's router did not match to an operation.

    Connexion passes unmatched requests on to the app behind it; the fake serves nothing but
    the specs' operations, so nothing unrouted goes further.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        routing = scope.get("extensions", {}).get(ROUTING_CONTEXT, {})
        if scope["type"] == "http" and not routing.get("operation_id"):
            raise HTTPException(status_code=404)
        await self.app(scope, receive, send)


def stamping(send: Send, stamp: dict[str, str], started: float | None = None) -> Send:
    """Wrap `send` so that the response start carries the stamp (and, outermost, the duration).

    A stamp header replaces any of the same name; the list is rebuilt once rather than through
    MutableHeaders, which scanned it once per header (a sixth of a cached fetch).
    """
    stamped = _encode(stamp)
    names = {name for name, _ in stamped}
    if started is not None:
        names.add(b"twilio-request-duration")

    async def send_stamped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in names]
            headers += stamped
            if started is not None:
                duration = f"{time.perf_counter() - started:.3f}".encode()
                headers.append((b"twilio-request-duration", duration))
            message["headers"] = headers
        await send(message)

    return send_stamped


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [_ENCODED.get(header) or _encoded(header) for header in headers.items()]


def _encoded(header: tuple[str, str]) -> tuple[bytes, bytes]:
    name, value = header
    return name.lower().encode("latin-1"), value.encode("latin-1")


_ENCODED = {header: _encoded(header) for header in CORS_HEADERS.items()}  # on every API answer


class LimitRequestBodies:
    """Refuse bodies over a size (413) or slower than a deadline (408) before anything reads them.

    Form bodies of this API are a few dozen bytes, so the limits can be tight. A body sent
    without a Content-Length (chunked) is read whole here, within the same limits, and handed on
    with one: connexion only sees bodies that declare their length. The exceptions raised here
    are Twilio errors, rendered by the app's error handlers like any other.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise self.too_large()
        deadline = time.monotonic() + self.timeout
        received = 0
        body_complete = False

        async def limited_receive() -> Message:
            nonlocal received, body_complete
            if body_complete:  # later calls wait for a disconnect: no deadline applies
                return await receive()
            try:
                # A timeout scope, not wait_for: that ran each receive as a task of its own.
                async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"The request body did not arrive within {self.timeout:g} seconds"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self.too_large()
                body_complete = not message.get("more_body", False)
            return message

        receive_within_limits: Receive = limited_receive
        if declared is None and "chunked" in headers.get("transfer-encoding", "").lower():
            scope, receive_within_limits = await self.with_length(scope, limited_receive)
        await self.app(scope, receive_within_limits, send)

    @staticmethod
    async def with_length(scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
        """Read a chunked body whole; return a scope that declares its length, and a replay."""
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientDisconnect()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        kept = [
            (k, v)
            for k, v in scope["headers"]
            if k not in (b"transfer-encoding", b"content-length")
        ]
        scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        return scope, replaying(body, receive)

    def too_large(self) -> RequestBodyTooLarge:
        return RequestBodyTooLarge(f"The request body is larger than {self.max_bytes} bytes")


def replaying(body: bytes | None, receive: Receive) -> Receive:
    """A `receive` that gives a body already read once, then whatever the client sends.

    An empty body is replayed too: the client sent its one message already, so a reader that
    went to the client instead would wait for a message that never comes (until it hangs up).
    """
    if body is None:
        return receive
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
