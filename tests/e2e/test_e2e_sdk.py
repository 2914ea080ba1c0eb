"""End to end: the official twilio SDK drives a real server process on a free port."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.support import (
    ACCOUNT,
    KEY,
    KEY_SECRET,
    NUMBERS,
    OTHER_NUMBER,
    OTHER_SERVICE,
    ROOT,
    SERVICE,
    SERVICE2,
    TOKEN,
    Server,
    raises,
    sdk,
    serve,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve(tmp_path_factory.mktemp("e2e") / "fake.sqlite3")
    yield server
    server.stop()


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Client:
    """An SDK client on the fake, which starts every test from the demo fixtures."""
    monkeypatch.delenv("TWILIO_EDGE", raising=False)  # they would rewrite the host name
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    requests.post(f"{server.url}/_fake/reset", timeout=5).raise_for_status()
    return sdk(server, ACCOUNT, TOKEN)


def list_raises(status: int, code: int):
    """Expect a failed list call: the SDK raises TwilioException("Unable to fetch page", response).

    That is twilio-python's behaviour against Twilio itself: pages are not read as errors.
    """

    def matches(error: TwilioException) -> bool:
        response = error.args[1]
        return (response.status_code, json.loads(response.text)["code"]) == (status, code)

    return pytest.raises(TwilioException, check=matches)


def test_create_fetch_delete(client: Client) -> None:
    pool = client.messaging.v1.services(SERVICE).phone_numbers
    created = pool.create(phone_number_sid=NUMBERS[2])
    assert created.sid == NUMBERS[2]
    assert created.account_sid == ACCOUNT
    assert created.service_sid == SERVICE
    assert created.phone_number == "+442071838750"
    assert created.country_code == "GB"
    assert created.capabilities == ["SMS", "Voice"]
    assert created.date_created is not None and created.date_created.tzinfo is not None
    assert created.url.startswith(client.messaging.base_url + "/v1/Services/")

    fetched = client.messaging.v1.services(SERVICE).phone_numbers(NUMBERS[2]).fetch()
    assert (fetched.sid, fetched.phone_number, fetched.date_created) == (
        created.sid,
        created.phone_number,
        created.date_created,
    )

    assert client.messaging.v1.services(SERVICE).phone_numbers(NUMBERS[2]).delete() is True
    with raises(404, 20404):
        client.messaging.v1.services(SERVICE).phone_numbers(NUMBERS[2]).fetch()
    with raises(404, 20404):
        client.messaging.v1.services(SERVICE).phone_numbers(NUMBERS[2]).delete()


def test_list_stream_and_pages_follow_the_fakes_own_urls(client: Client, server: Server) -> None:
    pool = client.messaging.v1.services(SERVICE).phone_numbers
    for number in NUMBERS:
        pool.create(phone_number_sid=number)
    assert [n.sid for n in pool.list()] == NUMBERS
    assert [n.sid for n in pool.list(page_size=2)] == NUMBERS  # three pages, walked by the SDK
    assert [n.sid for n in pool.stream(page_size=1)] == NUMBERS
    assert [n.sid for n in pool.list(limit=3, page_size=2)] == NUMBERS[:3]

    first = pool.page(page_size=2)
    assert [n.sid for n in first] == NUMBERS[:2]
    assert first.next_page_url.startswith(server.url)
    second = first.next_page()
    assert [n.sid for n in second] == NUMBERS[2:4]
    assert [n.sid for n in second.previous_page()] == NUMBERS[:2]
    third = second.next_page()
    assert [n.sid for n in third] == NUMBERS[4:]
    assert third.next_page() is None


def test_api_key_credentials(client: Client, server: Server) -> None:
    keyed = sdk(server, KEY, KEY_SECRET, ACCOUNT)
    created = keyed.messaging.v1.services(SERVICE).phone_numbers.create(phone_number_sid=NUMBERS[0])
    assert created.account_sid == ACCOUNT


def test_rule_errors_reach_the_sdk_with_twilios_codes(client: Client) -> None:
    pool = client.messaging.v1.services(SERVICE).phone_numbers
    pool.create(phone_number_sid=NUMBERS[0])
    with raises(409, 21710):
        pool.create(phone_number_sid=NUMBERS[0])
    with raises(409, 21712):
        client.messaging.v1.services(SERVICE2).phone_numbers.create(phone_number_sid=NUMBERS[0])
    with raises(400, 21421):
        pool.create(phone_number_sid=OTHER_NUMBER)
    with list_raises(404, 20404):
        client.messaging.v1.services(OTHER_SERVICE).phone_numbers.list()
    with raises(400, 21421):  # malformed: no pattern in the contract, as in Twilio's
        pool.create(phone_number_sid="PN123")
    with raises(404, 20404):  # a malformed SID in the path names nothing
        pool("PN123").fetch()


@pytest.mark.parametrize("password", ["wrong-token", ""])
def test_wrong_credentials_are_20003(client: Client, server: Server, password: str) -> None:
    pool = sdk(server, ACCOUNT, password).messaging.v1.services(SERVICE).phone_numbers
    with raises(401, 20003):
        pool.create(phone_number_sid=NUMBERS[0])
    with list_raises(401, 20003):
        pool.list()


def test_error_details_are_readable_from_the_exception(client: Client) -> None:
    pool = client.messaging.v1.services(SERVICE).phone_numbers
    with pytest.raises(TwilioRestException) as caught:
        pool(NUMBERS[1]).fetch()
    assert caught.value.msg.endswith(  # the SDK puts "Unable to fetch record: " in front
        f"The requested resource /Services/{SERVICE}/PhoneNumbers/{NUMBERS[1]} was not found"
    )


def test_state_survives_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "durable.sqlite3"
    first = serve(database)
    try:
        sdk(first, ACCOUNT, TOKEN).messaging.v1.services(SERVICE).phone_numbers.create(
            phone_number_sid=NUMBERS[3]
        )
    finally:
        output = first.stop()
    assert first.process.returncode == 0, output  # SIGTERM is a clean shutdown
    second = serve(database)
    try:
        fetched = (
            sdk(second, ACCOUNT, TOKEN)
            .messaging.v1.services(SERVICE)
            .phone_numbers(NUMBERS[3])
            .fetch()
        )
        assert fetched.phone_number == "+33142685300"
    finally:
        second.stop()


FIXTURE = """
accounts:
  - sid: AC0123456789abcdef0123456789abcdef
    auth_token: "from-file"
    services: [{sid: MG0123456789abcdef0123456789abcdef, friendly_name: "File"}]
    incoming_phone_numbers:
      - {sid: PN0123456789abcdef0123456789abcdef, phone_number: "+4930123456", capabilities: [SMS]}
