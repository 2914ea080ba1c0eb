"""Webhooks out of the fake: status callbacks and inbound messages, signed as Twilio signs them.

Everything the fake sends leaves through `Sender.send`, the one place with:
- the allow-list: only hosts named by `--callback-hosts` (default loopback's names:
  `localhost`, `127.0.0.1`, `::1`), compared as written, before anything is resolved or
  connected to; a refused URL is journaled as refused;
- the signature (`signature`, Twilio's X-Twilio-Signature: HMAC-SHA1 of the URL and the sorted
  parameters, keyed with the account's auth token);
- one httpx.AsyncClient on the event loop (never blocking it), which reads no proxy variable
  and follows no redirect; a deadline for the whole exchange and a cap on the answer read;
- bounded concurrency: so many webhooks in flight in all, and fewer per account, so that a slow
  or dead receiver holds its own account's places and nobody else's;
- the journal of every webhook (`CallbackJournal`): URL, parameters, signature (and whether it
  was tampered with), the receiver's status, timing, error.

The fake is an SSRF surface: anyone who may set a StatusCallback or an sms_url chooses where it
connects. Hence the allow-list, and the strict reading of hosts (docs/callbacks.md).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from . import journal

log = logging.getLogger("twilio_fake.outbound")

DEFAULT_CALLBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
CONNECT_TIMEOUT = 5.0  # seconds; Twilio's connection default (docs/callbacks.md)
# Webhooks being sent at once, all accounts together (each a connection), and per account: an
# account whose receiver never answers holds its own places only, so only MAX_IN_FLIGHT /
# MAX_IN_FLIGHT_PER_ACCOUNT (64) such accounts at once could hold every place, each for the
# deadline at most (docs/callbacks.md).
MAX_IN_FLIGHT = 256
MAX_IN_FLIGHT_PER_ACCOUNT = 4
MAX_RESPONSE_BYTES = 65536  # read of an answer at most; the rest is not read
KEPT_RESPONSE_CHARS = 2048  # of an answer, kept in the journal (an inbound message's TwiML)
MAX_URL_LENGTH = 4096  # longer URLs are refused, not sent
USER_AGENT = "TwilioProxy/1.1"  # what Twilio's webhooks carry
SIGNATURE_HEADER = "X-Twilio-Signature"

Params = Mapping[str, str | Sequence[str]]


# -- the signature -------------------------------------------------------------------------------
def signature(auth_token: str, url: str, params: Params) -> str:
    """X-Twilio-Signature: base64 of HMAC-SHA1, keyed with the auth token, over the URL exactly
    as it is called, followed by each POST parameter's name and value, sorted by name (a name
    given several values: each distinct value, sorted), with no separators."""
    signed = url
    for name in sorted(params):
        value = params[name]
        for one in sorted(set([value] if isinstance(value, str) else value)):
            signed += name + one
    mac = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def tampered(real: str) -> str:
    """A signature that looks like one and verifies for nothing (the `bad_signature` fault)."""
    wrong = base64.b64encode(secrets.token_bytes(20)).decode("ascii")
    return wrong if wrong != real else tampered(real)


# -- the allow-list ------------------------------------------------------------------------------
class RefusedUrl(ValueError):
    """A webhook URL the fake will not call; the message says why (it goes to the journal)."""


def parse_hosts(text: str | None) -> frozenset[str]:
    """The allow-list from `--callback-hosts` (comma-separated names and addresses; None or blank:
    loopback's), each written as `allowed()` compares it."""
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    return frozenset(_host_key(name.removeprefix("[").removesuffix("]")) for name in names) or (
        frozenset(_host_key(name) for name in DEFAULT_CALLBACK_HOSTS)
    )


def _host_key(host: str) -> str:
    """A host as compared: an IP address in its one canonical form, a name as httpx sends it
    (lower case, an IDN in its ASCII form)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return httpx.URL(f"http://{host}/").raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError):
        return host.lower()


def check_url(url: str, hosts: frozenset[str]) -> httpx.URL:
    """The URL to call, parsed by the client that will call it; RefusedUrl unless it is
    http(s) and names one of `hosts` exactly. (Credentials in it, `user:password@`, are sent as
    HTTP Basic authentication, as Twilio does: `without_credentials` is the URL to sign.)

    Only what is written is compared, nothing is resolved. A host is taken as it will be
    connected to: an IPv4 address must be written in its usual form (`127.0.0.1`), since
    the resolver reads `127.1`, `2130706433` or `0x7f.0.0.1` as 127.0.0.1 but so might it read
    a name of digits meant otherwise; an IPv6 address is compared in its canonical form
    (`[0:0:0:0:0:0:0:1]` is `::1`, one address however written); `[::ffff:127.0.0.1]` is
    another address than 127.0.0.1 and needs listing on its own. An IDN is compared in its
    ASCII form (a look-alike of `localhost` is `xn--…`, not listed). A trailing dot makes
    another name.
    """
    if len(url) > MAX_URL_LENGTH:
        raise RefusedUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or c == "\\" for c in url):
        raise RefusedUrl("the URL holds a space, a control character or a backslash")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as err:
        raise RefusedUrl(f"the URL does not parse ({err})") from None
    if parsed.scheme not in ("http", "https"):
        raise RefusedUrl("only http and https URLs are called")
    host = parsed.raw_host.decode("ascii", errors="replace")
    if not host:
        raise RefusedUrl("the URL names no host")
    key = _literal_key(host)
    if key not in hosts:
        raise RefusedUrl(f"the host {host} is not in the callback allow-list (--callback-hosts)")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        # httpx parses any digits; asyncio's resolver then raises OverflowError, not an HTTPError
        raise RefusedUrl(f"the URL's port {parsed.port} is not a TCP port (1 to 65535)")
    return parsed


def without_credentials(url: str, parsed: httpx.URL) -> str:
    """The URL as given, less its `user:password@`: what is signed and journaled (a password
    is never written down). Twilio signs webhook URLs without their credentials (inferred:
    docs/callbacks.md)."""
    if not parsed.userinfo:
        return url
    start = len(parsed.scheme) + len("://")
    userinfo = parsed.userinfo.decode("ascii") + "@"
    if url[start : start + len(userinfo)] != userinfo:
        raise RefusedUrl("the URL's credentials are not written in a form the fake can sign")
    return url[:start] + url[start + len(userinfo) :]


def _literal_key(host: str) -> str:
    """The allow-list key of a URL's host (httpx's raw host: ASCII, lower case)."""
    try:
        # IPv4 only in dotted-quad form without leading zeros (ipaddress is that strict).
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if all(label.isdigit() or label.lower().startswith("0x") for label in labels):
        # 127.1, 2130706433, 0x7f.1, 0177.0.0.1: what a resolver reads as an address.
        raise RefusedUrl(f"the host {host} is an address not written in its usual form")
    return host


# -- the journal ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallbackEntry:
    """One webhook the fake sent, or would have sent."""

    sid: str  # of this entry
    time: str  # when it was done (answered, refused, dropped...): ISO 8601, UTC, ms
    account: str
    kind: str  # "status" (a status callback) or "inbound" (an inbound message's webhook)
    message: str | None  # the Message SID
    method: str
    url: str
    params: dict[str, str | list[str]]
    signature: str | None  # the X-Twilio-Signature sent; None if nothing was sent
    signature_ok: bool  # False: a fault sent a wrong one on purpose
    outcome: str  # delivered (2xx), rejected (other status), failed, timeout, refused, dropped
    status: int | None  # the receiver's HTTP status
    error: str | None
    response: str | None  # the start of the receiver's answer
    duration_ms: float
    fault: str | None  # the SID of the callback fault that shaped it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CallbackJournal:
    """The last `size` webhooks, newest last; safe from several threads (0: none kept)."""

    def __init__(self, size: int) -> None:
        self.size = max(size, 0)
        self._entries: deque[CallbackEntry] = deque(maxlen=self.size)
        self._lock = threading.Lock()

    def record(self, entry: CallbackEntry) -> None:
        if self.size:
            with self._lock:
                self._entries.append(entry)

    def entries(self, account: str | None = None, limit: int | None = None) -> list[CallbackEntry]:
        """Newest first, the account's only if one is given."""
        with self._lock:
            kept = list(self._entries)
        found = [e for e in reversed(kept) if account is None or e.account == account]
        return found[:limit] if limit is not None else found

    def clear(self, account: str | None = None) -> None:
        with self._lock:
            if account is None:
                self._entries.clear()
            else:
                kept = [e for e in self._entries if e.account != account]
                self._entries.clear()
                self._entries.extend(kept)


