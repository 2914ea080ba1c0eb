"""The four operations over HTTP, through the test client (responses checked against the spec)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import (
    ACCOUNT,
    AUTH,
    KEY,
    KEY_SECRET,
    NUMBERS,
    OTHER_ACCOUNT,
    OTHER_NUMBER,
    OTHER_SERVICE,
    OTHER_TOKEN,
    SERVICE,
    SERVICE2,
    TOKEN,
    VOICE_ONLY_NUMBER,
    add,
    app_for,
    assert_error,
    pool_path,
)
from twilio_fake import fixtures
from twilio_fake.resources.pool import model as pool

BASE = "http://testserver"


# -- create -----------------------------------------------------------------------------------
def test_create_answers_201_with_every_field(client) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = add(client, NUMBERS[0])
    assert response.status_code == 201
    body = response.json()
    assert list(body) == [
        "sid",
        "account_sid",
        "service_sid",
        "date_created",
        "date_updated",
        "phone_number",
        "country_code",
        "capabilities",
        "url",
    ]
    assert body["sid"] == NUMBERS[0]
    assert body["account_sid"] == AUTH[0]
    assert body["service_sid"] == SERVICE
    assert body["phone_number"] == "+14155550100"
    assert body["country_code"] == "US"
    assert body["capabilities"] == ["MMS", "SMS", "Voice"]
    assert body["url"] == f"{BASE}/v1/Services/{SERVICE}/PhoneNumbers/{NUMBERS[0]}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["date_created"])
    created = datetime.strptime(body["date_created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert body["date_updated"] == body["date_created"]


def test_create_with_an_api_key(client) -> None:
    response = add(client, NUMBERS[2], auth=(KEY, KEY_SECRET))
    assert response.status_code == 201
    assert response.json()["account_sid"] == AUTH[0]
    assert response.json()["country_code"] == "GB"


def test_create_then_fetch_returns_the_same_resource(client) -> None:
    created = add(client, NUMBERS[1]).json()
    fetched = client.get(pool_path(sid=NUMBERS[1]), auth=AUTH)
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_public_url_setting_is_used_for_urls(backend) -> None:
    from twilio_fake.app import create_app
    from twilio_fake.config import Settings

    app = create_app(
        Settings(
            public_url="https://fake.example.com/", validate_responses=True, allowed_hosts="*"
        ),
        backend,
    )
    with app.test_client() as client:
        body = add(client, NUMBERS[0]).json()
    assert (
        body["url"] == f"https://fake.example.com/v1/Services/{SERVICE}/PhoneNumbers/{NUMBERS[0]}"
    )


def test_the_same_number_twice_is_21710(client) -> None:
    add(client, NUMBERS[0])
    assert_error(
        add(client, NUMBERS[0]),
        409,
        21710,
        "Phone Number or Short Code is already in the Messaging Service.",
    )


def test_a_number_in_another_service_is_21712(client) -> None:
    add(client, NUMBERS[0])
    assert_error(
        add(client, NUMBERS[0], service=SERVICE2),
        409,
        21712,
        "Phone Number or Short Code is associated with another Messaging Service.",
    )
    assert client.get(pool_path(SERVICE2), auth=AUTH).json()["phone_numbers"] == []


@pytest.mark.parametrize("number", [OTHER_NUMBER, "PN" + "a" * 32])
def test_a_number_that_is_not_the_accounts_is_21421(client, number: str) -> None:
    body = assert_error(add(client, number), 400, 21421)
    assert number in body["message"]


def test_a_full_pool_is_21714(backend) -> None:
    from twilio_fake.app import create_app
    from twilio_fake.config import Settings

    backend.pool_limit = 1
    with create_app(
        Settings(validate_responses=True, allowed_hosts="*"), backend
    ).test_client() as client:
        assert add(client, NUMBERS[0]).status_code == 201
        # 412, as Twilio answers it (twilio-behaviour.md, "service pool full").
        assert_error(add(client, NUMBERS[1]), 412, 21714, "Number Pool size limit reached")
        assert len(client.get(pool_path(), auth=AUTH).json()["phone_numbers"]) == 1
        # What production code does with it: add the number to its next service instead.
        assert add(client, NUMBERS[1], service=SERVICE2).status_code == 201


def test_a_voice_only_number_is_21715(client) -> None:
    message = "Phone Number Does Not Have Correct Messaging Service Capabilities"
    assert_error(add(client, VOICE_ONLY_NUMBER), 400, 21715, message)
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"] == []


@pytest.mark.parametrize("service", [OTHER_SERVICE, "MG" + "b" * 32])
def test_a_service_that_is_not_the_accounts_is_20404(client, service: str) -> None:
    message = f"The requested resource /Services/{service}/PhoneNumbers was not found"
    assert_error(add(client, NUMBERS[0], service=service), 404, 20404, message)
    assert_error(client.get(pool_path(service), auth=AUTH), 404, 20404, message)


# -- fetch and delete -------------------------------------------------------------------------
def test_fetch_a_number_not_in_the_pool_is_20404(client) -> None:
    message = f"The requested resource /Services/{SERVICE}/PhoneNumbers/{NUMBERS[0]} was not found"
    assert_error(client.get(pool_path(sid=NUMBERS[0]), auth=AUTH), 404, 20404, message)


def test_delete_is_204_with_an_empty_body_and_then_404(client) -> None:
    add(client, NUMBERS[0])
    response = client.delete(pool_path(sid=NUMBERS[0]), auth=AUTH)
    assert response.status_code == 204
    assert response.content == b""
    message = f"The requested resource /Services/{SERVICE}/PhoneNumbers/{NUMBERS[0]} was not found"
    assert_error(client.get(pool_path(sid=NUMBERS[0]), auth=AUTH), 404, 20404, message)
    assert_error(client.delete(pool_path(sid=NUMBERS[0]), auth=AUTH), 404, 20404, message)
    # The number is free again.
    assert add(client, NUMBERS[0], service=SERVICE2).status_code == 201


# -- list -------------------------------------------------------------------------------------
def test_an_empty_list(client) -> None:
    response = client.get(pool_path(), auth=AUTH)
    assert response.status_code == 200
    url = f"{BASE}/v1/Services/{SERVICE}/PhoneNumbers?PageSize=50&Page=0"
    assert response.json() == {
        "phone_numbers": [],
        "meta": {
            "page": 0,
            "page_size": 50,
            "first_page_url": url,
            "previous_page_url": None,
            "url": url,
            "next_page_url": None,
            "key": "phone_numbers",
        },
    }


def test_each_listed_entry_is_what_fetching_it_answers(client) -> None:
    """A page renders its entries with the URL made once for the page (handlers/pool.py)."""
    for number in NUMBERS[:3]:
        add(client, number)
    listed = client.get(pool_path(), auth=AUTH).json()["phone_numbers"]
    assert [entry["sid"] for entry in listed] == NUMBERS[:3]
    for entry in listed:
        fetched = client.get(pool_path(sid=entry["sid"]), auth=AUTH).json()
        assert entry == fetched
        assert entry["url"] == f"{BASE}/v1/Services/{SERVICE}/PhoneNumbers/{entry['sid']}"


def test_list_meta_on_a_middle_page(client) -> None:
    for number in NUMBERS[:3]:
        add(client, number)
    first = client.get(pool_path(), params={"PageSize": 1}, auth=AUTH).json()
    middle = client.get(first["meta"]["next_page_url"], auth=AUTH).json()
    meta = middle["meta"]
    assert [n["sid"] for n in middle["phone_numbers"]] == [NUMBERS[1]]
    assert meta["page"] == 1 and meta["page_size"] == 1 and meta["key"] == "phone_numbers"
    assert meta["url"] == first["meta"]["next_page_url"]
    assert meta["first_page_url"] == f"{BASE}/v1/Services/{SERVICE}/PhoneNumbers?PageSize=1&Page=0"
    for name in ("previous_page_url", "next_page_url"):
        parts = urlsplit(meta[name])
        assert (
            f"{parts.scheme}://{parts.netloc}{parts.path}"
            == f"{BASE}/v1/Services/{SERVICE}/PhoneNumbers"
        )
    assert parse_qs(urlsplit(meta["next_page_url"]).query)["Page"] == ["2"]
    assert parse_qs(urlsplit(meta["next_page_url"]).query)["PageToken"][0].startswith("PA")
    assert parse_qs(urlsplit(meta["previous_page_url"]).query)["Page"] == ["0"]
    back = client.get(meta["previous_page_url"], auth=AUTH).json()
    assert back["phone_numbers"] == first["phone_numbers"]
    assert back["meta"]["previous_page_url"] is None


@pytest.mark.parametrize("page_size", [1, 2, 4, 5, 1000])
def test_walking_next_page_url_visits_every_number_exactly_once(client, page_size: int) -> None:
    for number in reversed(NUMBERS):
        add(client, number)
    seen, url, pages = [], pool_path() + f"?PageSize={page_size}", 0
    while url:
        body = client.get(url, auth=AUTH).json()
        seen += [n["sid"] for n in body["phone_numbers"]]
        assert body["meta"]["page"] == pages
        url, pages = body["meta"]["next_page_url"], pages + 1
    assert seen == list(reversed(NUMBERS))  # oldest first
    assert pages == -(-len(NUMBERS) // page_size)


def test_page_is_client_state_echoed_and_selects_nothing(client) -> None:
    for number in NUMBERS:
        add(client, number)
    body = client.get(pool_path(), params={"PageSize": 2, "Page": 1}, auth=AUTH).json()
    assert [n["sid"] for n in body["phone_numbers"]] == NUMBERS[:2]
    assert body["meta"]["page"] == 1
    assert parse_qs(urlsplit(body["meta"]["url"]).query)["Page"] == ["1"]
    assert parse_qs(urlsplit(body["meta"]["next_page_url"]).query)["Page"] == ["2"]


def test_a_page_size_above_1000_is_a_page_of_1000(backend) -> None:
    numbers = [f"PN{n:032x}" for n in range(0x10000, 0x10000 + 1101)]  # none of the demo's
    backend.load(
        fixtures.parse(
            {
                "accounts": [
                    {
                        "sid": ACCOUNT,
                        "auth_token": TOKEN,
                        "incoming_phone_numbers": [
                            {
                                "sid": sid,
                                "phone_number": f"+1415555{n:04d}",
                                "capabilities": ["SMS"],
                            }
                            for n, sid in enumerate(numbers)
                        ],
                    }
                ]
            }
        )
    )
    backend.pool_limit = 2000
    for sid in numbers:  # through the rules, not 1,101 requests: the paging is what is tested
        pool.add(backend, ACCOUNT, SERVICE, sid)
    with app_for(backend).test_client() as client:
        first = client.get(pool_path(), params={"PageSize": 5000}, auth=AUTH).json()
        assert len(first["phone_numbers"]) == 1000
        assert first["meta"]["page_size"] == 1000
        rest = client.get(first["meta"]["next_page_url"], auth=AUTH).json()
        seen = [n["sid"] for n in first["phone_numbers"] + rest["phone_numbers"]]
        assert seen == numbers and rest["meta"]["next_page_url"] is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"PageSize": 0}, 20001),
        ({"PageSize": -1}, 20001),
        ({"PageSize": "ten"}, 20001),
        ({"Page": -1}, 20001),
        ({"PageToken": "PAforged"}, 21481),
        ({"PageToken": "not-a-token"}, 21481),
    ],
)
def test_bad_paging_parameters_are_400(client, query: dict, code: int) -> None:
    assert_error(client.get(pool_path(), params=query, auth=AUTH), 400, code)


def test_a_foreign_page_token_is_400(client) -> None:
    for number in NUMBERS[:2]:
        add(client, number, service=SERVICE2)
    next_url = client.get(pool_path(SERVICE2), params={"PageSize": 1}, auth=AUTH).json()["meta"][
        "next_page_url"
    ]
    token = parse_qs(urlsplit(next_url).query)["PageToken"][0]
    response = client.get(pool_path(), params={"PageToken": token}, auth=AUTH)
    assert_error(response, 400, 21481, "Invalid PageToken")


# -- authentication and isolation -------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "auth", "message"),
    [
        ({}, None, "Authentication Error - No credentials provided"),
        ({}, (AUTH[0], "wrong"), "Authentication Error - invalid username"),
        ({}, ("AC" + "c" * 32, AUTH[1]), "Authentication Error - invalid username"),
        ({}, (KEY, "wrong"), "Authentication Error - invalid username"),
        ({"Authorization": "Bearer abc"}, None, "Authentication Error - invalid username"),
        ({"Authorization": "Basic %%%"}, None, "Authentication Error - invalid username"),
        ({"Authorization": "Basic"}, None, "Authentication Error - invalid username"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", pool_path()),
        ("POST", pool_path()),
        ("GET", pool_path(sid=NUMBERS[0])),
        ("DELETE", pool_path(sid=NUMBERS[0])),
    ],
)
def test_missing_or_wrong_credentials_are_401(client, method, path, headers, auth, message) -> None:
    data = {"PhoneNumberSid": NUMBERS[0]} if method == "POST" else None
    response = client.request(method, path, headers=headers, auth=auth, data=data)
    body = assert_error(response, 401, 20003, message)
    assert body["detail"] == "Your AccountSid or AuthToken was incorrect."
    assert response.headers["www-authenticate"].startswith("Basic")
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"] == []


def test_another_account_gets_404_and_changes_nothing(client) -> None:
    add(client, NUMBERS[0])
    other = (OTHER_ACCOUNT, OTHER_TOKEN)
    requests = [
        ("GET", pool_path(), None),
        ("POST", pool_path(), {"PhoneNumberSid": OTHER_NUMBER}),
        ("GET", pool_path(sid=NUMBERS[0]), None),
        ("DELETE", pool_path(sid=NUMBERS[0]), None),
    ]
    for method, path, data in requests:
        response = client.request(method, path, data=data, auth=other)
        assert_error(response, 404, 20404)
        assert "+14155550100" not in response.text and AUTH[0] not in response.text
    assert [n["sid"] for n in client.get(pool_path(), auth=AUTH).json()["phone_numbers"]] == [
        NUMBERS[0]
    ]
