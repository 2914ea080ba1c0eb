"""End to end: twilio-python searches, buys, lists, updates and releases phone numbers on a real
server process, as a team's provisioning code would (api.twilio.com pointed at the fake)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests
from twilio.rest import Client

from tests.support import (
    ACCOUNT,
    KEY,
    KEY_SECRET,
    OTHER_NUMBER,
    ROOT,
    SERVICE,
    TOKEN,
    Server,
    npm_tools,
    raises,
    sdk,
    serve,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve(tmp_path_factory.mktemp("e2e-numbers") / "fake.sqlite3")
    yield server
    server.stop()


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.delenv("TWILIO_EDGE", raising=False)  # they would rewrite the host name
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    requests.post(f"{server.url}/_fake/reset", timeout=5).raise_for_status()
    return sdk(server, ACCOUNT, TOKEN)


def test_search_buy_list_fetch_update_release(client: Client) -> None:
    country = client.available_phone_numbers("US")
    found = country.local.list(area_code=415, sms_enabled=True, limit=5)
    assert len(found) == 5
    assert all(n.phone_number.startswith("+1415") for n in found)
    assert all(n.capabilities["sms"] for n in found)
    assert found[0].locality == "San Francisco" and found[0].iso_country == "US"

    numbers = client.incoming_phone_numbers
    first = numbers.create(phone_number=found[0].phone_number)
    second = numbers.create(phone_number=found[1].phone_number, friendly_name="Support")
    assert first.phone_number == found[0].phone_number
    assert first.friendly_name == found[0].friendly_name
    assert second.friendly_name == "Support"
    assert isinstance(first.date_created, datetime)  # the SDK parsed the RFC 2822 date
    assert first.capabilities == {"voice": True, "sms": True, "mms": True, "fax": False}

    left = [n.phone_number for n in country.local.list(area_code=415, limit=50)]
    assert found[0].phone_number not in left and found[1].phone_number not in left

    listed = numbers.list(page_size=2)  # the SDK follows next_page_uri across pages
    sids = [n.sid for n in listed]
    assert sids[-2:] == [first.sid, second.sid]
    assert len(sids) == len(set(sids))
    assert [n.sid for n in numbers.list(phone_number=found[1].phone_number)] == [second.sid]
    assert [n.sid for n in numbers.list(friendly_name="Support")] == [second.sid]

    fetched = numbers(first.sid).fetch()
    assert (fetched.sid, fetched.phone_number) == (first.sid, first.phone_number)
    updated = numbers(first.sid).update(
        friendly_name="Inbound", sms_url="https://example.com/sms", sms_method="GET"
    )
    assert (updated.friendly_name, updated.sms_url, updated.sms_method) == (
        "Inbound",
        "https://example.com/sms",
        "GET",
    )

    pool = client.messaging.v1.services(SERVICE).phone_numbers
    pool.create(phone_number_sid=first.sid)
    assert numbers(first.sid).delete() is True
    with raises(404, 20404):
        numbers(first.sid).fetch()
    with raises(404, 20404):
        pool(first.sid).fetch()  # the release took it out of the pool
    assert first.phone_number in [n.phone_number for n in country.local.list(area_code=415)]


def test_toll_free_search_and_buy_by_area_code(client: Client) -> None:
    toll_free = client.available_phone_numbers("US").toll_free.list(area_code=800, limit=2)
    assert [n.phone_number[:5] for n in toll_free] == ["+1800", "+1800"]
    bought = client.incoming_phone_numbers.create(area_code="212")
    assert bought.phone_number.startswith("+1212")
    assert client.available_phone_numbers("US").local.list(area_code=533) == []


def test_magic_numbers_answer_as_with_test_credentials(client: Client) -> None:
    numbers = client.incoming_phone_numbers
    with raises(400, 21422):
        numbers.create(phone_number="+15005550000")
    with raises(400, 21421):
        numbers.create(phone_number="+15005550001")
    with raises(400, 21452):
        numbers.create(area_code="533")
    for bought in (
        numbers.create(phone_number="+15005550006"),
        numbers.create(phone_number="+15005550006"),
        numbers.create(area_code="500"),
    ):
        assert (bought.phone_number, bought.friendly_name) == ("+15005550006", "(500) 555-0006")


def test_another_accounts_number_is_404(client: Client, server: Server) -> None:
    with raises(404, 20404):
        client.incoming_phone_numbers(OTHER_NUMBER).fetch()
    with raises(404, 20404):
        client.incoming_phone_numbers(OTHER_NUMBER).update(friendly_name="mine")
    with raises(404, 20404):
        client.incoming_phone_numbers(OTHER_NUMBER).delete()
    other_account = client.api.v2010.accounts("AC00000000000000000000000000000002")
    with raises(404, 20404) as caught:
        other_account.incoming_phone_numbers.create(area_code="415")
    assert "/2010-04-01/Accounts/AC00000000000000000000000000000002/" in caught.value.msg


def test_an_api_key_buys_for_its_account(server: Server) -> None:
    client = sdk(server, KEY, KEY_SECRET, ACCOUNT)
    bought = client.incoming_phone_numbers.create(area_code="617")
    assert bought.account_sid == ACCOUNT
    assert client.incoming_phone_numbers(bought.sid).delete() is True


def test_twilio_node_runs_the_same_flow(server: Server) -> None:
    requests.post(f"{server.url}/_fake/reset", timeout=5).raise_for_status()
    result = subprocess.run(
        ["node", str(ROOT / "tests" / "e2e" / "node" / "numbers_flow.js")],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "NODE_PATH": str(npm_tools()),
            "FAKE_URL": server.url,
            "ACCOUNT": ACCOUNT,
            "TOKEN": TOKEN,
            "SERVICE": SERVICE,
            "OTHER_NUMBER": OTHER_NUMBER,
        },
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows["bought"] == rows["found"]
    assert rows["dateCreatedIsDate"] is True
    assert rows["listed"][-2:] == rows["sids"]  # the SDK followed next_page_uri
    assert rows["smsUrl"] == "https://example.com/sms"
    assert rows["released"] is True
    for row, status, code in [
        ("poolAfterRelease", 404, 20404),
        ("magicUnavailable", 400, 21422),
        ("magicInvalid", 400, 21421),
        ("magicEmptyAreaCode", 400, 21452),
        ("otherAccountsNumber", 404, 20404),
    ]:
        assert (rows[row]["status"], rows[row]["code"]) == (status, code), row
    assert rows["magicAvailable"] == "+15005550006"
