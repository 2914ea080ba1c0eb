"""Hostile and broken input: each gets a Twilio-shaped 4xx, changes nothing, and is logged."""

from __future__ import annotations

import base64
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    AUTH,
    KEY,
    NUMBERS,
    OTHER_ACCOUNT,
    OTHER_TOKEN,
    SERVICE,
    Server,
    app_for,
    assert_error,
    pool_path,
    serve,
    survived,
)
from twilio_fake import spec

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GOOD_BODY = f"PhoneNumberSid={NUMBERS[0]}"


@pytest.fixture
def checked(client, caplog) -> Iterator:
    """The client; afterwards, check that the pool is untouched and every request was logged."""
    caplog.set_level(logging.INFO, logger="twilio_fake.requests")
    yield client
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"] == []
    lines = [r.getMessage() for r in caplog.get_records("call") if r.name == "twilio_fake.requests"]
    assert lines and all(line.startswith("RQ") for line in lines)
    assert any(" 4" in line for line in lines)  # the refusals are there, with their status
    survived["hostile inputs refused"] += len(lines)


# -- bodies -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ("x" * 70_000, FORM, 413, 20001),  # over the size limit, declared in Content-Length
        ("", FORM, 400, 20001),  # empty
        # A value that is no SID is looked up and found wanting, as Twilio does (21421).
        ("PhoneNumberSid=%FF%FE", FORM, 400, 21421),  # invalid UTF-8, percent-encoded
        (b"PhoneNumberSid=PN\xff\xfe", FORM, 400, 21421),  # invalid UTF-8, raw
        ("PhoneNumberSid=%ZZ%", FORM, 400, 21421),  # broken percent-encoding
        ("PhoneNumberSid", FORM, 400, 21421),  # a key without a value
        (f"PhoneNumberSid={'P' * 60_000}", FORM, 400, 21421),  # long, under the body limit
        (f"{GOOD_BODY}&PhoneNumberSid={NUMBERS[1]}", FORM, 400, 20001),  # repeated key
        (f"{GOOD_BODY}&PhoneNumberSid={NUMBERS[0]}", FORM, 400, 20001),  # repeated, same value
        # Not a form: read as no parameters, as Twilio reads it (PhoneNumberSid missing).
        (GOOD_BODY, {}, 400, 20001),  # no content type
        (GOOD_BODY, {"Content-Type": "application/json"}, 400, 20001),  # wrong content type
        (GOOD_BODY, {"Content-Type": "multipart/form-data; boundary=x"}, 400, 20001),
        ('{"PhoneNumberSid": 1}', {"Content-Type": "application/json"}, 400, 20001),
        ("x" * 70_000, {"Content-Type": "application/json"}, 413, 20001),  # still bounded
    ],
)
def test_bad_bodies(checked, body, headers, status, code) -> None:
    response = checked.post(pool_path(), content=body, headers=headers, auth=AUTH)
    body = assert_error(response, status, code)
    assert len(response.content) < 1000  # a long value is not echoed whole


def test_an_oversized_body_without_a_length_is_413(checked) -> None:
    def chunks() -> Iterator[bytes]:  # sent chunked: the server must count as it reads
        for _ in range(20):
            yield b"x" * 8192

    response = checked.post(pool_path(), content=chunks(), headers=FORM, auth=AUTH)
    assert_error(response, 413, 20001)


def test_repeated_query_parameters_are_400(checked) -> None:
    response = checked.get(pool_path() + "?PageSize=1&PageSize=1000", auth=AUTH)
    assert "PageSize" in assert_error(response, 400, 20001)["message"]


@pytest.mark.parametrize("path", [pool_path(), "/_fake/health", "/"])
def test_a_query_string_of_too_many_parameters_is_400_before_anything_is_read(
    checked, path
) -> None:
    """Reading a query costs the square of its parameters (connexion lists each key's values
    by scanning them all): 1,000 took 169 ms of the server's one thread, 10,500 seventeen
    seconds, stalling every other client, with or without credentials."""
    limit = spec.limit("query-parameters")
    most = "&".join(f"k{i}=" for i in range(limit))
    assert checked.get(f"{path}?{most}&&&", auth=AUTH).status_code == 200  # empty ones are none
    response = checked.get(f"{path}?{most}&one=more")
    assert f"more than {limit} parameters" in assert_error(response, 400, 20001)["message"]


