"""IncomingPhoneNumbers and AvailablePhoneNumbers over HTTP, through the test client (every
response checked against the spec)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
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
    OTHER_TOKEN,
    SERVICE,
    add,
    assert_error,
    pool_path,
)
from twilio_fake import fixtures, spec
from twilio_fake.resources.numbers import inventory, model

LONGEST_URL = spec.contract()["components"]["schemas"]["WebhookUrl"]["maxLength"]

DEMO, OTHER = fixtures.demo()
OTHER_AUTH = (OTHER_ACCOUNT, OTHER_TOKEN)
RFC_2822 = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000")
PAGING_KEYS = {
    "uri",
    "first_page_uri",
    "next_page_uri",
    "previous_page_uri",
    "page",
    "page_size",
    "start",
    "end",
}


def numbers_path(account: str = ACCOUNT, sid: str | None = None) -> str:
    path = f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers"
    return f"{path}/{sid}.json" if sid is not None else f"{path}.json"


def available_path(country: str = "US", kind: str = "Local", account: str = ACCOUNT) -> str:
    return f"/2010-04-01/Accounts/{account}/AvailablePhoneNumbers/{country}/{kind}.json"


def buy(client, auth=AUTH, account: str | None = None, **form: str):
    return client.post(numbers_path(account or auth[0]), data=form, auth=auth)


def search(client, auth=AUTH, country: str = "US", kind: str = "Local", **query: object):
    return client.get(available_path(country, kind, auth[0]), params=query, auth=auth)


def not_found_at(response, path: str) -> None:
    assert_error(response, 404, 20404, f"The requested resource {path} was not found")


# -- buy -----------------------------------------------------------------------------------------
def test_buy_by_area_code_answers_201_with_every_field(client) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = buy(client, AreaCode="415")
    assert response.status_code == 201, response.text
    body = response.json()
    wanted = next(inventory.local_in_area_code(415))
    assert body["phone_number"] == wanted.phone_number
    assert body["friendly_name"] == wanted.friendly_name
    assert body["capabilities"] == {"voice": True, "sms": True, "mms": True, "fax": False}
    assert body["account_sid"] == ACCOUNT
    assert re.fullmatch(r"PN[0-9a-f]{32}", body["sid"])
    assert body["uri"] == numbers_path(sid=body["sid"])
    assert RFC_2822.fullmatch(body["date_created"])
    created = parsedate_to_datetime(body["date_created"])
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert body["date_updated"] == body["date_created"]
    assert (body["sms_method"], body["voice_method"], body["status_callback_method"]) == (
        "POST",
        "POST",
        "POST",
    )
    assert (body["sms_url"], body["voice_url"], body["status"], body["type"]) == (
        "",
        None,
        "in-use",
        "local",
    )
    assert client.get(body["uri"], auth=AUTH).json() == body


def test_buy_a_number_found_in_a_search_then_it_is_no_longer_for_sale(client) -> None:
    found = search(client, AreaCode=212, PageSize=3).json()["available_phone_numbers"]
    chosen = found[1]["phone_number"]
    assert buy(client, PhoneNumber=chosen, FriendlyName="Sales").json()["friendly_name"] == "Sales"
    for auth in (AUTH, OTHER_AUTH):  # for no one
        again = search(client, auth, AreaCode=212, PageSize=3).json()["available_phone_numbers"]
        assert chosen not in [n["phone_number"] for n in again]
    assert_error(buy(client, OTHER_AUTH, PhoneNumber=chosen), 400, 21422)
    assert_error(buy(client, PhoneNumber=chosen), 400, 21422)


def test_a_french_mobile_is_for_sale_by_phone_number_and_texts(client) -> None:
    """A French sender for a pool: bought by PhoneNumber (no search lists mobiles), it takes
    SMS, and its pool entry says FR."""
    mobile = inventory.numbers("FR", "mobile")[0].phone_number
    bought = buy(client, PhoneNumber=mobile)
    assert bought.status_code == 201, bought.text
    number = bought.json()
    assert (number["phone_number"], number["type"]) == (mobile, "mobile")
    assert number["capabilities"] == {"voice": True, "sms": True, "mms": False, "fax": False}
    entry = add(client, number["sid"])
    assert entry.status_code == 201, entry.text
    assert entry.json()["country_code"] == "FR"


def test_buy_with_an_api_key(client) -> None:
    response = buy(client, (KEY, KEY_SECRET), account=ACCOUNT, AreaCode="212")
    assert response.status_code == 201
    assert response.json()["account_sid"] == ACCOUNT


def test_buy_sets_webhooks(client) -> None:
    body = buy(
        client,
        AreaCode="415",
        SmsUrl="https://example.com/sms",
        SmsMethod="GET",
        VoiceCallerIdLookup="true",
        TrunkSid="TK" + "a" * 32,
    ).json()
    assert (body["sms_url"], body["sms_method"], body["voice_caller_id_lookup"]) == (
        "https://example.com/sms",
        "GET",
        True,
    )
    assert body["trunk_sid"] == "TK" + "a" * 32


def test_buy_with_neither_number_nor_area_code_is_400(client) -> None:
    assert_error(buy(client), 400, 20001, "did or area_code is required")
    assert_error(buy(client, FriendlyName="x"), 400, 20001, "did or area_code is required")


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"PhoneNumber": "+15005550000"}, 400, 21422),
        ({"PhoneNumber": "+15005550001"}, 400, 21421),
        ({"AreaCode": "533"}, 400, 21452),
        ({"PhoneNumber": "+12125550123"}, 400, 21422),  # not in the inventory
        ({"PhoneNumber": "4155550100"}, 400, 21421),  # not E.164
        ({"PhoneNumber": "\x00"}, 400, 21421),
        ({"PhoneNumber": "+" + "1" * 5000}, 400, 21421),
        ({"AreaCode": "41"}, 400, 21451),
        ({"AreaCode": "%00"}, 400, 21451),
        ({"AreaCode": "\x00"}, 400, 21451),
        ({"AreaCode": "907"}, 400, 21452),  # an area code the fake sells nothing in
        ({"AreaCode": "415", "FriendlyName": "x" * 65}, 400, 20001),
        ({"AreaCode": "415", "FriendlyName": "a\x00b"}, 400, 20001),
        ({"AreaCode": "415", "SmsUrl": "not a url"}, 400, 20001),
        ({"AreaCode": "415", "SmsUrl": "https://" + "a" * LONGEST_URL}, 400, 20001),
        ({"AreaCode": "415", "SmsMethod": "PUT"}, 400, 20001),
        ({"AreaCode": "415", "VoiceCallerIdLookup": "maybe"}, 400, 20001),
        ({"AreaCode": "415", "TrunkSid": "TK1"}, 400, 20001),
    ],
)
def test_a_buy_that_cannot_be_served_changes_nothing(client, form, status, code) -> None:
    before = client.get(numbers_path(), auth=AUTH).json()["incoming_phone_numbers"]
    body = assert_error(buy(client, **form), status, code)
    if code != 20001:  # the rules' own messages show a long value cut short
        assert len(body["message"]) < 200
    assert client.get(numbers_path(), auth=AUTH).json()["incoming_phone_numbers"] == before


def test_magic_numbers_that_succeed(client) -> None:
    for form in ({"PhoneNumber": "+15005550006"}, {"AreaCode": "500"}):
        for auth in (AUTH, AUTH, OTHER_AUTH):
            response = buy(client, auth, **form)
            assert response.status_code == 201, response.text
            body = response.json()
            assert (body["phone_number"], body["friendly_name"]) == (
                "+15005550006",
                "(500) 555-0006",
            )


def test_a_buy_past_the_accounts_bound_is_400_and_buys_nothing(client, monkeypatch) -> None:
    held = client.get(numbers_path(), auth=AUTH).json()["incoming_phone_numbers"]
    monkeypatch.setattr(model, "numbers_per_account", lambda: len(held) + 1)
    assert buy(client, PhoneNumber="+15005550006").status_code == 201
    body = assert_error(buy(client, PhoneNumber="+15005550006"), 400, 20001)
    assert f"already holds {len(held) + 1} phone numbers" in body["message"]
    assert (
        len(client.get(numbers_path(), auth=AUTH).json()["incoming_phone_numbers"]) == len(held) + 1
    )


# -- list ----------------------------------------------------------------------------------------
def test_the_list_has_the_2010_paging_keys_and_one_list_key(client) -> None:
    response = client.get(numbers_path(), params={"PageSize": 2}, auth=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PAGING_KEYS | {"incoming_phone_numbers"}
    assert (body["page"], body["page_size"], body["start"], body["end"]) == (0, 2, 0, 1)
    assert body["previous_page_uri"] is None
    assert body["uri"] == numbers_path() + "?PageSize=2&Page=0"
    assert body["first_page_uri"] == body["uri"]
    query = parse_qs(urlsplit(body["next_page_uri"]).query)
    assert (query["PageSize"], query["Page"]) == (["2"], ["1"])
    assert query["PageToken"][0].startswith("PA")


def test_walking_next_page_uri_visits_every_number_once(client) -> None:
    bought = [buy(client, AreaCode="212").json()["sid"] for _ in range(3)]
    seen, uri, pages = [], numbers_path() + "?PageSize=4", []
    while uri:
        body = client.get(uri, auth=AUTH).json()
        seen += [n["sid"] for n in body["incoming_phone_numbers"]]
        pages.append((body["page"], body["start"], body["end"]))
        if body["page"] > 0:
            assert body["previous_page_uri"] is not None
        uri = body["next_page_uri"]
    assert seen == sorted(n.sid for n in DEMO.incoming_phone_numbers) + bought
    assert pages == [(0, 0, 3), (1, 4, 7), (2, 8, 8)]


def test_filters_are_carried_into_the_page_uris(client) -> None:
    body = client.get(
        numbers_path(), params={"PhoneNumber": "+1415", "PageSize": 1}, auth=AUTH
    ).json()
    assert [n["sid"] for n in body["incoming_phone_numbers"]] == [NUMBERS[0]]
    for key in ("uri", "first_page_uri", "next_page_uri"):
        assert parse_qs(urlsplit(body[key]).query)["PhoneNumber"] == ["+1415"]
    following = client.get(body["next_page_uri"], auth=AUTH).json()
    assert [n["sid"] for n in following["incoming_phone_numbers"]] == [NUMBERS[1]]


def test_phone_number_and_friendly_name_filters(client) -> None:
    def sids(**query: str) -> list[str]:
        body = client.get(numbers_path(), params=query, auth=AUTH).json()
        return [n["sid"] for n in body["incoming_phone_numbers"]]

    assert sids(PhoneNumber="+4420*1838750") == [NUMBERS[2]]
    assert sids(PhoneNumber="%") == []
    assert sids(FriendlyName="(415) 555-0101") == [NUMBERS[1]]
    assert sids(Origin="hosted") == []


def test_a_page_token_of_another_list_is_21481(client) -> None:
    body = client.get(numbers_path(), params={"PageSize": 1}, auth=AUTH).json()
    token = parse_qs(urlsplit(body["next_page_uri"]).query)["PageToken"][0]
    for query in ({"FriendlyName": "x"}, {"PhoneNumber": "1"}):
        response = client.get(
            numbers_path(), params={**query, "PageToken": token, "PageSize": 1}, auth=AUTH
        )
        assert_error(response, 400, 21481)
    response = client.get(numbers_path(OTHER_ACCOUNT), params={"PageToken": token}, auth=OTHER_AUTH)
    assert_error(response, 400, 21481)
    assert_error(client.get(numbers_path(), params={"PageToken": "PAx.y"}, auth=AUTH), 400, 21481)


@pytest.mark.parametrize(
    "query",
    [
        {"PageSize": 0},
        {"PageSize": -1},
        {"PageSize": "many"},
        {"Page": -1},
        {"Page": 10**12},
        {"PhoneNumber": "1" * 65},
        {"PhoneNumber": "\x00"},
        {"FriendlyName": "x" * 65},
        {"FriendlyName": "\x00"},
        {"Beta": "perhaps"},
    ],
)
def test_bad_list_parameters_are_400(client, query) -> None:
    assert_error(client.get(numbers_path(), params=query, auth=AUTH), 400, 20001)


def test_paging_extremes(client) -> None:
    body = client.get(numbers_path(), params={"PageSize": 10**15}, auth=AUTH).json()
    assert body["page_size"] == 1000
    assert len(body["incoming_phone_numbers"]) == len(DEMO.incoming_phone_numbers)
    # A page past the first needs its token on this API, as Twilio answers it.
    refused = client.get(numbers_path(), params={"Page": 10**9, "PageSize": 1000}, auth=AUTH)
    assert_error(refused, 400, 20001, "PageToken is required for paging.")
    first = client.get(numbers_path(), params={"Page": 0, "PageSize": 1}, auth=AUTH).json()
    assert (first["page"], first["start"]) == (0, 0)
    token = parse_qs(urlsplit(first["next_page_uri"]).query)["PageToken"][0]
    far = {"Page": 10**9, "PageSize": 1, "PageToken": token}
    body = client.get(numbers_path(), params=far, auth=AUTH).json()
    assert (body["page"], body["start"]) == (10**9, 10**9)  # `Page` is echoed, not obeyed
    every = client.get(numbers_path(), auth=AUTH).json()["incoming_phone_numbers"]
    assert body["incoming_phone_numbers"] == every[1:2]


# -- fetch, update, release ----------------------------------------------------------------------
def test_a_fixture_number_is_an_incoming_phone_number(client) -> None:
    body = client.get(numbers_path(sid=NUMBERS[2]), auth=AUTH).json()
    assert (body["phone_number"], body["friendly_name"]) == ("+442071838750", "020 7183 8750")
    assert body["capabilities"] == {"voice": True, "sms": True, "mms": False, "fax": False}


def test_update_changes_what_the_form_names(client) -> None:
    sid = buy(client, AreaCode="415").json()["sid"]
    response = client.post(
        numbers_path(sid=sid),
        data={"FriendlyName": "Renamed", "SmsUrl": "https://example.com/in", "SmsMethod": "GET"},
        auth=AUTH,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["friendly_name"], body["sms_url"], body["sms_method"]) == (
        "Renamed",
        "https://example.com/in",
        "GET",
    )
    cleared = client.post(numbers_path(sid=sid), data={"SmsUrl": ""}, auth=AUTH).json()
    assert (cleared["sms_url"], cleared["friendly_name"]) == ("", "Renamed")
    assert client.get(numbers_path(sid=sid), auth=AUTH).json() == cleared


def test_update_with_a_bad_field_changes_nothing(client) -> None:
    before = client.get(numbers_path(sid=NUMBERS[0]), auth=AUTH).json()
    for form in ({"VoiceMethod": "DELETE"}, {"FriendlyName": "y" * 65}, {"VoiceUrl": "ftp://x"}):
        assert_error(client.post(numbers_path(sid=NUMBERS[0]), data=form, auth=AUTH), 400, 20001)
    assert client.get(numbers_path(sid=NUMBERS[0]), auth=AUTH).json() == before


def test_release_leaves_the_pool_and_answers_204(client) -> None:
    sid = buy(client, AreaCode="415").json()["sid"]
    assert add(client, sid).status_code == 201
    response = client.delete(numbers_path(sid=sid), auth=AUTH)
    assert response.status_code == 204
    assert response.content == b""
    not_found_at(client.get(numbers_path(sid=sid), auth=AUTH), numbers_path(sid=sid))
    assert_error(client.get(pool_path(SERVICE, sid), auth=AUTH), 404, 20404)
    not_found_at(client.delete(numbers_path(sid=sid), auth=AUTH), numbers_path(sid=sid))


@pytest.mark.parametrize(
    "sid", [OTHER_NUMBER, "PN" + "0" * 32, "PN", "undefined", "x" * 2000, "PN%00", "%2e%2e"]
)
def test_another_accounts_number_or_no_number_is_404(client, sid: str) -> None:
    for response in (
        client.get(numbers_path(sid=sid), auth=AUTH),
        client.post(numbers_path(sid=sid), data={"FriendlyName": "taken"}, auth=AUTH),
        client.delete(numbers_path(sid=sid), auth=AUTH),
    ):
        assert_error(response, 404, 20404)
    theirs = client.get(numbers_path(OTHER_ACCOUNT, OTHER_NUMBER), auth=OTHER_AUTH).json()
    assert theirs["friendly_name"] == "(415) 555-0102"


@pytest.mark.parametrize(
    "path",
    [
        numbers_path(OTHER_ACCOUNT),
        numbers_path(OTHER_ACCOUNT, OTHER_NUMBER),
        numbers_path(OTHER_ACCOUNT, NUMBERS[0]),
        numbers_path("invalid_sid"),
        available_path(account=OTHER_ACCOUNT),
        available_path(kind="TollFree", account=OTHER_ACCOUNT),
    ],
)
def test_another_accounts_path_is_404_naming_the_whole_path(client, path: str) -> None:
    not_found_at(client.get(path, auth=AUTH), path)
    if "Available" not in path:
        not_found_at(client.post(path, data={"AreaCode": "415"}, auth=AUTH), path)
    assert client.get(numbers_path(OTHER_ACCOUNT), auth=OTHER_AUTH).json()[
        "incoming_phone_numbers"
    ] == [client.get(numbers_path(OTHER_ACCOUNT, OTHER_NUMBER), auth=OTHER_AUTH).json()]


def test_a_body_that_is_not_a_form_is_read_as_no_parameters(client) -> None:
    before = client.get(numbers_path(), auth=AUTH).json()["incoming_phone_numbers"]
    response = client.post(numbers_path(), json={"AreaCode": "415"}, auth=AUTH)
    assert_error(response, 400, 20001, "did or area_code is required")
    assert client.get(numbers_path(), auth=AUTH).json()["incoming_phone_numbers"] == before


def test_no_credentials_is_401(client) -> None:
    assert_error(client.get(numbers_path()), 401, 20003)
    assert_error(client.get(available_path()), 401, 20003)


# -- AvailablePhoneNumbers -----------------------------------------------------------------------
def test_search_answers_the_list_and_its_uri_only(client) -> None:
    response = search(client, AreaCode=808, PageSize=2)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"available_phone_numbers", "uri"}
    assert body["uri"] == available_path()
    first = body["available_phone_numbers"][0]
    assert (first["locality"], first["region"], first["postal_code"], first["iso_country"]) == (
        "Hilo",
        "HI",
        "96720",
        "US",
    )
    assert (first["latitude"], first["longitude"]) == ("19.720000", "-155.090000")
    assert len(body["available_phone_numbers"]) == 2


def test_search_page_size_defaults_from_the_spec(client, app) -> None:
    (size,) = [
        p["schema"]["default"]
        for p in _spec_parameters(app, "ListAvailablePhoneNumberLocal")
        if p["name"] == "PageSize"
    ]
    assert len(search(client).json()["available_phone_numbers"]) == size
    every = search(client, PageSize=10**12).json()["available_phone_numbers"]
    assert len(every) == len(inventory.numbers("US", "local"))


def _spec_parameters(app, operation_id: str) -> list[dict]:

    document = spec.contract()
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                resolved = []
                for parameter in operation.get("parameters", []):
                    if "$ref" in parameter:
                        parameter = document["components"]["parameters"][
                            parameter["$ref"].rsplit("/", 1)[1]
                        ]
                    resolved.append(parameter)
                return resolved
    raise KeyError(operation_id)


def test_toll_free_search(client) -> None:
    body = search(client, kind="TollFree", AreaCode=888, PageSize=3).json()
    numbers = body["available_phone_numbers"]
    assert len(numbers) == 3
    assert all(n["phone_number"].startswith("+1888") for n in numbers)
    assert all(n["locality"] is None and n["latitude"] is None for n in numbers)
    assert body["uri"] == available_path(kind="TollFree")


def test_search_filters(client) -> None:
    def found(**query: object) -> list[dict]:
        response = search(client, **query)
        assert response.status_code == 200, response.text
        return response.json()["available_phone_numbers"]

    assert all(n["phone_number"].startswith("+1617") for n in found(Contains="+1617"))
    assert all(not n["capabilities"]["mms"] for n in found(MmsEnabled="false"))
    assert all(n["capabilities"]["sms"] for n in found(SmsEnabled="true", AreaCode=415))
    assert found(AreaCode=533) == []
    assert found(InRegion="hi", PageSize=1)[0]["locality"] == "Hilo"
    assert search(client, country="GB", SmsEnabled="true").json()["available_phone_numbers"] == []


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"AreaCode": "%00"}, 20001),
        ({"AreaCode": "\x00"}, 20001),
        ({"AreaCode": "4a5"}, 20001),
        ({"AreaCode": 41}, 21451),
        ({"AreaCode": -415}, 21451),
        ({"AreaCode": 10**30}, 21451),
        ({"Contains": "4"}, 20001),
        ({"Contains": "1" * 17}, 20001),
        ({"Contains": "41%%5"}, 20001),
        ({"Contains": "4+15"}, 20001),
        ({"Contains": "(?:4)"}, 20001),
        ({"Contains": "\x00\x00"}, 20001),
        ({"Contains": "**"}, 20001),
        ({"SmsEnabled": "yes please"}, 20001),
        ({"PageSize": 0}, 20001),
        ({"InRegion": "x" * 65}, 20001),
    ],
)
def test_bad_searches_are_400(client, query, code: int) -> None:
    assert_error(search(client, **query), 400, code)


@pytest.mark.parametrize("country", ["ZZ", "us", "USA", "DE", "%00", "U%2FS"])
def test_a_country_without_numbers_is_404(client, country: str) -> None:
    path = available_path(country)
    response = client.get(path, auth=AUTH)
    assert_error(response, 404, 20404)


# -- the control surface -------------------------------------------------------------------------
def test_a_fault_can_target_a_buy_and_the_retry_buys(client) -> None:
    """The control surface's operations come from the contract: a suite can test its retry."""
    response = client.post(
        "/_fake/faults", json={"operation": "CreateIncomingPhoneNumber", "status": 429}
    )
    assert response.status_code == 201, response.text
    assert client.get(available_path(), auth=AUTH).status_code == 200  # not matched
    assert_error(buy(client, AreaCode="415"), 429, 20429)
    retried = buy(client, AreaCode="415")
    assert retried.status_code == 201
    # The faulted request bought nothing: the retry got the first number for sale.
    assert retried.json()["phone_number"] == next(inventory.local_in_area_code(415)).phone_number
