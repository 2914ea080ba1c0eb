"""The fake as a test dependency, for any test runner: start it, mint accounts, read the journal,
arm faults, and get an official SDK client that can only talk to the fake.

    from twilio_fake.testing import FakeTwilio

    with FakeTwilio() as fake:                    # a fresh fake in a process of its own
        account = fake.new_account(services=1, numbers=3)
        client = fake.client(account)             # twilio.rest.Client, pointed at the fake
        pool = client.messaging.v1.services(account.services[0]).phone_numbers
        pool.create(phone_number_sid=account.numbers[0])
        fake.requests(account=account)            # what was sent, newest first

`FakeTwilio(url=...)` uses a fake that is already running instead. The pytest plugin
(twilio_fake.pytest_plugin) gives the same objects as fixtures.

Messages' webhooks: `CallbackReceiver` is a real HTTP server, in a thread, that records what the
fake sends it (status callbacks, inbound messages) and answers 200; `fake.clock(account)`
freezes and moves an account's clock (`advance()` answers once the callbacks that fell due were
sent), `fake.callbacks(account=…)` is the journal of webhooks, `fake.inbound(…)` texts one of
the account's numbers, `fake.set_outcome(…)` decides how messages end:

    with CallbackReceiver() as receiver:
        clock = fake.clock(account)
        clock.freeze()
        ...  # send a message with status_callback=receiver.url
        clock.advance(60)
        [request.params["MessageStatus"] for request in receiver.requests]  # in order

This module needs only the standard library (and the fake's package); `client()` needs the
`twilio` package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from twilio.rest import Client

CONTROL_TOKEN_VARIABLE = "TWILIO_FAKE_CONTROL_TOKEN"  # the server's variable, read here too
# The banner's proxy line (twilio_fake.cli.banner): the proxy's URL and its CA certificate.
_PROXY_LINE = re.compile(
    r"^twilio-fake proxy listening on (http://\S+), CA certificate (.+)$", re.M
)


class FakeTwilioError(RuntimeError):
    """The fake refused a control request, or could not be started."""


@dataclass(frozen=True)
class Account:
    """An account of the fake, with what it owns: minted for one test, seen by no other."""

    sid: str
    auth_token: str
    services: list[str]  # MG… SIDs
    numbers: list[str]  # PN… SIDs of incoming numbers able to send SMS and MMS
    phone_numbers: list[str]  # the numbers themselves (E.164), in the order of `numbers`


class FakeTwilio:
    """A fake to test against: one this starts (and stops), or one already running at `url`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        fixtures: str | Path | None = None,
        pool_limit: int | None = None,
        database: str | Path | None = None,
        control_token: str | None = None,
        timeout: float = 30,
        proxy_url: str | None = None,
        proxy_ca: str | Path | None = None,
    ) -> None:
        self.url = url.rstrip("/") if url else None
        self.fixtures = fixtures
        self.pool_limit = pool_limit
        self.database = database
        self.control_token = control_token or os.environ.get(CONTROL_TOKEN_VARIABLE)
        self.timeout = timeout
        self._server: Any = None
        self._scratch: str | None = None
        # The fake's proxy (a fake this starts has one; give them for one already running).
        self.proxy_url = proxy_url
        self.proxy_ca = str(proxy_ca) if proxy_ca is not None else None

    # -- the server ---------------------------------------------------------------------------
    def start(self) -> FakeTwilio:
        """Start a fake of its own (unless given a URL); return once it serves."""
        if self.url is not None:
            self.health()  # say now if nothing answers there
            return self
        from twilio_fake_contract.serving import Server, ServerFailed  # stdlib only

        if self.database is None:
            self._scratch = tempfile.mkdtemp(prefix="twilio-fake-")
            database = str(Path(self._scratch) / "fake.sqlite3")
        else:
            database = str(self.database)
        command = [sys.executable, "-m", "twilio_fake", "--port", "0", "--database", database]
        command += ["--proxy-port", "0"]  # for code that builds its own Client(): proxy_env()
        if self.fixtures is not None:
            command += ["--fixtures", str(self.fixtures)]
        if self.pool_limit is not None:
            command += ["--pool-limit", str(self.pool_limit)]
        env = {CONTROL_TOKEN_VARIABLE: self.control_token} if self.control_token else None
        try:
            self._server = Server(command, env=env, timeout=self.timeout, scratch=self._scratch)
        except ServerFailed as err:
            self._remove_scratch()
            raise FakeTwilioError(f"the fake did not start: {err}") from None
        self.url = self._server.url
        proxy = _PROXY_LINE.search(self._server.output_so_far())
        if proxy:
            self.proxy_url, self.proxy_ca = proxy.group(1), proxy.group(2)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self.url = self.proxy_url = self.proxy_ca = None
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- the control surface ------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._control("GET", "/_fake/health")

    def reset(self) -> None:
        self._control("POST", "/_fake/reset")

    def new_account(self, services: int = 1, numbers: int = 3) -> Account:
        """Mint an account of its own, with `services` services and `numbers` numbers."""
        minted = self._control(
            "POST", "/_fake/accounts", {"services": services, "numbers": numbers}
        )
        return Account(
            minted["sid"],
            minted["auth_token"],
            minted["services"],
            minted["numbers"],
            minted["phone_numbers"],
        )

    def drop_account(self, account: Account | str) -> None:
        """Drop an account and everything it owns (a 404 if it is gone already)."""
        self._control("DELETE", f"/_fake/accounts/{_sid(account)}")

    def requests(
        self,
        *,
        account: Account | str | None = None,
        operation: str | None = None,
        method: str | None = None,
        status: int | None = None,
    ) -> list[dict[str, Any]]:
        """The journal: requests made to the Twilio API, newest first, filtered (every page of
        it, read one after the other)."""
        filters = {
            "account": _sid(account) if account is not None else None,
            "operation": operation,
            "method": method,
            "status": status,
        }
        query = {k: v for k, v in filters.items() if v is not None}
        found: list[dict[str, Any]] = []
        while True:
            page = self._control("GET", f"/_fake/requests?{urlencode(query)}")
            found += page["requests"]
            if page["next_cursor"] is None:
                return found
            query["cursor"] = page["next_cursor"]

    def clear_requests(self) -> None:
        self._control("DELETE", "/_fake/requests")

    def arm_fault(
        self,
        *,
        account: Account | str | None = None,
        operation: str | None = None,
        method: str | None = None,
        times: int = 1,
        status: int | None = None,
        code: int | None = None,
        message: str | None = None,
        delay: float | None = None,
        drop: bool | None = None,
    ) -> dict[str, Any]:
        """Make the next `times` matching requests fail (status, code), wait (delay) or lose
        their connection (drop)."""
        fault = {
            "account": _sid(account) if account is not None else None,
            "operation": operation,
            "method": method,
            "times": times,
            "status": status,
            "code": code,
            "message": message,
            "delay": delay,
            "drop": drop,
        }
        return self._control(
            "POST", "/_fake/faults", {k: v for k, v in fault.items() if v is not None}
        )

    def faults(self) -> list[dict[str, Any]]:
        return self._control("GET", "/_fake/faults")["faults"]

    def clear_faults(self) -> None:
        self._control("DELETE", "/_fake/faults")

    # -- Messages: the clock, outcomes, inbound messages, webhooks -------------------------------
    def clock(self, account: Account | str) -> Clock:
        """The account's clock (see Clock)."""
        return Clock(self, _sid(account))

    def set_outcome(
        self,
        account: Account | str,
        to: str,
        status: str,
        error_code: int | None = None,
    ) -> dict[str, Any]:
        """Make the account's next messages to `to` (a number, a prefix ending in `*`, or `*`)
        end with `status` (delivered, undelivered, failed) and `error_code`."""
        rule = {"to": to, "status": status, "error_code": error_code}
        return self._control("POST", f"/_fake/outcomes/{_path(_sid(account))}", rule)

    def clear_outcomes(self, account: Account | str) -> None:
        self._control("DELETE", f"/_fake/outcomes/{_path(_sid(account))}")

    def inbound(
        self, from_: str, to: str, body: str, *, account: Account | str | None = None
    ) -> dict[str, Any]:
        """Text `to` (one of an account's numbers) from `from_`: the message, and the webhook
        sent with what its receiver answered (`webhook["response"]`: the TwiML)."""
        request = {"from": from_, "to": to, "body": body}
        if account is not None:
            request["account"] = _sid(account)
        return self._control("POST", "/_fake/inbound", request)

    def callbacks(self, *, account: Account | str | None = None) -> list[dict[str, Any]]:
        """The journal of webhooks the fake sent (or refused, or dropped), newest first."""
        query = {"page_size": 1000} | ({"account": _sid(account)} if account is not None else {})
        return self._control("GET", f"/_fake/callbacks?{urlencode(query)}")["callbacks"]

    def clear_callbacks(self, *, account: Account | str | None = None) -> None:
        query = f"?{urlencode({'account': _sid(account)})}" if account is not None else ""
        self._control("DELETE", f"/_fake/callbacks{query}")

    def arm_callback_fault(
        self,
        action: str,
        *,
        account: Account | str | None = None,
        times: int | None = None,
        delay: float | None = None,
    ) -> dict[str, Any]:
        """Make the next status callbacks late (delay), lost (drop), doubled (duplicate),
        wrongly signed (bad_signature) or reversed (reverse, `times` of them)."""
        fault: dict[str, Any] = {"action": action}
        if account is not None:
            fault["account"] = _sid(account)
        if times is not None:
            fault["times"] = times
        if delay is not None:
            fault["delay"] = delay
        return self._control("POST", "/_fake/callback-faults", fault)

    def callback_faults(self) -> list[dict[str, Any]]:
        return self._control("GET", "/_fake/callback-faults")["faults"]

    def clear_callback_faults(self) -> None:
        self._control("DELETE", "/_fake/callback-faults")

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self.url is None:
            raise FakeTwilioError("the fake is not running: call start() first")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.control_token:
            headers["Authorization"] = f"Bearer {self.control_token}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with _DIRECT.open(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as err:
            raise FakeTwilioError(
                f"{method} {path}: {err.code} {err.read().decode(errors='replace')}"
            ) from None
        except OSError as err:
            raise FakeTwilioError(f"{method} {path}: no answer from {self.url} ({err})") from None
        return json.loads(text) if text else None

    # -- the proxy, for code that builds its own client ------------------------------------------
    def proxy_env(self, account: Account | None = None) -> dict[str, str]:
        """The environment that sends an unmodified Twilio client to this fake, through its proxy.

        For code under test that calls `Client()` itself, with no base URL: HTTPS_PROXY and
        HTTP_PROXY (Python's requests, twilio-node, twilio-cli), the CA certificate to trust
        (REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS, CURL_CA_BUNDLE), NO_PROXY for loopback (the
        fake's own control calls go direct), and with an account TWILIO_ACCOUNT_SID and
        TWILIO_AUTH_TOKEN, which `Client()` reads when given no credentials. Apply it with
        monkeypatch (the plugin's `twilio_proxy_env` does) or pass it to a subprocess.
        """
        if self.proxy_url is None or self.proxy_ca is None:
            raise FakeTwilioError(
                "proxy_env() needs the fake's proxy: start the fake here (it gets one), or give "
                "FakeTwilio(url, proxy_url=..., proxy_ca=...) for a fake already running"
            )
        env = {
            "HTTPS_PROXY": self.proxy_url,
            "HTTP_PROXY": self.proxy_url,
            "REQUESTS_CA_BUNDLE": self.proxy_ca,
            "NODE_EXTRA_CA_CERTS": self.proxy_ca,
            "CURL_CA_BUNDLE": self.proxy_ca,
            "NO_PROXY": "localhost,127.0.0.1,::1",
        }
        # Lower-case twins: Python and curl read either, and the lower-case one wins.
        env |= {name.lower(): value for name, value in env.items() if "PROXY" in name}
        if account is not None:
            env |= {"TWILIO_ACCOUNT_SID": account.sid, "TWILIO_AUTH_TOKEN": account.auth_token}
        return env

    # -- an SDK client ------------------------------------------------------------------------
    def client(self, account: Account) -> Client:
        """An official SDK client for the account that sends every request to this fake and
        refuses any other host: nothing can reach the real Twilio."""
        try:
            from twilio.rest import Client
        except ImportError:
            raise FakeTwilioError("client() needs the Twilio SDK: pip install twilio") from None
        if self.url is None:
            raise FakeTwilioError("the fake is not running: call start() first")
        return Client(account.sid, account.auth_token, http_client=_http_client(self.url))


