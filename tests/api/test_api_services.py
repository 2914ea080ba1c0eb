"""Messaging Services over HTTP, through the in-process app (responses checked against the spec),
on both databases. Paths, limits and defaults are read from the spec, as the fake reads them."""

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
    OTHER_SERVICE,
    OTHER_TOKEN,
    SERVICE,
    SERVICE2,
    add,
    assert_error,
    plain_id,
)
from twilio_fake.resources.services import model
from twilio_fake.spec import contract, limit
from twilio_fake.urls import path_for

BASE = "http://testserver"
SERVICES = path_for("ListService")
OTHER = (OTHER_ACCOUNT, OTHER_TOKEN)
SCHEMAS = contract()["components"]["schemas"]
CREATE = SCHEMAS["CreateServiceForm"]["properties"]
LIMIT = limit("services-per-account")
FIELDS = [  # Twilio's Service resource, in its order (evidence 5.4)
    "sid",
    "account_sid",
    "friendly_name",
    "date_created",
    "date_updated",
    "inbound_request_url",
    "inbound_method",
    "fallback_url",
    "fallback_method",
    "status_callback",
    "sticky_sender",
    "mms_converter",
    "smart_encoding",
    "scan_message_content",
    "fallback_to_long_code",
    "area_code_geomatch",
    "validity_period",
    "synchronous_validation",
    "usecase",
    "us_app_to_person_registered",
    "use_inbound_webhook_on_number",
    "url",
    "links",
]
LINKS = [
    "phone_numbers",
    "short_codes",
    "alpha_senders",
    "messages",
    "us_app_to_person",
    "us_app_to_person_usecases",
    "channel_senders",
    "destination_alpha_senders",
]


def service_path(sid: str) -> str:
    return path_for("FetchService", Sid=sid)


def create(client, auth=AUTH, **form):
    return client.post(SERVICES, data={"FriendlyName": "Reminders", **form}, auth=auth)


def listed(client, auth=AUTH) -> list[str]:
    body = client.get(SERVICES, params={"PageSize": 1000}, auth=auth).json()
    return [service["sid"] for service in body["services"]]


