"""Security: credentials never leak into logs or responses; accounts never see each other's data."""

from __future__ import annotations

import base64
import re
import socket
from pathlib import Path

import pytest
import requests

from tests.support import (
    AUTH,
    KEY,
    NUMBERS,
    OTHER_ACCOUNT,
    OTHER_NUMBER,
    OTHER_SERVICE,
    OTHER_TOKEN,
    SERVICE,
    SERVICE2,
    add,
    assert_error,
    pool_path,
    serve,
)
from twilio_fake.cli import parse_args
from twilio_fake.config import Settings

# The demo's credentials are public: `make run` prints them on purpose. This test serves a
# fixture file with the same SIDs and secrets of its own, which nothing may ever print.
TOKEN, SECRET, OTHER, DISABLED = (
    f"s3cret-{name}-7f3a9c" for name in ("token", "key", "other", "off")
)
SECRETS = [TOKEN, SECRET, OTHER, DISABLED]
FIXTURE = f"""
accounts:
  - sid: {AUTH[0]}
    auth_token: {TOKEN}
    api_keys:
      - {{sid: {KEY}, secret: {SECRET}}}
      - {{sid: {KEY[:-1]}2, secret: {DISABLED}, disabled: true}}
    services: [{{sid: {SERVICE}}}]
    incoming_phone_numbers: [{{sid: {NUMBERS[0]}, phone_number: "+14155550100"}}]
  - sid: {OTHER_ACCOUNT}
    auth_token: {OTHER}
"""


@pytest.mark.e2e
def test_no_credential_ever_reaches_the_log_or_a_response(tmp_path: Path) -> None:
    (tmp_path / "fixtures.yaml").write_text(FIXTURE)
    server = serve(tmp_path / "logs.sqlite3", "--fixtures", str(tmp_path / "fixtures.yaml"))
    auth, other = (AUTH[0], TOKEN), (OTHER_ACCOUNT, OTHER)
    bodies = []
    try:
        with requests.Session() as session:
            calls = [
                ("POST", pool_path(), {"PhoneNumberSid": NUMBERS[0]}, auth),
                ("GET", pool_path(), None, auth),
                ("GET", pool_path(), None, (KEY, SECRET)),
                ("GET", pool_path(sid=NUMBERS[0]), None, other),
                ("GET", pool_path(), None, (AUTH[0], OTHER)),  # someone else's secret
                ("GET", pool_path(), None, (KEY[:-1] + "2", DISABLED)),
                ("POST", pool_path(), {"PhoneNumberSid": TOKEN}, auth),  # a token as a value
                ("GET", f"{pool_path()}?PageToken={SECRET}", None, auth),  # ...in the query
                ("DELETE", pool_path(sid=NUMBERS[0]), None, auth),
            ]
            for method, path, data, auth in calls:
                response = session.request(
                    method, server.url + path, data=data, auth=auth, timeout=5
                )
                bodies.append(response.text + str(response.headers))
    finally:
        log = server.stop()
    lines = log.splitlines()
    request_lines = [ln for ln in lines if "twilio_fake.requests" in ln and " /v1/" in ln]
    assert len(request_lines) == len(calls)
    for line, (method, path, _, _) in zip(request_lines, calls, strict=True):
        assert re.search(
            rf"RQ[0-9a-f]{{32}} {method} {re.escape(path.split('?')[0])} \d{{3}} ", line
        )
    assert f"account={AUTH[0]}" in request_lines[0]
    assert request_lines[4].endswith("account=-")  # refused credentials: no account
    # Basic credentials travel base64-encoded: look for them in that form too.
    encoded = [
        base64.b64encode(f"{user}:{password}".encode()).decode() for *_, (user, password) in calls
    ]
    for secret in SECRETS + encoded:
        assert secret not in log
        # A secret sent as a parameter value is echoed in the error; credentials never are.
        assert all(secret not in body for body in bodies[:6] + bodies[8:])