# -- sending -------------------------------------------------------------------------------------
@dataclass
class Webhook:
    """What to send: to `url` with `method`, `params` signed with the account's token."""

    account: str
    url: str
    params: dict[str, str]
    method: str = "POST"
    kind: str = "status"
    message: str | None = None
    fault: str | None = None  # the callback fault applied, if any
    bad_signature: bool = False  # sign wrongly, on purpose (a fault)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """What an https:// webhook's receiver is verified with: httpx's default (certifi's
    authorities), made on first use and shared by every app's client (two threads there first
    at once may each make one, all alike). Each client made its own, loading the authorities
    anew: 20 ms, twice in every app's start (its build and its lifespan)."""
    return httpx.create_ssl_context(trust_env=False)


class Sender:
    """Sends webhooks from the event loop; one per app, opened in its lifespan."""

    def __init__(
        self,
        hosts: frozenset[str],
        journal: CallbackJournal,
        *,
        timeout: float,
        connect_timeout: float = CONNECT_TIMEOUT,
        max_in_flight: int = MAX_IN_FLIGHT,
        per_account: int = MAX_IN_FLIGHT_PER_ACCOUNT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.hosts = hosts
        self.journal = journal
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.max_in_flight = max_in_flight
        self.per_account = per_account
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._all: asyncio.Semaphore | None = None
        self._accounts: dict[str, tuple[asyncio.Semaphore, int]] = {}

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                trust_env=False,  # no HTTP_PROXY, no .netrc: nothing goes elsewhere
                follow_redirects=False,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                limits=httpx.Limits(
                    max_connections=self.max_in_flight, max_keepalive_connections=8
                ),
                headers={"User-Agent": USER_AGENT},
                transport=self._transport,
                verify=tls_context(),
            )
            self._all = asyncio.Semaphore(self.max_in_flight)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def send(self, hook: Webhook, auth_token: str | None) -> CallbackEntry:
        """Send one webhook (or refuse it) and journal what happened; never raises for the
        receiver's sake."""
        started = time.monotonic()
        # A fragment (Twilio's connection overrides, `#rc=5`) is never sent, so never signed:
        # the receiver could not check a signature over it. A GET's query goes before it.
        url = hook.url.partition("#")[0]
        body: dict[str, str] | None = dict(hook.params)

        def entry(outcome: str, **values: Any) -> CallbackEntry:
            return self._record(hook, url, outcome, started, **values)

        try:
            # The URL as configured is checked (its length too), not the parameters a GET adds.
            target = check_url(url, self.hosts)
            if hook.method == "GET":
                # Twilio's GET webhooks carry the parameters in the query, and sign that URL.
                url = url + ("&" if "?" in url else "?") + urlencode(hook.params)
                body = None
                target = httpx.URL(url)
            url = without_credentials(url, target)
        except RefusedUrl as err:
            url = _masked(url)
            return entry("refused", error=str(err))
        if auth_token is None:
            return entry("refused", error="the account's auth token is not known to sign with")
        real = signature(auth_token, url, body or {})
        sent = tampered(real) if hook.bad_signature else real
        if self._client is None or self._all is None:
            return entry("failed", signature=sent, error="the fake is shutting down")
        headers = {SIGNATURE_HEADER: sent}
        async with self._account_slot(hook.account), self._all:
            started = time.monotonic()  # the time waited for a place is not the receiver's
            try:
                async with asyncio.timeout(self.timeout):
                    status, text = await self._exchange(target, hook.method, headers, body)
            except TimeoutError:
                return entry(
                    "timeout",
                    signature=sent,
                    error=f"no whole answer within {self.timeout:g} s",
                )
            except httpx.HTTPError as err:
                return entry("failed", signature=sent, error=_describe(err))
        return entry(
            "delivered" if 200 <= status < 300 else "rejected",
            signature=sent,
            status=status,
            response=text,
        )

    def unsent(self, hook: Webhook, outcome: str, error: str) -> CallbackEntry:
        """Journal a webhook that is not sent (dropped by a fault, or a full backlog)."""
        return self._record(hook, _masked(hook.url), outcome, time.monotonic(), error=error)

    def _record(
        self, hook: Webhook, url: str, outcome: str, started: float, **values: Any
    ) -> CallbackEntry:
        found = CallbackEntry(
            sid="CB" + secrets.token_hex(16),
            time=journal.now(),
            account=hook.account,
            kind=hook.kind,
            message=hook.message,
            method=hook.method,
            url=journal.cut_path(url),
            params=journal.parameters(urlencode(hook.params).encode()),
            signature=values.get("signature"),
            signature_ok=not hook.bad_signature,
            outcome=outcome,
            status=values.get("status"),
            error=values.get("error"),
            response=values.get("response"),
            duration_ms=round((time.monotonic() - started) * 1000, 3),
            fault=hook.fault,
        )
        self.journal.record(found)
        return found

    async def _exchange(
        self,
        url: httpx.URL,
        method: str,
        headers: dict[str, str],
        body: dict[str, str] | None,
    ) -> tuple[int, str]:
        assert self._client is not None
        async with self._client.stream(method, url, headers=headers, data=body) as response:
            kept = bytearray()
            async for chunk in response.aiter_raw():
                kept += chunk[: MAX_RESPONSE_BYTES - len(kept)]
                if len(kept) >= MAX_RESPONSE_BYTES:
                    break  # the rest is not read: the connection is closed, not reused
            text = bytes(kept).decode(response.charset_encoding or "utf-8", errors="replace")
            return response.status_code, text[:KEPT_RESPONSE_CHARS]

    def _account_slot(self, account: str) -> _AccountSlot:
        return _AccountSlot(self, account)


