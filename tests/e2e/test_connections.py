"""The connection below the app: idle, trickling and oversized heads, and what is not HTTP."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import Server, scale, serve, survived


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