# -- credentials ------------------------------------------------------------------------------
def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Digest username=x"},  # not Basic
        {"Authorization": "Basic !!!not-base64!!!"},  # bad base64
        {"Authorization": "Basic"},  # nothing after the scheme
        basic(b"no-colon-here"),  # no colon
        basic(f"{AUTH[0]}:{AUTH[1]}".encode() + b"x" * 8000),  # huge
        basic(b"\xff\xfe:\xff"),  # not UTF-8
        basic(b":"),  # empty user and password
        basic(f"AC{'e' * 32}:{AUTH[1]}".encode()),  # unknown account
        basic(f"{KEY[:-1]}2:demo-disabled-key-secret".encode()),  # a disabled key
        basic(f"{OTHER_ACCOUNT}:{AUTH[1]}".encode()),  # another account's SID, our token
        basic(f"{AUTH[0]}:{OTHER_TOKEN}".encode()),  # our SID, another account's token
    ],
)
def test_malformed_or_wrong_credentials_are_401(checked, headers) -> None:
    response = checked.post(pool_path(), content=GOOD_BODY, headers={**FORM, **headers})
    assert_error(response, 401, 20003)


# -- path and query parameters ----------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/v1/Services/..%2F..%2Fetc%2Fpasswd/PhoneNumbers",  # traversal, encoded
        "/v1/Services/%2E%2E/PhoneNumbers",
        f"/v1/Services/{SERVICE}/PhoneNumbers/..%2F{NUMBERS[0]}",
        f"/v1/Services/{SERVICE}%2F..%2F/PhoneNumbers",  # encoded slashes
        "/v1/Services/MG'%20OR%20'1'%3D'1/PhoneNumbers",  # SQL
        f"/v1/Services/{SERVICE}/PhoneNumbers/PN0'%3BDROP%20TABLE%20pool_entries--",
        f"/v1/Services/{SERVICE[:-1]}%00/PhoneNumbers",  # NUL byte
        "/v1/Services/AC00000000000000000000000000000001/PhoneNumbers",  # wrong prefix
        f"/v1/Services/{SERVICE}0/PhoneNumbers",  # too long
        f"/v1/Services/{SERVICE[:-1]}/PhoneNumbers",  # too short
        f"/v1/Services/{SERVICE}/PhoneNumbers/{NUMBERS[0].lower()}",  # lower-case prefix
        f"/v1/Services/{SERVICE}/PhoneNumbers/{'PN' + 'é' * 32}",  # non-ASCII
    ],
)
def test_hostile_paths_are_4xx(checked, path) -> None:
    codes = {400: 20001, 404: 20404, 405: 20004}  # 405: DELETE on the list, POST on an entry
    for method in ("GET", "DELETE", "POST"):
        response = checked.request(method, path, content=GOOD_BODY, headers=FORM, auth=AUTH)
        assert response.status_code in codes, response.text
        assert_error(response, response.status_code, codes[response.status_code])


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("PageSize=0", 20001),
        ("PageSize=-5", 20001),
        ("PageSize=" + "9" * 5000, 20001),  # past Python's limit on converting digits
        ("PageSize=abc", 20001),
        ("PageSize=1.5", 20001),
        ("PageSize=", 20001),
        ("Page=-1", 20001),
        ("Page=1e3", 20001),
        ("PageToken=PAeyJzIjoiTUcxIiwicCI6MSwiayI6MX0.AAAA", 21481),  # forged
        ("PageToken=PAeyJzIjoiTUcx", 21481),  # truncated
        ("PageToken=" + "A" * 600, 21481),  # long
        ("PageToken=%00", 21481),
    ],
)
def test_hostile_paging_parameters_are_400(checked, query, code) -> None:
    assert_error(checked.get(f"{pool_path()}?{query}", auth=AUTH), 400, code)


# -- nothing injected into what the server echoes ---------------------------------------------
def test_crlf_in_the_path_cannot_inject_headers(checked) -> None:
    response = checked.get(
        "/v1/Services/MG%0D%0ASet-Cookie:%20stolen=1%0D%0A/PhoneNumbers", auth=AUTH
    )
    assert_error(response, 404, 20404)
    assert "set-cookie" not in response.headers
    assert all("\r" not in v and "\n" not in v for v in response.headers.values())


def test_a_strange_host_header_is_not_echoed_into_urls(client, backend) -> None:
    headers = {**FORM, "Host": "evil.example/<script>"}
    refused = client.post(pool_path(), content=GOOD_BODY, headers=headers, auth=AUTH)
    assert_error(refused, 403, 20403)  # bound to loopback: not a Host it serves
    assert "evil" not in refused.text
    with app_for(backend, allowed_hosts="*").test_client() as any_host:
        response = any_host.post(pool_path(), content=GOOD_BODY, headers=headers, auth=AUTH)
    assert response.status_code == 201
    assert response.json()["url"].startswith("http://testserver")
    assert "evil" not in response.text


# -- slow and truncated bodies, on a real server ----------------------------------------------
@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory) -> Iterator[Server]:
    server = serve(
        tmp_path_factory.mktemp("slow") / "slow.sqlite3",
        env={"TWILIO_FAKE_BODY_TIMEOUT": "0.5"},
    )
    yield server
    output = server.stop()
    assert "Traceback" not in output, output


