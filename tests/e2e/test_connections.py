"""The connection below the app: idle, trickling and oversized heads, and what is not HTTP."""

from __future__ import annotations

import base64
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import ACCOUNT, SERVICE, TOKEN, Server, pool_path, scale, serve, survived


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"TWILIO_FAKE_HEAD_TIMEOUT": "0.5", "TWILIO_FAKE_MAX_HEAD_BYTES": "8192"}
    with serve(tmp_path_factory.mktemp("edges") / "fake.sqlite3", env=env) as server:
        yield server
        assert "Traceback" not in server.output_so_far()


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def error_of(answer: bytes) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    return json.loads(body)


def test_idle_connections_are_closed_before_their_first_request(strict_server: Server) -> None:
    idle = [connect(strict_server) for _ in range(scale(50, 900))]  # under 1,024 open files
    for sock in idle:  # each read waits for the server to close it (the socket's 5 s deadline)
        assert read_all(sock) == b""  # closed by the server, nothing to answer
        sock.close()
    survived["idle connections closed"] += len(idle)
    assert requests.get(f"{strict_server.url}/_fake/health", timeout=5).status_code == 200


def test_a_trickling_head_is_answered_408_and_closed(strict_server: Server) -> None:
    sock = connect(strict_server)
    try:
        for byte in b"GET /_fake/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ":
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
    except OSError:
        pass  # the server closed the connection under us: what we want
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408") and error_of(answer)["status"] == 408


def test_an_oversized_head_is_answered_431(strict_server: Server) -> None:
    sock = connect(strict_server)
    head = b"GET /_fake/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    try:
        sock.sendall(head)
    except OSError:
        pass
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431")
    assert "8192" in error_of(answer)["message"]
    assert requests.get(f"{strict_server.url}/_fake/health", timeout=5).status_code == 200


def test_an_oversized_head_is_431_on_a_reused_connection_too(strict_server: Server) -> None:
    """The limit holds for every request of a connection, not only its first."""
    sock = connect(strict_server)
    sock.sendall(b"GET /_fake/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = b""
    while b"}" not in first:  # the answer's JSON body ends it
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    head = b"GET /_fake/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000
    try:
        sock.sendall(head + b"\r\n\r\n")
    except OSError:
        pass
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]


def test_body_bytes_in_the_same_read_as_the_head_do_not_count_as_head(
    strict_server: Server,
) -> None:
    """A 3 KB head and a 6 KB body sent at once (the head limit is 8 KB, the body's 64 KB)."""
    body = b"PhoneNumberSid=" + b"P" * 6000
    head = (
        f"POST {pool_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {'p' * 3000}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = connect(strict_server)
    sock.sendall(head + body)
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:100]  # no credentials: the app's answer


def test_what_is_not_http_gets_twilios_error_body(strict_server: Server) -> None:
    sock = connect(strict_server)
    sock.sendall(b"HELLO THERE\r\n\r\n")
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400") and error_of(answer)["code"] == 20001


@pytest.mark.parametrize(
    ("path", "cors"),
    [("/v1/Services/MG1/PhoneNumbers", True), ("/_fake/reset", False), ("/%5Ffake/reset", False)],
)
def test_a_head_uvicorn_refuses_still_has_the_contracts_headers(
    strict_server: Server, path: str, cors: bool
) -> None:
    """A header httptools cannot parse (schemathesis sends such): the 400 has a request id, and
    CORS approval only off the control surface, as every other answer."""
    sock = connect(strict_server)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: hV\r\n\r\n".encode()
    )
    answer = read_all(sock)
    sock.close()
    head = answer.partition(b"\r\n\r\n")[0].decode().lower()
    assert answer.startswith(b"HTTP/1.1 400") and error_of(answer)["code"] == 20001
    assert "\r\ntwilio-request-id: rq" in head
    assert ("\r\naccess-control-allow-origin: *" in head) is cors


@pytest.mark.parametrize(
    "hosts",
    [("127.0.0.1", "evil.example"), ("evil.example", "127.0.0.1"), ("127.0.0.1", "127.0.0.1")],
    ids=["allowed first", "allowed last", "the same twice"],
)
def test_two_host_headers_are_answered_400(strict_server: Server, hosts: tuple[str, str]) -> None:
    """RFC 9112, 3.2: more than one Host is a 400 (the check read one, the URLs the other)."""
    sock = connect(strict_server)
    head = "GET / HTTP/1.1\r\n" + "".join(f"Host: {host}\r\n" for host in hosts)
    sock.sendall(head.encode() + b"Connection: close\r\n\r\n")
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer
    error = error_of(answer)
    assert (error["status"], error["code"]) == (400, 20001)
    assert b"evil.example" not in answer