# -- create -----------------------------------------------------------------------------------
def test_create_answers_201_with_every_field_and_the_specs_defaults(client) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = create(client, FriendlyName="Appointment reminders")
    assert response.status_code == 201
    body = response.json()
    assert list(body) == FIELDS
    sid = body["sid"]
    assert re.fullmatch(r"MG[0-9a-f]{32}", sid)
    assert body["account_sid"] == ACCOUNT
    assert body["friendly_name"] == "Appointment reminders"
    for name, schema in CREATE.items():
        if "default" in schema:
            assert body[model.column_of(name)] == schema["default"], name
    for field in ("inbound_request_url", "fallback_url", "status_callback"):
        assert body[field] is None
    assert body["us_app_to_person_registered"] is False
    created = datetime.strptime(body["date_created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert body["date_updated"] == body["date_created"]
    assert body["url"] == f"{BASE}{service_path(sid)}"
    assert list(body["links"]) == LINKS
    assert body["links"]["phone_numbers"] == f"{BASE}{path_for('ListPhoneNumber', ServiceSid=sid)}"
    assert body["links"]["us_app_to_person_usecases"] == f"{body['url']}/Compliance/Usa2p/Usecases"
    for name in LINKS:
        assert body["links"][name].startswith(body["url"] + "/")


def test_create_with_every_setting(client) -> None:
    form = {
        "FriendlyName": "Everything",
        "InboundRequestUrl": "https://example.com/in?x=1",
        "InboundMethod": "GET",
        "FallbackUrl": "http://example.com:8080/fallback",
        "FallbackMethod": "GET",
        "StatusCallback": "https://example.com/status#frag",
        "StickySender": "false",
        "MmsConverter": "false",
        "SmartEncoding": "true",
        "ScanMessageContent": "enable",
        "FallbackToLongCode": "false",
        "AreaCodeGeomatch": "false",
        "ValidityPeriod": "14400",
        "SynchronousValidation": "false",
        "Usecase": "discussion",
        "UseInboundWebhookOnNumber": "true",
    }
    body = client.post(SERVICES, data=form, auth=AUTH).json()
    assert body["inbound_request_url"] == "https://example.com/in?x=1"
    assert body["inbound_method"] == "GET"
    assert body["fallback_url"] == "http://example.com:8080/fallback"
    assert body["fallback_method"] == "GET"
    assert body["status_callback"] == "https://example.com/status#frag"
    assert body["sticky_sender"] is False
    assert body["mms_converter"] is False
    assert body["smart_encoding"] is True
    assert body["scan_message_content"] == "enable"
    assert body["fallback_to_long_code"] is False
    assert body["area_code_geomatch"] is False
    assert body["validity_period"] == 14400
    assert body["synchronous_validation"] is False
    assert body["usecase"] == "discussion"
    assert body["use_inbound_webhook_on_number"] is True
    assert client.get(service_path(body["sid"]), auth=AUTH).json() == body


def test_create_with_an_api_key_belongs_to_its_account(client) -> None:
    body = create(client, auth=(KEY, KEY_SECRET)).json()
    assert body["account_sid"] == ACCOUNT
    assert body["sid"] in listed(client)


def test_a_missing_friendly_name_is_20001(client) -> None:
    before = listed(client)
    for form in ({}, {"friendlyName": "wrong case"}, {"StickySender": "true"}):
        response = client.post(SERVICES, data=form, auth=AUTH)
        assert_error(
            response, 400, 20001, "Missing required parameter FriendlyName in the post body"
        )
    assert listed(client) == before


# Each changes nothing: checked by the test below.
INVALID = [
    ({"FriendlyName": ""}, 20001),
    ({"FriendlyName": "x" * 65}, 20001),
    ({"FriendlyName": "é" * 65}, 20001),
    ({"FriendlyName": "x" * 60_000}, 20001),
    ({"FriendlyName": "nul\x00byte"}, 20001),
    ({"ValidityPeriod": "0"}, 20001),
    ({"ValidityPeriod": "36001"}, 20001),
    ({"ValidityPeriod": "-1"}, 20001),
    ({"ValidityPeriod": "ten"}, 20001),
    ({"ValidityPeriod": "1.5"}, 20001),
    ({"ValidityPeriod": "9" * 400}, 20001),
    ({"InboundMethod": "PUT"}, 20001),
    ({"InboundMethod": "post"}, 20001),
    ({"FallbackMethod": "DELETE"}, 20001),
    ({"StickySender": "yes"}, 20001),
    ({"AreaCodeGeomatch": "1"}, 20001),
    ({"ScanMessageContent": "always"}, 20001),
    ({"InboundRequestUrl": "example.com/in"}, 20001),
    ({"InboundRequestUrl": "ftp://example.com/in"}, 20001),
    ({"InboundRequestUrl": "https://under_score.example.com/"}, 20001),
    ({"FallbackUrl": "https://exa mple.com/"}, 20001),
    ({"StatusCallback": "https://example.com/a b"}, 20001),
    ({"StatusCallback": "https://example.com/" + "a" * 4000}, 20001),
    ({"StatusCallback": "javascript:alert(1)"}, 20001),
    ({"StatusCallback": "https://example.com/\x11"}, 20001),  # a control character
    ({"InboundRequestUrl": "https://example.com/café"}, 20001),  # not percent-encoded
    ({"FallbackUrl": "https://example.com/%zz"}, 20001),
    ({"FallbackUrl": "https://example.com/#a#b"}, 20001),
    ({"InboundRequestUrl": "http://[::1/in"}, 20001),  # an IPv6 address left open
    ({"InboundRequestUrl": "http://[1::2::3]/in"}, 20001),  # two "::"
    ({"InboundRequestUrl": "http://[127.0.0.1]/in"}, 20001),  # IPv4 needs no brackets
    ({"StatusCallback": "http://[fe80::1%25lo]/s"}, 20001),  # no zone
    ({"Usecase": "alerts"}, 21713),
    ({"Usecase": "Marketing"}, 21713),
    ({"Usecase": ""}, 21713),
]


@pytest.mark.parametrize(("form", "code"), INVALID, ids=lambda v: plain_id(v, 40))
def test_invalid_settings_are_400_and_create_nothing(client, form: dict, code: int) -> None:
    before = listed(client)
    response = client.post(SERVICES, data={"FriendlyName": "A", **form}, auth=AUTH)
    body = assert_error(response, 400, code)
    assert len(body["message"]) < 500  # a huge value is not echoed whole
    assert listed(client) == before


@pytest.mark.parametrize(("form", "code"), INVALID, ids=lambda v: plain_id(v, 40))
def test_invalid_settings_on_update_are_400_and_change_nothing(
    client, form: dict, code: int
) -> None:
    before = client.get(service_path(SERVICE), auth=AUTH).json()
    response = client.post(service_path(SERVICE), data=form, auth=AUTH)
    assert_error(response, 400, code)
    assert client.get(service_path(SERVICE), auth=AUTH).json() == before


def test_a_bad_url_is_refused_saying_what_a_url_may_be_not_reciting_the_pattern(client) -> None:
    body = assert_error(create(client, InboundRequestUrl="example.com/in"), 400, 20001)
    assert body["message"] == (
        "Invalid parameter InboundRequestUrl: 'example.com/in' does not match the contract's "
        "pattern: " + SCHEMAS["WebhookUrl"]["description"]
    )


def test_the_usecase_error_is_twilios_21713(client) -> None:
    body = assert_error(create(client, Usecase="alerts"), 400, 21713)
    assert body["message"].startswith("Messaging Service Use Case is Invalid")
    for usecase in SCHEMAS["Usecase"]["enum"]:
        assert usecase in body["message"]


@pytest.mark.parametrize(
    "form",
    [
        {"FriendlyName": "x" * 64},
        {"FriendlyName": "😀" * 64},  # characters, not bytes
        {"ValidityPeriod": "1"},
        {"ValidityPeriod": "36000"},
        {"InboundRequestUrl": "http://localhost"},
        {"InboundRequestUrl": "https://a.example.com:65535/p?q=1&r=%20#f"},
        {"InboundRequestUrl": "https://user:pa%20ss@example.com/in"},  # webhook credentials
        {"InboundRequestUrl": "http://[::1]:8080/in"},  # an IPv6 address, as the allow-list's
        {"FallbackUrl": "https://u:p@[2001:db8::ffff:127.0.0.1]/f"},
        {"StatusCallback": "https://example.com/caf%C3%A9?a=(1)&b=~x"},
        {"StickySender": "True"},
    ],
    ids=lambda v: plain_id(v, 40),
)
def test_values_at_the_limits_are_accepted(client, form: dict) -> None:
    assert client.post(SERVICES, data={"FriendlyName": "A", **form}, auth=AUTH).status_code == 201


def test_unknown_parameters_are_ignored(client) -> None:
    response = create(client, AccountSid=OTHER_ACCOUNT, Sid=SERVICE, Color="blue")
    assert response.status_code == 201
    assert response.json()["account_sid"] == ACCOUNT
    assert response.json()["sid"] != SERVICE


def test_a_body_that_is_not_a_form_is_read_as_no_parameters(client) -> None:
    before = client.get(SERVICES, auth=AUTH).json()["services"]
    response = client.post(SERVICES, json={"FriendlyName": "A"}, auth=AUTH)
    assert_error(response, 400, 20001, "Missing required parameter FriendlyName in the post body")
    assert client.get(SERVICES, auth=AUTH).json()["services"] == before


# -- fetch, update, delete -----------------------------------------------------------------------
def test_fetch_a_fixture_service(client) -> None:
    body = client.get(service_path(SERVICE), auth=AUTH).json()
    assert body["sid"] == SERVICE and body["friendly_name"] == "Demo notifications"
    assert body["validity_period"] == CREATE["ValidityPeriod"]["default"]


@pytest.mark.parametrize("sid", ["MG" + "f" * 32, "undefined", "None", "PN" + "0" * 32])
def test_an_unknown_service_is_20404_naming_the_path_without_the_version(client, sid) -> None:
    message = f"The requested resource /Services/{sid} was not found"
    assert_error(client.get(service_path(sid), auth=AUTH), 404, 20404, message)
    response = client.post(service_path(sid), data={"FriendlyName": "A"}, auth=AUTH)
    assert_error(response, 404, 20404, message)
    assert_error(client.delete(service_path(sid), auth=AUTH), 404, 20404, message)


def test_update_answers_200_with_the_whole_service_changed_as_asked(client) -> None:
    created = create(client, InboundRequestUrl="https://example.com/in").json()
    response = client.post(
        service_path(created["sid"]),
        data={"FriendlyName": "Renamed", "StickySender": "false", "InboundRequestUrl": ""},
        auth=AUTH,
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == FIELDS
    assert body["friendly_name"] == "Renamed"
    assert body["sticky_sender"] is False
    assert body["inbound_request_url"] is None  # an empty URL clears it
    unchanged = set(FIELDS) - {"friendly_name", "sticky_sender", "inbound_request_url"}
    unchanged -= {"date_updated"}
    assert {k: body[k] for k in unchanged} == {k: created[k] for k in unchanged}
    assert client.get(service_path(created["sid"]), auth=AUTH).json() == body


def test_an_update_without_parameters_changes_no_setting(client) -> None:
    created = create(client).json()
    response = client.post(service_path(created["sid"]), auth=AUTH)
    assert response.status_code == 200
    assert {k: v for k, v in response.json().items() if k != "date_updated"} == {
        k: v for k, v in created.items() if k != "date_updated"
    }


def test_delete_is_204_with_an_empty_body_and_then_404(client) -> None:
    sid = create(client).json()["sid"]
    response = client.delete(service_path(sid), auth=AUTH)
    assert response.status_code == 204
    assert response.content == b""
    assert_error(client.get(service_path(sid), auth=AUTH), 404, 20404)
    assert_error(client.delete(service_path(sid), auth=AUTH), 404, 20404)
    assert sid not in listed(client)


def test_delete_empties_the_pool_and_the_numbers_can_join_another(client) -> None:
    for number in NUMBERS[:3]:
        assert add(client, number).status_code == 201
    assert client.delete(service_path(SERVICE), auth=AUTH).status_code == 204
    pool = path_for("ListPhoneNumber", ServiceSid=SERVICE)
    assert_error(client.get(pool, auth=AUTH), 404, 20404)
    for number in NUMBERS[:3]:  # still the account's, and in no pool
        assert add(client, number, service=SERVICE2).status_code == 201


def test_a_new_service_takes_numbers_through_its_phone_numbers_link(client) -> None:
    created = create(client).json()
    pool_url = created["links"]["phone_numbers"]
    assert client.get(pool_url, auth=AUTH).json()["phone_numbers"] == []
    response = client.post(pool_url, data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH)
    assert response.status_code == 201
    assert response.json()["service_sid"] == created["sid"]


# -- the list -----------------------------------------------------------------------------------
def test_the_list_and_its_meta(client) -> None:
    response = client.get(SERVICES, auth=AUTH)
    assert response.status_code == 200
    url = f"{BASE}{SERVICES}?PageSize=50&Page=0"
    body = response.json()
    assert [service["sid"] for service in body["services"]] == [SERVICE, SERVICE2]
    assert body["services"][0] == client.get(service_path(SERVICE), auth=AUTH).json()
    assert body["meta"] == {
        "page": 0,
        "page_size": 50,
        "first_page_url": url,
        "previous_page_url": None,
        "url": url,
        "next_page_url": None,
        "key": "services",
    }


def test_list_meta_on_a_middle_page(client) -> None:
    third = create(client).json()["sid"]
    first = client.get(SERVICES, params={"PageSize": 1}, auth=AUTH).json()
    middle = client.get(first["meta"]["next_page_url"], auth=AUTH).json()
    meta = middle["meta"]
    assert [s["sid"] for s in middle["services"]] == [SERVICE2]
    assert meta["page"] == 1 and meta["page_size"] == 1 and meta["key"] == "services"
    assert meta["url"] == first["meta"]["next_page_url"]
    assert meta["first_page_url"] == f"{BASE}{SERVICES}?PageSize=1&Page=0"
    for name in ("previous_page_url", "next_page_url"):
        parts = urlsplit(meta[name])
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE}{SERVICES}"
    assert parse_qs(urlsplit(meta["next_page_url"]).query)["Page"] == ["2"]
    back = client.get(meta["previous_page_url"], auth=AUTH).json()
    assert back["services"] == first["services"] and back["meta"]["previous_page_url"] is None
    last = client.get(meta["next_page_url"], auth=AUTH).json()
    assert [s["sid"] for s in last["services"]] == [third]
    assert last["meta"]["next_page_url"] is None


@pytest.mark.parametrize("page_size", [1, 2, 3, 1000, 5000])
def test_walking_next_page_url_visits_every_service_exactly_once(client, page_size) -> None:
    created = [create(client, FriendlyName=f"S{i}").json()["sid"] for i in range(5)]
    seen, url, pages = [], f"{SERVICES}?PageSize={page_size}", 0
    while url:
        body = client.get(url, auth=AUTH).json()
        assert body["meta"]["page"] == pages
        assert body["meta"]["page_size"] == min(page_size, 1000)
        seen += [service["sid"] for service in body["services"]]
        url, pages = body["meta"]["next_page_url"], pages + 1
    assert seen == [SERVICE, SERVICE2, *created]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"PageSize": 0}, 20001),
        ({"PageSize": -1}, 20001),
        ({"PageSize": "ten"}, 20001),
        ({"PageSize": "9" * 5000}, 20001),
        ({"Page": -1}, 20001),
        ({"Page": 10**12}, 20001),
        ({"PageToken": "PAforged"}, 21481),
        ({"PageToken": "PA" + "A" * 60_000}, 21481),
        ({"PageToken": "not-a-token"}, 21481),
    ],
    ids=lambda v: plain_id(v, 40),
)
def test_bad_paging_parameters_are_400(client, query: dict, code: int) -> None:
    assert_error(client.get(SERVICES, params=query, auth=AUTH), 400, code)