"""


def check_file_fixture_is_served(server: Server) -> None:
    client = sdk(server, "AC0123456789abcdef0123456789abcdef", "from-file")
    created = client.messaging.v1.services(
        "MG0123456789abcdef0123456789abcdef"
    ).phone_numbers.create(phone_number_sid="PN0123456789abcdef0123456789abcdef")
    assert created.country_code == "DE"
    with list_raises(401, 20003):  # the demo is not loaded when a fixture file is given
        sdk(server, ACCOUNT, TOKEN).messaging.v1.services(SERVICE).phone_numbers.list()


def test_settings_from_environment_variables(tmp_path: Path) -> None:
    (tmp_path / "fixtures.yaml").write_text(FIXTURE)
    env = {
        "TWILIO_FAKE_PORT": "0",
        "TWILIO_FAKE_DATABASE": str(tmp_path / "env.sqlite3"),
        "TWILIO_FAKE_FIXTURES": str(tmp_path / "fixtures.yaml"),
    }
    server = Server([sys.executable, "-m", "twilio_fake"], env=env, cwd=ROOT)
    try:
        check_file_fixture_is_served(server)
    finally:
        server.stop()
    assert (tmp_path / "env.sqlite3").exists()


def test_make_run_honours_its_variables(tmp_path: Path) -> None:
    (tmp_path / "fixtures.yaml").write_text(FIXTURE)
    database = tmp_path / "make.sqlite3"
    command = ["make", "--no-print-directory", "run", "PORT=0", f"DATABASE={database}"]
    server = Server([*command, f"FIXTURES={tmp_path / 'fixtures.yaml'}"], cwd=ROOT)
    try:
        check_file_fixture_is_served(server)
    finally:
        output = server.stop()
    assert database.exists()
    assert f"twilio-fake listening on {server.url}" in output


def test_make_run_prints_the_demo_credentials_and_a_curl_line(tmp_path: Path) -> None:
    server = Server(
        ["make", "--no-print-directory", "run", "PORT=0", f"DATABASE={tmp_path / 'd.db'}"],
        cwd=ROOT,
    )
    try:
        output = server.output_so_far()
        assert ACCOUNT in output and TOKEN in output and KEY in output
        curl = next(
            line.strip()
            for line in output.splitlines()
            if line.strip().startswith("curl") and "-d" in line
        )
        assert server.url in curl
        result = subprocess.run(
            curl.split(), capture_output=True, text=True, timeout=10, check=True
        )
        assert '"sid": "PN00000000000000000000000000000001"' in result.stdout
    finally:
        server.stop()