def raw_create(
    server: Server, body: bytes, declared_length: int, *, pause: float, close: bool
) -> bytes:
    """Send a create whose body is short of its Content-Length; return the raw response."""
    credentials = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    head = (
        f"POST {pool_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {credentials}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {declared_length}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        time.sleep(pause)
        if close:
            sock.shutdown(socket.SHUT_WR)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
            if b"\r\n\r\n" in response and response.endswith(b"}"):
                break
    return response


def test_a_slow_body_is_408(impatient_server: Server) -> None:  # runs before the truncated one
    response = raw_create(impatient_server, b"PhoneNumberSid=PN", 49, pause=1.0, close=False)
    assert response.startswith(b"HTTP/1.1 408 "), response
    assert b'"code": 20001' in response and b"0.5 seconds" in response


def test_a_truncated_body_is_refused_as_400(impatient_server: Server) -> None:
    # A client that closes its side mid-body has gone: uvicorn sends it nothing. The server
    # must still treat it as the client's mistake (a logged 400), not as its own failure.
    def posts() -> list[str]:
        return [line for line in impatient_server.output_so_far().splitlines() if " POST " in line]

    before = len(posts())
    response = raw_create(impatient_server, b"PhoneNumberSid=PN", 49, pause=0.1, close=True)
    assert response == b""
    deadline = time.monotonic() + 5
    while len(posts()) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    line = posts()[-1]
    assert " 400 " in line, line


def exchange(server: Server, request: bytes) -> bytes:
    """Send raw bytes; the answer, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return response


def logged_since(server: Server, mark: int, wanted: str) -> list[str]:
    """The server's lines since `mark`, once one holds `wanted` (10 s at most)."""
    deadline = time.monotonic() + 10
    while not any(wanted in line for line in server.output_so_far()[mark:].splitlines()):
        assert time.monotonic() < deadline, server.output_so_far()[mark:]
        time.sleep(0.05)
    return server.output_so_far()[mark:].splitlines()


SERVICE_PATH = f"/v1/Services/{SERVICE}"


@pytest.mark.parametrize(
    "upgrade",
    [
        b"GET /v1/Services HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        # curl --http2 on an http:// URL: the body would be lost if the request ran
        b"POST " + SERVICE_PATH.encode() + b" HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 22\r\n",
    ],
    ids=["websocket", "h2c with a body"],
)
def test_a_request_to_switch_protocols_is_refused_and_logged(
    impatient_server: Server, upgrade: bytes
) -> None:
    """The fake switches to nothing. uvicorn answered a WebSocket upgrade itself (a bare 403 in
    plain text, no log line) and ran an h2c one without its body; both are a Twilio-shaped 400
    now, the connection closed, and uvicorn's advice to install a WebSocket library unlogged."""
    import requests

    credentials = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode())
    before = requests.get(impatient_server.url + SERVICE_PATH, auth=AUTH, timeout=5).json()
    mark = len(impatient_server.output_so_far())
    head = upgrade + b"Host: 127.0.0.1\r\nAuthorization: Basic " + credentials + b"\r\n\r\n"
    response = exchange(impatient_server, head + b"FriendlyName=switched")
    assert response.startswith(b"HTTP/1.1 400 "), response
    assert b"twilio-request-id: rq" in response.lower() and b"connection: close" in response.lower()
    assert b'"code": 20001' in response and b"does not switch protocols" in response
    method = upgrade.split(b" ")[0].decode()
    lines = logged_since(impatient_server, mark, f" {method} ")
    assert any(" 400 " in line for line in lines), lines
    assert not any("WebSocket" in line or "Unsupported upgrade" in line for line in lines), lines
    after = requests.get(impatient_server.url + SERVICE_PATH, auth=AUTH, timeout=5).json()
    assert after == before


def test_a_body_not_a_form_cut_short_is_no_request(impatient_server: Server) -> None:
    """A body that is not a form is read as no parameters, but read whole first: a client that
    leaves before its end has sent nothing to act on, as with a form cut short (a 400 in the
    log, the service unchanged). Before, the update ran with no parameters."""
    import requests

    credentials = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    before = requests.get(impatient_server.url + SERVICE_PATH, auth=AUTH, timeout=5).json()
    mark = len(impatient_server.output_so_far())
    head = (
        f"POST {SERVICE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {credentials}"
        "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", impatient_server.port), timeout=10) as sock:
        sock.sendall(head + b'{"FriendlyName"')
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    lines = logged_since(impatient_server, mark, f" POST {SERVICE_PATH} ")
    assert any(f" POST {SERVICE_PATH} 400 " in line for line in lines), lines
    after = requests.get(impatient_server.url + SERVICE_PATH, auth=AUTH, timeout=5).json()
    assert after == before


def test_the_server_is_unharmed_afterwards(impatient_server: Server, tmp_path: Path) -> None:
    import requests

    response = requests.get(impatient_server.url + pool_path(), auth=AUTH, timeout=5)
    assert response.status_code == 200 and response.json()["phone_numbers"] == []