def test_a_page_token_of_another_list_is_21481(client) -> None:
    for number in NUMBERS[:2]:
        add(client, number)
    pool_next = client.get(
        path_for("ListPhoneNumber", ServiceSid=SERVICE), params={"PageSize": 1}, auth=AUTH
    ).json()["meta"]["next_page_url"]
    token = parse_qs(urlsplit(pool_next).query)["PageToken"][0]
    response = client.get(SERVICES, params={"PageToken": token}, auth=AUTH)
    assert_error(response, 400, 21481, "Invalid PageToken")


# -- authentication and isolation -------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", SERVICES),
        ("POST", SERVICES),
        ("GET", service_path(SERVICE)),
        ("POST", service_path(SERVICE)),
        ("DELETE", service_path(SERVICE)),
    ],
)
@pytest.mark.parametrize("auth", [None, (ACCOUNT, "wrong"), (KEY, "wrong")])
def test_missing_or_wrong_credentials_are_401_and_change_nothing(client, method, path, auth):
    before = client.get(service_path(SERVICE), auth=AUTH).json()
    response = client.request(method, path, data={"FriendlyName": "X"}, auth=auth)
    assert assert_error(response, 401, 20003)["detail"]
    assert client.get(service_path(SERVICE), auth=AUTH).json() == before
    assert listed(client) == [SERVICE, SERVICE2]