OPERATIONS = [
    ("fetch", "GET", pool_path(SERVICE, NUMBERS[0]), None),
    ("delete", "DELETE", pool_path(SERVICE, NUMBERS[0]), None),
    ("list", "GET", pool_path(SERVICE), None),
    ("create", "POST", pool_path(SERVICE), {"PhoneNumberSid": OTHER_NUMBER}),
    ("create-theirs", "POST", pool_path(SERVICE), {"PhoneNumberSid": NUMBERS[1]}),
    ("fetch-other-service", "GET", pool_path(SERVICE2, NUMBERS[0]), None),
    ("list-other-service", "GET", pool_path(SERVICE2), None),
    ("list-token", "GET", f"{pool_path(SERVICE)}?PageSize=1", None),
]


def test_the_databases_password_is_never_printed_nor_answered(postgres) -> None:
    """The banner, the log and /_fake/health name the database without its password (the
    throwaway server trusts any password, so the fake connects with this one)."""
    url = postgres.create_database().replace("postgres@", "postgres:s3cret-pw@")
    server = serve(url)
    try:
        health = requests.get(f"{server.url}/_fake/health", timeout=5)
        assert health.status_code == 200 and ":***@" in health.json()["database"]
        assert "s3cret-pw" not in health.text
    finally:
        output = server.stop()
    assert "postgres:***@" in output and "s3cret-pw" not in output


@pytest.mark.parametrize(
    ("name", "method", "path", "data"), OPERATIONS, ids=[o[0] for o in OPERATIONS]
)
def test_another_account_gets_404_for_everything_and_changes_nothing(
    client, name, method, path, data
):
    for number in NUMBERS[:2]:
        add(client, number)
    before = client.get(pool_path(), auth=AUTH).json()
    response = client.request(method, path, data=data, auth=(OTHER_ACCOUNT, OTHER_TOKEN))
    assert_error(response, 404, 20404)
    assert AUTH[0] not in response.text and "+1415555010" not in response.text
    assert client.get(pool_path(), auth=AUTH).json() == before


def test_a_page_token_of_one_account_is_useless_to_another(client) -> None:
    for number in NUMBERS[:2]:
        add(client, number)
    next_url = client.get(pool_path(), params={"PageSize": 1}, auth=AUTH).json()["meta"][
        "next_page_url"
    ]
    token = next_url.split("PageToken=")[1]
    theirs = client.get(
        pool_path(OTHER_SERVICE), params={"PageToken": token}, auth=(OTHER_ACCOUNT, OTHER_TOKEN)
    )
    assert_error(theirs, 400, 21481)
    assert client.get(next_url, auth=(OTHER_ACCOUNT, OTHER_TOKEN)).status_code == 404


def test_the_first_account_cannot_reach_the_seconds_either(client) -> None:
    other = (OTHER_ACCOUNT, OTHER_TOKEN)
    assert add(client, OTHER_NUMBER, service=OTHER_SERVICE, auth=other).status_code == 201
    for method, path in [
        ("GET", pool_path(OTHER_SERVICE)),
        ("GET", pool_path(OTHER_SERVICE, OTHER_NUMBER)),
        ("DELETE", pool_path(OTHER_SERVICE, OTHER_NUMBER)),
    ]:
        assert_error(client.request(method, path, auth=AUTH), 404, 20404)
    assert len(client.get(pool_path(OTHER_SERVICE), auth=other).json()["phone_numbers"]) == 1


def test_the_server_binds_to_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    assert Settings().host == "127.0.0.1"
    assert Settings.from_env({}, **vars(parse_args([]))).host == "127.0.0.1"
    assert Settings.from_env({"TWILIO_FAKE_HOST": "0.0.0.0"}).host == "0.0.0.0"
    server = serve(tmp_path / "bind.sqlite3")
    try:
        with socket.socket() as sock:
            sock.connect(("127.0.0.1", server.port))
        listening = Path("/proc/net/tcp").read_text()
        port = f":{server.port:04X} "
        # The listening socket only (state 0A): the connection just made, and what is left of
        # it once closed, have the same local address and would be counted twice.
        [local] = [
            line.split()[1]
            for line in listening.splitlines()[1:]
            if line.split()[1].endswith(port.strip()) and line.split()[3] == "0A"
        ]
        assert local.startswith("0100007F:")  # 127.0.0.1, not 0.0.0.0
    finally:
        server.stop()
