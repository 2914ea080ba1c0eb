"""Proxy mode: unmodified Twilio clients (twilio-cli, twilio-python, twilio-node) reach the fake
through its proxy, with no base URL set, and the proxy reaches nothing else.

Everything here, the server and every client, runs in a network namespace with only loopback
(tests/support/netns.py): a proxy that forwarded, or a client that went around it, would fail
rather than reach Twilio. One server serves the module, with short head deadlines for the
hardening tests and `--allowed-hosts messaging.twilio.com` (the configuration that used to write
http:// URLs for a Twilio host).
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.support import ACCOUNT, ROOT, Server, npm_tools, pool_path, serve
from tests.support.netns import loopback_only
from twilio_fake.cli import PROXY_READY
from twilio_fake.launch import serve_command
from twilio_fake.proxy import (
    CA_DIRECTORY,
    CertificateAuthority,
    CertificateAuthorityError,
    ca_directory,
)
from twilio_fake.testing import Account, FakeTwilio

NODE_MODULES = ROOT / "tools" / "npm" / "node_modules"
TWILIO_CLI = NODE_MODULES / ".bin" / "twilio"
HEAD_TIMEOUT = 3  # seconds: the server's head deadline, and so its TLS handshake deadline
MAX_CONNECTIONS = 40
PROXY_LINE = re.compile(re.escape(PROXY_READY) + r"(http://\S+), CA certificate (.+)$", re.M)
TWILIO = "https://messaging.twilio.com"


@dataclass
class Proxied:
    server: Server
    url: str  # the proxy's
    ca: str  # its CA certificate
    home: Path  # a fresh HOME for twilio-cli

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def fake(self) -> FakeTwilio:
        return FakeTwilio(self.server.url, proxy_url=self.url, proxy_ca=self.ca)

    def mark(self) -> int:
        """Where this test's lines of the server's log begin. A request's line is written once
        its answer is sent, so an earlier test's last one can land after its client has ended:
        a request of our own is answered and its line awaited first, and the event loop has
        run every step that was due before it (seen once: curl's request in a later test's
        lines)."""
        with requests.Session() as direct:
            direct.trust_env = False  # to the fake itself, whatever proxy a test set
            answer = direct.get(self.server.url + "/_fake/health", timeout=10)
        line = re.compile(re.escape(answer.headers["Twilio-Request-Id"]) + ".*\n")
        deadline = time.monotonic() + 10
        while (logged := line.search(self.server.output_so_far())) is None:
            assert time.monotonic() < deadline, "the server never logged its answer"
            time.sleep(0.01)
        return logged.end()

    def log_since(self, mark: int) -> str:
        return self.server.output_so_far()[mark:]


@pytest.fixture(scope="module", autouse=True)
def namespace() -> Iterator[None]:
    # The npm tools (twilio-cli, twilio-node) are installed first, if missing: inside the
    # namespace the registry cannot be reached.
    npm_tools()
    with loopback_only():
        yield


@pytest.fixture(scope="module")
def proxied(namespace: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    directory = tmp_path_factory.mktemp("proxy")
    env = {
        "TWILIO_FAKE_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
        "TWILIO_FAKE_MAX_HEAD_BYTES": "8192",
        "TWILIO_FAKE_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    options = ("--proxy-port", "0", "--allowed-hosts", "messaging.twilio.com")
    server = serve(directory / "fake.sqlite3", *options, env=env)
    match = PROXY_LINE.search(server.output_so_far())
    assert match, server.output_so_far()
    home = directory / "home"
    home.mkdir()
    yield Proxied(server, match.group(1), match.group(2), home)
    output = server.stop()
    assert "Traceback" not in output and " 500 " not in output, output


@pytest.fixture
def account(proxied: Proxied) -> Account:
    return proxied.fake().new_account(services=1, numbers=5)


@pytest.fixture
def unproxied(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable of the runner's own environment leaks into a test."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("TWILIO_EDGE", "TWILIO_REGION"):
            monkeypatch.delenv(name)


# -- twilio-cli ---------------------------------------------------------------------------------
def cli(proxied: Proxied, account: Account, *args: str, token: str | None = None, ca: bool = True):
    """The official twilio-cli, configured by environment variables only."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(proxied.home),
        "TWILIO_ACCOUNT_SID": account.sid,
        "TWILIO_AUTH_TOKEN": token or account.auth_token,
        "HTTP_PROXY": proxied.url,
        "HTTPS_PROXY": proxied.url,
        "TWILIO_DISABLE_AUTOUPDATE": "true",
        "TWILIO_SKIP_NEW_VERSION_CHECK": "true",
    }
    if ca:
        env["NODE_EXTRA_CA_CERTS"] = proxied.ca
    command = [str(TWILIO_CLI), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def pool_cli(proxied: Proxied, account: Account, action: str, *args: str, **options):
    """`twilio api:messaging:v1:services:phone-numbers:ACTION` on the account's service."""
    command = f"api:messaging:v1:services:phone-numbers:{action}"
    return cli(proxied, account, command, "--service-sid", account.services[0], *args, **options)


def test_twilio_cli_adds_lists_fetches_and_removes(proxied: Proxied, account: Account) -> None:
    service, numbers = account.services[0], account.numbers
    fake = proxied.fake()

    created = pool_cli(proxied, account, "create", "--phone-number-sid", numbers[0], "-o", "json")
    assert created.returncode == 0, created.stderr
    (row,) = json.loads(created.stdout)
    assert (row["sid"], row["serviceSid"], row["accountSid"]) == (numbers[0], service, account.sid)
    assert row["url"] == TWILIO + pool_path(service, numbers[0])

    # The rest added directly, then listed two to a page: the CLI follows next_page_url, which
    # names https://messaging.twilio.com, back through the proxy.
    for sid in numbers[1:]:
        added = requests.post(
            proxied.server.url + pool_path(service),
            data={"PhoneNumberSid": sid},
            auth=(account.sid, account.auth_token),
            timeout=10,
        )
        assert added.status_code == 201, added.text
    fake.clear_requests()
    listed = pool_cli(proxied, account, "list", "--page-size", "2", "--no-limit", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [row["sid"] for row in json.loads(listed.stdout)] == numbers
    pages = fake.requests(account=account, operation="ListPhoneNumber")
    assert len(pages) == 3 and all(page["status"] == 200 for page in pages)
    assert sum("PageToken" in page["query"] for page in pages) == 2

    fetched = pool_cli(proxied, account, "fetch", "--sid", numbers[1], "-o", "json")
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout)[0]["phoneNumber"] == account.phone_numbers[1]

    removed = pool_cli(proxied, account, "remove", "--sid", numbers[1])
    assert removed.returncode == 0, removed.stderr
    assert "deleted successfully" in removed.stdout + removed.stderr
    assert fake.requests(account=account, method="DELETE")[0]["status"] == 204


def test_twilio_cli_reports_twilios_errors(proxied: Proxied, account: Account) -> None:
    numbers = account.numbers
    missing = pool_cli(proxied, account, "fetch", "--sid", numbers[4])
    assert missing.returncode != 0
    assert "Error code 20404 from Twilio" in missing.stderr, missing.stderr

    added = requests.post(
        proxied.server.url + pool_path(account.services[0]),
        data={"PhoneNumberSid": numbers[4]},
        auth=(account.sid, account.auth_token),
        timeout=10,
    )
    assert added.status_code == 201, added.text
    twice = pool_cli(proxied, account, "create", "--phone-number-sid", numbers[4])
    assert twice.returncode != 0
    assert "Error code 21710 from Twilio" in twice.stderr, twice.stderr

    wrong = pool_cli(proxied, account, "list", token="not-the-token")
    assert wrong.returncode != 0
    assert "Error code 20003 from Twilio" in wrong.stderr, wrong.stderr


def test_twilio_cli_without_the_ca_fails_rather_than_going_elsewhere(
    proxied: Proxied, account: Account
) -> None:
    """The proxy's certificate is checked: a client that does not trust the CA gets nowhere."""
    mark = proxied.mark()
    untrusted = pool_cli(proxied, account, "list", ca=False)
    assert untrusted.returncode != 0
    log = proxied.log_since(mark)
    assert "tunnel to messaging.twilio.com closed before TLS was established" in log
    assert "GET /" not in log


# -- twilio-python and twilio-node, no base URL ------------------------------------------------
def test_twilio_python_with_https_proxy_and_no_base_url(
    proxied: Proxied, account: Account, unproxied: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in proxied.fake().proxy_env(account).items():
        monkeypatch.setenv(name, value)
    client = Client()  # credentials from the environment; Twilio's own URLs
    pool = client.messaging.v1.services(account.services[0]).phone_numbers
    for sid in account.numbers:
        created = pool.create(phone_number_sid=sid)
        assert created.url == TWILIO + pool_path(account.services[0], sid)
    assert [n.sid for n in pool.stream(page_size=2)] == account.numbers  # three pages
    assert pool(account.numbers[0]).fetch().phone_number == account.phone_numbers[0]
    assert pool(account.numbers[0]).delete() is True
    with pytest.raises(TwilioRestException) as raised:
        pool(account.numbers[0]).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_an_edge_and_a_region_reach_the_fake_too(
    proxied: Proxied, account: Account, unproxied: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in proxied.fake().proxy_env(account).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    pool = Client().messaging.v1.services(account.services[0]).phone_numbers
    created = pool.create(phone_number_sid=account.numbers[0])
    edge = "https://messaging.sydney.au1.twilio.com"
    assert created.url == edge + pool_path(account.services[0], account.numbers[0])


def test_twilio_node_with_http_proxy_and_no_base_url(
    proxied: Proxied, account: Account, unproxied: None
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
        **proxied.fake().proxy_env(account),
        "NODE_PATH": str(NODE_MODULES),
        "SERVICE": account.services[0],
        "NUMBERS": ",".join(account.numbers),
    }
    for name in [name for name in env if name.lower() == "https_proxy"]:
        del env[name]  # twilio-node reads HTTP_PROXY alone
    result = subprocess.run(
        ["node", str(ROOT / "tests" / "e2e" / "node" / "proxy_client.js")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    pool = TWILIO + pool_path(account.services[0])
    assert answer["created"] == [f"{pool}/{sid}" for sid in account.numbers]
    assert answer["listed"] == account.numbers
    assert (answer["fetched"], answer["removed"]) == (account.numbers[0], True)
    assert answer["missing"] == {"status": 404, "code": 20404}
    pages = proxied.fake().requests(account=account, operation="ListPhoneNumber")
    assert len(pages) == 3


def test_the_plugins_proxy_env_fixture_runs_the_docs_example(
    proxied: Proxied, tmp_path: Path, unproxied: None
) -> None:
    """docs/proxy.md's example, as written: application code calling `Client()` with no base
    URL, tested with `twilio_proxy_env` against the plugin's own fake (started with a proxy)."""
    text = (ROOT / "docs" / "proxy.md").read_text()
    section = text.split("## In your tests", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/proxy.md's test section opens with a Python example"
    (tmp_path / "test_example.py").write_text(match.group(1))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_curl_as_the_banner_and_the_docs_say(proxied: Proxied, account: Account) -> None:
    pool = TWILIO + pool_path(account.services[0])
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--proxy", proxied.url, "--cacert", proxied.ca,
         "-u", f"{account.sid}:{account.auth_token}", f"{pool}?PageSize=2"],
        env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    meta = json.loads(result.stdout)["meta"]
    assert meta["url"] == f"{pool}?PageSize=2&Page=0"


# -- never forwards -----------------------------------------------------------------------------
def proxy_socket(proxied: Proxied) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxied.port), timeout=15)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def ask(proxied: Proxied, head: bytes) -> bytes:
    with proxy_socket(proxied) as sock:
        sock.sendall(head)
        return read_all(sock)


def error_of(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), answer
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.fixture
def trap() -> Iterator[socket.socket]:
    """A listener on loopback: a proxy that connected anywhere it was asked would land here."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        yield listener


def test_every_other_target_is_refused_403_and_nothing_is_reached(
    proxied: Proxied, trap: socket.socket
) -> None:
    port = trap.getsockname()[1]
    long_host = "a" * 5000 + ".example"
    targets = [
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        b"CONNECT api.twilio.com:8443 HTTP/1.1\r\nHost: api.twilio.com:8443\r\n\r\n",
        b"CONNECT messaging.twilio.com.example.com:443 HTTP/1.1\r\n\r\n",
        b"CONNECT twilio.com:443 HTTP/1.1\r\n\r\n",
        b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\n" % port,
        b"CONNECT localhost:%d HTTP/1.1\r\n\r\n" % port,
        b"CONNECT [::1]:443 HTTP/1.1\r\n\r\n",
        b"CONNECT messaging.twilio.com HTTP/1.1\r\n\r\n",  # no port
        b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % port,
        b"GET http://messaging.twilio.com:8080/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET https://messaging.twilio.com/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: messaging.twilio.com\r\n\r\n",  # not a proxy request
        f"CONNECT {long_host}:443 HTTP/1.1\r\n\r\n".encode(),
        b"HELLO THERE\r\n\r\n",  # not HTTP
    ]
    mark = proxied.mark()
    for head in targets:
        status, body = error_of(ask(proxied, head))
        assert (status, body["status"], body["code"]) == (403, 403, 20403), head
        assert body["more_info"] == "https://www.twilio.com/docs/errors/20403"
        named = head.split(b" ")[1].decode()
        if named not in (f"{long_host}:443", "THERE\r\n\r\n"):
            assert named in body["message"], body
    with pytest.raises(BlockingIOError):
        trap.accept()  # nothing was ever connected to
    log = proxied.log_since(mark).splitlines()
    assert len(log) == len(targets), log  # one line each, and nothing else
    assert all(" 403 refused " in line for line in log), log
    # A long target is named cut short, in the answer and in the log line.
    long = error_of(ask(proxied, targets[-2]))[1]["message"]
    assert len(long) < 400 and f"({len(long_host) + 4} characters)" in long
    assert max(len(line) for line in proxied.log_since(mark).splitlines()) < 600


def test_a_refused_target_carrying_credentials_is_named_without_them(proxied: Proxied) -> None:
    """A client may write `user:token@` into a request line (curl strips it; raw clients do
    not): the refusal names the target with it masked, in the answer and the log line."""
    secret = "demo-auth-token-1"
    targets = [
        f"GET http://{ACCOUNT}:{secret}@example.com/v1/Services HTTP/1.1\r\nHost: x\r\n\r\n",
        f"CONNECT {ACCOUNT}:{secret}@example.com:443 HTTP/1.1\r\n\r\n",
        f"GET //{ACCOUNT}:{secret}@example.com/x HTTP/1.1\r\nHost: x\r\n\r\n",
        f"CONNECT {ACCOUNT}:{secret}@example.com:443/a://b HTTP/1.1\r\n\r\n",
    ]
    mark = proxied.mark()
    for head in targets:
        status, body = error_of(ask(proxied, head.encode()))
        assert status == 403 and "***@example.com" in body["message"], body
        assert secret not in body["message"] and ACCOUNT not in body["message"]
    log = proxied.log_since(mark)
    assert log.count(" 403 refused ") == len(targets), log
    assert secret not in log and ACCOUNT not in log, log


def test_the_proxy_makes_no_lookup_and_no_connection(tmp_path: Path) -> None:
    """Under strace, refused targets and served ones alike: the fake's processes never call
    connect() or send to an address (a DNS query would do either); the accepted connections
    show that strace watches the right processes."""
    trace = tmp_path / "syscalls"
    strace = [
        "strace",
        "-f",
        "-qq",
        "--seccomp-bpf",
        "-e",
        "trace=connect,sendto,sendmsg,accept,accept4",
    ]
    command = [*strace, "-o", str(trace), *serve_command(":memory:", "--proxy-port", "0")]
    server = Server(command, cwd=ROOT)
    try:
        match = PROXY_LINE.search(server.output_so_far())
        assert match
        proxied = Proxied(server, match.group(1), match.group(2), tmp_path)
        for target in (b"example.com:443", b"api.twilio.com:8443", b"localhost:443"):
            status, _ = error_of(ask(proxied, b"CONNECT %s HTTP/1.1\r\n\r\n" % target))
            assert status == 403
        assert error_of(ask(proxied, b"GET http://example.com/ HTTP/1.1\r\nHost: x\r\n\r\n"))
        with proxied_session(proxied) as session:  # and a request it serves
            assert session.get(TWILIO + pool_path("MG" + "0" * 32), timeout=15).status_code == 401
    finally:
        server.stop()
    calls = trace.read_text().splitlines()
    assert any("accept" in call for call in calls), "strace saw no accept: the check is blind"
    outbound = [call for call in calls if "sin_port=" in call or "sin6_port=" in call]
    assert outbound == []


def test_a_direct_request_for_a_twilio_host_gets_https_urls(
    proxied: Proxied, account: Account
) -> None:
    """--allowed-hosts messaging.twilio.com and no --public-url: the URLs are still https, so a
    client following them never sends its credentials in clear text."""
    response = requests.get(
        f"{proxied.server.url}{pool_path(account.services[0])}?PageSize=1",
        headers={"Host": "messaging.twilio.com"},
        auth=(account.sid, account.auth_token),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["url"].startswith(TWILIO + pool_path(account.services[0]))


def test_absolute_form_http_requests_are_served_with_https_urls(
    proxied: Proxied, account: Account
) -> None:
    service = account.services[0]
    proxies = {"http": proxied.url}
    with requests.Session() as session:
        session.trust_env = False
        response = session.post(
            "http://messaging.twilio.com" + pool_path(service),
            data={"PhoneNumberSid": account.numbers[0]},
            auth=(account.sid, account.auth_token),
            proxies=proxies,
            timeout=10,
        )
    assert response.status_code == 201, response.text
    assert response.json()["url"] == TWILIO + pool_path(service, account.numbers[0])


# -- the hardening of the normal listener, on the proxy -----------------------------------------
def client_hello() -> bytes:
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="messaging.twilio.com")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


CONNECT = b"CONNECT messaging.twilio.com:443 HTTP/1.1\r\nHost: messaging.twilio.com:443\r\n\r\n"
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


def open_tunnel(proxied: Proxied) -> socket.socket:
    sock = proxy_socket(proxied)
    sock.sendall(CONNECT)
    answer = b""
    while not answer.endswith(b"\r\n\r\n"):
        answer += sock.recv(1)
    assert answer == ESTABLISHED
    return sock


def proxied_session(proxied: Proxied) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"https": proxied.url}
    session.verify = proxied.ca
    return session


def still_serves(proxied: Proxied, account: Account) -> None:
    with proxied_session(proxied) as session:
        response = session.get(
            TWILIO + pool_path(account.services[0]),
            auth=(account.sid, account.auth_token),
            timeout=15,
        )
    assert response.status_code == 200, response.text


def test_tunnels_that_stall_are_closed_and_stall_nobody_else(
    proxied: Proxied, account: Account
) -> None:
    """A tunnel that sends nothing, a TLS handshake that never finishes, and a tunnel that
    finishes its handshake and then asks nothing: each is closed at the head deadline, and
    requests through the proxy go on meanwhile."""
    mark = proxied.mark()
    silent = open_tunnel(proxied)
    halfway = open_tunnel(proxied)
    halfway.sendall(client_hello()[:20])
    context = ssl.create_default_context(cafile=proxied.ca)
    idle = context.wrap_socket(open_tunnel(proxied), server_hostname="messaging.twilio.com")
    still_serves(proxied, account)
    for sock in (silent, halfway):
        assert read_all(sock) == b""  # closed by the server
        sock.close()
    assert_closed(idle)
    log = proxied.log_since(mark)
    assert log.count("closed before TLS was established") == 2, log
    still_serves(proxied, account)


def assert_closed(sock: ssl.SSLSocket) -> None:
    """Wait for the server to close a TLS connection (with or without TLS's own goodbye)."""
    try:
        assert sock.recv(1) == b""
    except (ssl.SSLEOFError, ConnectionResetError):
        pass
    sock.close()


def test_a_trickling_connect_head_is_answered_408(proxied: Proxied) -> None:
    with proxy_socket(proxied) as sock:
        try:
            for byte in CONNECT[:-2]:
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass  # closed under us: what we want
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408") and error_of(answer)[1]["code"] == 20001


def test_an_oversized_connect_head_is_answered_431(proxied: Proxied) -> None:
    head = CONNECT[:-2] + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    with proxy_socket(proxied) as sock:
        try:
            sock.sendall(head)
        except OSError:
            pass
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431") and "8192" in error_of(answer)[1]["message"]


def test_beyond_the_connection_limit_a_connect_is_refused_503(
    proxied: Proxied, account: Account
) -> None:
    idle = [proxy_socket(proxied) for _ in range(MAX_CONNECTIONS)]
    try:
        status, body = error_of(ask(proxied, CONNECT))
        assert (status, body["code"]) == (503, 20503)
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 15
    while True:  # the server notices the closed connections as it reads them
        with proxy_socket(proxied) as sock:
            sock.sendall(CONNECT)
            if sock.recv(len(ESTABLISHED)) == ESTABLISHED:
                break
        assert time.monotonic() < deadline, "the proxy still refuses after the connections closed"
        time.sleep(0.05)
    still_serves(proxied, account)


# -- the CA -------------------------------------------------------------------------------------
def test_the_ca_is_made_once_its_key_kept_private(proxied: Proxied, tmp_path: Path) -> None:
    ca_path = Path(proxied.ca)
    key_path = ca_path.parent / "ca-key.pem"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate(ca_path.read_bytes())
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE KEY" not in ca_path.read_bytes()

    # A second server on the same directory (a restart) keeps the CA clients already trust.
    directory = tmp_path / "ca"
    first = CertificateAuthority(directory).certificate_path.read_bytes()
    assert CertificateAuthority(directory).certificate_path.read_bytes() == first
    (directory / "ca-key.pem").chmod(0o644)
    with pytest.raises(CertificateAuthorityError, match="readable by others"):
        CertificateAuthority(directory)

    # Where it lives: beside a SQLite file; nowhere to put it for PostgreSQL (--proxy-ca then).
    assert ca_directory(str(tmp_path / "x.sqlite3"), None) == tmp_path / CA_DIRECTORY
    assert ca_directory("postgresql://user@db/fake", None) is None
    assert ca_directory("postgresql://user@db/fake", str(directory)) == directory


def test_an_in_memory_fake_keeps_its_ca_in_a_temporary_directory(tmp_path: Path) -> None:
    server = serve(":memory:", env={"TWILIO_FAKE_PROXY_PORT": "0"})  # the variable, this time
    try:
        match = PROXY_LINE.search(server.output_so_far())
        assert match
        ca = Path(match.group(2))
        assert ca.is_file() and not ca.is_relative_to(ROOT)
    finally:
        output = server.stop()
    assert not ca.parent.exists(), output


def test_a_busy_proxy_port_is_one_line(proxied: Proxied, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twilio_fake", "--port", "0", "--database", ":memory:",
         "--proxy-port", str(proxied.port)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"twilio-fake: cannot listen on 127.0.0.1:{proxied.port} (--proxy-port): "
        "Address already in use"
    ]