def test_keep_alive_requests_still_work_after_the_deadline(strict_server: Server) -> None:
    """The head deadline restarts with each request on a kept-alive connection."""
    with requests.Session() as session:
        for _ in range(3):
            assert session.get(f"{strict_server.url}/_fake/health", timeout=5).status_code == 200
            time.sleep(0.3)


def test_beyond_the_connection_limit_requests_are_refused_with_503(tmp_path: Path) -> None:
    env = {"TWILIO_FAKE_MAX_CONNECTIONS": "20", "TWILIO_FAKE_HEAD_TIMEOUT": "30"}
    with serve(tmp_path / "fake.sqlite3", env=env) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(25)]
        try:
            response = requests.get(f"{server.url}/_fake/health", timeout=5)
            assert response.status_code == 503
        finally:
            for sock in idle:
                sock.close()
        # The server sees the closes in its own time: poll, with a deadline.
        deadline = time.monotonic() + 30
        while (status := requests.get(f"{server.url}/_fake/health", timeout=5).status_code) == 503:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# Requests whose bodies trickle in after (or while) they are answered: a GET that declares a
# body its route never reads, a POST answered 401 before its body is read, and a POST whose body
# is too slow (answered 408).
SLOW_BODY_HEADS = {
    "GET with a body": (
        "GET /_fake/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n\r\n"
    ),
    "POST answered 401": (
        f"POST {pool_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n"
    ),
    "POST answered 408": (
        f"POST {pool_path(SERVICE)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {_basic(ACCOUNT, TOKEN)}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n"
    ),
}


def test_connections_whose_bodies_trickle_are_closed_and_others_are_served(
    tmp_path: Path,
) -> None:
    """As many slow bodies as the server takes connections, each fed a byte at a time: each
    connection is closed once answered (or once its body is late), and new requests are
    served again while the slow clients go on sending."""
    limit = 12
    env = {
        "TWILIO_FAKE_MAX_CONNECTIONS": str(limit),
        "TWILIO_FAKE_BODY_TIMEOUT": "1",
        "TWILIO_FAKE_HEAD_TIMEOUT": "30",
        "TWILIO_FAKE_KEEP_ALIVE": "30",
    }
    with serve(tmp_path / "fake.sqlite3", env=env) as server:
        heads = list(SLOW_BODY_HEADS.values())
        slow = {}
        for n in range(limit):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(heads[n % len(heads)].encode())
            slow[sock] = b""
        open_ = set(slow)
        served = False
        deadline = time.monotonic() + 30
        while (open_ or not served) and time.monotonic() < deadline:
            for sock in list(open_):  # a byte of body each, as a slow client sends
                try:
                    sock.sendall(b"P")
                except OSError:
                    open_.discard(sock)
            readable, _, _ = select.select(list(open_), [], [], 0.25)
            for sock in readable:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    chunk = b""
                slow[sock] += chunk
                if not chunk:
                    open_.discard(sock)
            if not served:
                try:
                    health = requests.get(f"{server.url}/_fake/health", timeout=5)
                    served = health.status_code == 200
                except requests.RequestException:
                    pass
        for sock in slow:
            sock.close()
        assert not open_, f"{len(open_)} of {limit} slow connections still open"
        assert served
        statuses = sorted({answer[9:12].decode() for answer in slow.values()})
        assert statuses == ["200", "401", "408"], statuses
        assert "Traceback" not in server.output_so_far()
        survived["connections with trickling bodies closed"] += limit


def test_a_body_the_app_does_not_read_in_time_is_answered_408_by_the_connection(
    tmp_path: Path,
) -> None:
    """The body's deadline holds while the app is busy elsewhere (here, a delayed answer that
    never reads the body): the connection answers 408 and closes before the app would answer."""
    env = {"TWILIO_FAKE_BODY_TIMEOUT": "1"}
    with serve(tmp_path / "fake.sqlite3", env=env) as server:
        fault = {"operation": "ListPhoneNumber", "delay": 8}
        armed = requests.post(f"{server.url}/_fake/faults", json=fault, timeout=5)
        assert armed.status_code == 201, armed.text
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(
            f"GET {pool_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {_basic(ACCOUNT, TOKEN)}\r\nContent-Length: 100\r\n\r\n".encode()
        )
        answer = read_all(sock)  # within the socket's 30 s, or it raises
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert error_of(answer)["status"] == 408
        assert "Traceback" not in server.output_so_far()