class Clock:
    """An account's clock in the fake: its messages' dates and statuses follow it."""

    def __init__(self, fake: FakeTwilio, account_sid: str) -> None:
        self.fake = fake
        self.account_sid = account_sid
        self.path = f"/_fake/clock/{_path(account_sid)}"

    def read(self) -> dict[str, Any]:
        """{"now": seconds since the epoch, "date": ISO 8601, "frozen": bool}."""
        return self.fake._control("GET", self.path)

    def freeze(self) -> dict[str, Any]:
        """Stop the clock: statuses change only when the test advances it."""
        return self.fake._control("POST", self.path, {"freeze": True})

    def resume(self) -> dict[str, Any]:
        return self.fake._control("POST", self.path, {"resume": True})

    def advance(self, seconds: float, *, callback_wait: float | None = None) -> dict[str, Any]:
        """Move the clock forward; answers once what fell due has moved and its callbacks were
        sent (`transitions`, in order, each with its journal entries)."""
        change: dict[str, Any] = {"advance_seconds": seconds}
        if callback_wait is not None:
            change["callback_wait"] = callback_wait
        return self.fake._control("POST", self.path, change)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request a CallbackReceiver took."""

    method: str
    url: str  # as the sender called it: http://host:port/path?query
    path: str
    headers: dict[str, str]
    params: dict[str, str]  # the form body's (a POST) or the query's (a GET), one value each
    body: bytes

    @property
    def signature(self) -> str | None:
        return self.headers.get("x-twilio-signature")

    def signed_by(self, auth_token: str) -> bool:
        """Whether X-Twilio-Signature is Twilio's signature of this request with the token."""
        import hmac

        from .outbound import signature

        signed_params = self.params if self.method == "POST" else {}
        expected = signature(auth_token, self.url, signed_params)
        return self.signature is not None and hmac.compare_digest(expected, self.signature)