def test_another_account_gets_404_and_changes_nothing(client) -> None:
    mine = create(client, FriendlyName="Mine").json()
    for sid in (mine["sid"], SERVICE):
        before = client.get(service_path(sid), auth=AUTH).json()
        for method, data in (("GET", None), ("POST", {"FriendlyName": "Theirs"}), ("DELETE", None)):
            response = client.request(method, service_path(sid), data=data, auth=OTHER)
            assert_error(response, 404, 20404)
            assert ACCOUNT not in response.text
        assert client.get(service_path(sid), auth=AUTH).json() == before
    assert listed(client, auth=OTHER) == [OTHER_SERVICE]
    theirs = create(client, auth=OTHER).json()
    assert theirs["account_sid"] == OTHER_ACCOUNT
    assert theirs["sid"] not in listed(client)
    assert_error(client.get(service_path(OTHER_SERVICE), auth=AUTH), 404, 20404)


# -- the per-account bound ------------------------------------------------------------------------
def test_an_account_holds_at_most_the_specs_bound_of_services(client, backend) -> None:
    for i in range(LIMIT - 3):  # the demo account has 2; fill all but one place, without HTTP
        model.create(backend, ACCOUNT, {"FriendlyName": f"filler {i}"})
    assert create(client, FriendlyName="last place").status_code == 201
    for _ in range(3):
        response = create(client, FriendlyName="one too many")
        body = assert_error(response, 400, 20001)
        assert f"{LIMIT} Messaging Services" in body["message"]
    page = client.get(SERVICES, params={"PageSize": 1000}, auth=AUTH).json()
    assert len(page["services"]) == min(LIMIT, 1000)
    assert create(client, auth=OTHER).status_code == 201  # the bound is per account
    assert client.delete(service_path(SERVICE), auth=AUTH).status_code == 204
    assert create(client, FriendlyName="room again").status_code == 201