class _AccountSlot:
    """One of an account's places to send from (MAX_IN_FLIGHT_PER_ACCOUNT), released after."""

    def __init__(self, sender: Sender, account: str) -> None:
        self.sender = sender
        self.account = account

    async def __aenter__(self) -> None:
        accounts = self.sender._accounts
        semaphore, users = accounts.get(self.account, (None, 0))
        if semaphore is None:
            semaphore = asyncio.Semaphore(self.sender.per_account)
        accounts[self.account] = (semaphore, users + 1)
        try:
            await semaphore.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *_exc: object) -> None:
        semaphore, _ = self.sender._accounts[self.account]
        semaphore.release()
        self._leave()

    def _leave(self) -> None:
        accounts = self.sender._accounts
        semaphore, users = accounts[self.account]
        if users <= 1:
            del accounts[self.account]  # the table holds only accounts with webhooks under way
        else:
            accounts[self.account] = (semaphore, users - 1)


def _masked(url: str) -> str:
    """A refused URL as journaled: whatever sits before an `@` in it is not shown."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return scheme + sep + authority + slash + path if sep else url


def _describe(error: httpx.HTTPError) -> str:
    """What went wrong, in a line: the kind of failure, then the library's words."""
    kind = type(error).__name__
    text = " ".join(str(error).split())
    return f"{kind}: {text}" if text else kind


__all__ = [
    "DEFAULT_CALLBACK_HOSTS",
    "CallbackEntry",
    "CallbackJournal",
    "RefusedUrl",
    "Sender",
    "Webhook",
    "check_url",
    "parse_hosts",
    "signature",
    "tampered",
]