@dataclass
class _Answer:
    status: int = 200
    body: str = "<Response/>"
    content_type: str = "text/xml"
    hold: threading.Event | None = None  # answer only once set (a slow receiver)


class _ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6  # for an IPv6 address such as "::1"


class CallbackReceiver:
    """A real HTTP server, in a thread, on loopback, that records every request and answers
    200 with an empty TwiML `<Response/>` (or what `answer()` says).

    `url` is where to point a StatusCallback or an sms_url (any path under it works);
    `requests` what came, in order of arrival; `wait_for(n)` waits until n have come.
    """

    def __init__(self, host: str = "127.0.0.1", *, max_requests: int = 10_000) -> None:
        self.requests: list[ReceivedRequest] = []
        self.max_requests = max_requests
        self._answer = _Answer()
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                receiver._take(self)

            def do_POST(self) -> None:
                receiver._take(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server_class = _ThreadingHTTPServer6 if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, 0), Handler)
        self._server.daemon_threads = True
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{self._server.server_address[1]}"
        self.url = self.base_url + "/callbacks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer(
        self,
        status: int = 200,
        body: str = "<Response/>",
        content_type: str = "text/xml",
        *,
        hold: threading.Event | None = None,
    ) -> None:
        """What to answer from now on; with `hold`, only once the event is set."""
        self._answer = _Answer(status, body, content_type, hold)

    def _take(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(min(length, 1 << 20)) if length else b""
        parts = urlsplit(handler.path)
        host = handler.headers.get("Host", "")
        form = body.decode("utf-8", "replace") if handler.command == "POST" else parts.query
        params = {k: v[0] for k, v in parse_qs(form, keep_blank_values=True).items()}
        request = ReceivedRequest(
            method=handler.command,
            url=f"http://{host}{handler.path}",
            path=parts.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            params=params,
            body=body,
        )
        with self._arrived:
            if len(self.requests) < self.max_requests:
                self.requests.append(request)
            self._arrived.notify_all()
        answer = self._answer
        if answer.hold is not None:
            answer.hold.wait()
        data = answer.body.encode()
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def wait_for(self, count: int, timeout: float = 30) -> list[ReceivedRequest]:
        """Wait until `count` requests have come (FakeTwilioError after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FakeTwilioError(
                        f"{len(self.requests)} request(s) came to {self.url}, not {count}"
                    )
                self._arrived.wait(left)
            return list(self.requests)

    def clear(self) -> None:
        with self._arrived:
            self.requests.clear()

    def stop(self) -> None:
        hold = self._answer.hold
        if hold is not None:
            hold.set()  # let held answers go, or their threads would outlive the server
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CallbackReceiver:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _path(sid: str) -> str:
    return quote(sid, safe="")


# The fake is reached directly, whatever HTTP_PROXY and the like say: a proxy would see the
# control token, and an account's credentials, on their way to a fake on the same machine.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _sid(account: Account | str) -> str:
    return account.sid if isinstance(account, Account) else account


def _http_client(fake_url: str) -> Any:
    """The SDK's own HTTP client, with every Twilio URL moved onto the fake."""
    from twilio.http.http_client import TwilioHttpClient

    fake = urlsplit(fake_url)

    class FakeTwilioHttpClient(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            return super().request(method, to_fake(url, fake), *args, **kwargs)

    client = FakeTwilioHttpClient()
    # Never through a proxy (HTTP_PROXY, ALL_PROXY...): it would get the account's credentials.
    client.session.trust_env = False
    return client


def to_fake(url: str, fake: Any) -> str:
    """Move a Twilio URL (any *.twilio.com host, whatever the region or edge) onto the fake;
    refuse any other host than the fake's own."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "twilio.com" or host.endswith(".twilio.com"):
        return urlunsplit((fake.scheme, fake.netloc, parts.path, parts.query, parts.fragment))
    if (parts.scheme, parts.netloc) == (fake.scheme, fake.netloc):
        return url
    raise FakeTwilioError(f"refusing to send a request to {parts.netloc}: it is not the fake")
