"""Messages over HTTP, through the test client (every response checked against the spec)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import delete, update

from tests.support import (
    ACCOUNT,
    AUTH,
    KEY,
    KEY_SECRET,
    OTHER_ACCOUNT,
    OTHER_TOKEN,
    SERVICE,
    assert_error,
)
from twilio_fake import clock, fixtures, spec
from twilio_fake.resources.messages import capacity
from twilio_fake.resources.messages.tables import messages

DEMO, OTHER = fixtures.demo()
OTHER_AUTH = (OTHER_ACCOUNT, OTHER_TOKEN)
SENDER = next(n for n in DEMO.incoming_phone_numbers if {"SMS", "MMS"} <= set(n.capabilities))
TO = "+14155550199"
RFC_2822 = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000")
MESSAGE_FIELDS = set(spec.contract()["components"]["schemas"]["Message"]["required"])
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


@pytest.fixture(autouse=True)
def frozen_clocks(backend) -> None:
    """Statuses move only when a test says so: on running clocks the app's dispatcher would move
    a message (queued to sending after a tenth of a second) between two requests of a test."""
    with backend.db.write() as conn:
        for account in (ACCOUNT, OTHER_ACCOUNT):
            # From real time: a PostgreSQL database outlives a test, and with it a clock moved.
            conn.execute(
                delete(clock.account_clocks).where(clock.account_clocks.c.account_sid == account)
            )
            clock.freeze(conn, account)


def messages_path(account: str = ACCOUNT, sid: str | None = None) -> str:
    path = f"/2010-04-01/Accounts/{account}/Messages"
    return f"{path}/{sid}.json" if sid is not None else f"{path}.json"


def send(client, auth=AUTH, account: str | None = None, **form: object):
    return client.post(messages_path(account or auth[0]), data=form, auth=auth)


def sent(client, **form: object) -> dict:
    form.setdefault("To", TO)
    if "From" not in form and "MessagingServiceSid" not in form:
        form["From"] = SENDER.phone_number
    form.setdefault("Body", "Hello")
    response = send(client, **form)
    assert response.status_code == 201, response.text
    return response.json()


def not_found_at(response, path: str) -> None:
    assert_error(response, 404, 20404, f"The requested resource {path} was not found")


def set_status(backend, sid: str, status: str) -> None:
    with backend.db.write() as conn:
        conn.execute(update(messages).where(messages.c.sid == sid).values(status=status))


# -- create --------------------------------------------------------------------------------------
def test_send_answers_201_with_every_field_of_twilios_message(client, backend) -> None:
    with backend.db.read() as conn:
        now = clock.read(conn, ACCOUNT).datetime.replace(tzinfo=UTC)  # frozen (frozen_clocks)
    response = send(client, To=TO, From=SENDER.phone_number, Body="Hello 👋")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == MESSAGE_FIELDS
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert (body["status"], body["direction"], body["api_version"]) == (
        "queued",
        "outbound-api",
        "2010-04-01",
    )
    assert (body["to"], body["from"], body["body"]) == (TO, SENDER.phone_number, "Hello 👋")
    assert (body["num_segments"], body["num_media"]) == ("1", "0")
    assert body["messaging_service_sid"] is None
    assert (body["price"], body["price_unit"], body["error_code"], body["error_message"]) == (
        None,
        None,
        None,
        None,
    )
    assert RFC_2822.fullmatch(body["date_created"])
    created = parsedate_to_datetime(body["date_created"])
    assert created == now  # the account's clock's time
    assert body["date_sent"] == body["date_updated"] == body["date_created"]
    assert body["uri"] == messages_path(sid=body["sid"])
    base = body["uri"].removesuffix(".json")
    assert body["subresource_uris"] == {"media": f"{base}/Media.json"}
    fetched = client.get(body["uri"], auth=AUTH).json()
    assert fetched["subresource_uris"] == {
        "media": f"{base}/Media.json",
        "feedback": f"{base}/Feedback.json",
    }
    assert {**fetched, "subresource_uris": None} == {**body, "subresource_uris": None}


def test_send_through_a_service_is_accepted_with_no_sender_and_no_segments(client) -> None:
    body = sent(client, MessagingServiceSid=SERVICE, Body="Hi")
    assert (body["status"], body["from"], body["num_segments"]) == ("accepted", None, "0")
    assert body["messaging_service_sid"] == SERVICE
    through_from = sent(client, From=SERVICE)  # an MG SID as From is the service
    assert (through_from["status"], through_from["messaging_service_sid"]) == ("accepted", SERVICE)


def test_send_with_an_api_key(client) -> None:
    response = send(
        client, (KEY, KEY_SECRET), account=ACCOUNT, To=TO, From=SENDER.phone_number, Body="x"
    )
    assert response.status_code == 201
    assert response.json()["account_sid"] == ACCOUNT


def test_media_urls_are_given_by_repeating_the_parameter(client) -> None:
    urls = ["https://example.com/a.png", "https://example.com/b.png"]
    body = sent(client, MediaUrl=urls, Body="")
    assert re.fullmatch(r"MM[0-9a-f]{32}", body["sid"]) and body["num_media"] == "2"
    too_many = ["https://example.com/a.png"] * (spec.limit("media-per-message") + 1)
    assert_error(send(client, To=TO, From=SENDER.phone_number, MediaUrl=too_many), 400, 21623)


def test_a_single_valued_parameter_given_twice_is_refused(client) -> None:
    response = client.post(
        messages_path(),
        content=f"To={TO}&To={TO}&From=%2B15005550006&Body=x".replace("+", "%2B"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=AUTH,
    )
    assert_error(response, 400, 20001)


@pytest.mark.parametrize(
    ("form", "status", "code", "message"),
    [
        ({}, 400, 21604, "A 'To' phone number is required."),
        ({"Body": "x"}, 400, 21604, None),
        ({"To": TO, "Body": "x"}, 400, 21603, "A 'From' phone number is required."),
        ({"To": TO, "From": "+15005550006"}, 400, 21602, "Message body is required."),
        ({"To": TO, "MessagingServiceSid": SERVICE}, 400, 21619, None),
        ({"To": "x", "From": "x", "Body": "a" * 1601}, 400, 21617, None),
        ({"To": "x", "From": "x", "MediaUrl": "not a url"}, 400, 21620, None),
        (
            {"To": "x", "From": "x", "Body": "x", "StatusCallback": "https://a_b.com/"},
            400,
            21609,
            None,
        ),
        (
            {"To": "x", "From": "x", "Body": "x", "StatusCallback": "http://[::1::]/"},
            400,
            21609,
            None,
        ),
        ({"To": "x", "From": "x", "Body": "x", "ScheduleType": "fixed"}, 400, 35118, None),
        ({"To": "x", "MessagingServiceSid": "MG1", "Body": "x"}, 400, 21705, None),
        ({"To": "x", "MessagingServiceSid": "MG" + "f" * 32, "Body": "x"}, 400, 21701, None),
        (
            {"To": "123", "From": "x", "Body": "x"},
            400,
            21211,
            "The 'To' number 123 is not a valid phone number.",
        ),
        ({"To": "+15005550003", "From": "x", "Body": "x"}, 400, 21408, None),
        ({"To": "+15005550004", "From": "x", "Body": "x"}, 400, 21610, None),
        ({"To": TO, "From": "+15005550001", "Body": "x"}, 400, 21212, None),
        ({"To": TO, "From": "+15005550007", "Body": "x"}, 400, 21606, None),
        ({"To": TO, "From": "+15005550008", "Body": "x"}, 429, 21611, "SMS queue is full."),
        ({"To": TO, "From": "+14155550102", "Body": "x"}, 400, 21606, None),  # the other account's
    ],
)
def test_send_refuses_with_twilios_codes_in_order(client, form, status, code, message) -> None:
    assert_error(send(client, **form), status, code, message)
    assert client.get(messages_path(), auth=AUTH).json()["messages"] == []


def test_a_full_queue_says_when_to_retry(client) -> None:
    response = send(client, To=TO, From="+15005550008", Body="x")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_a_malformed_parameter_is_20001(client) -> None:
    assert_error(
        send(client, To=TO, From=SENDER.phone_number, Body="x", ValidityPeriod=0), 400, 20001
    )
    assert_error(
        send(client, To=TO, From=SENDER.phone_number, Body="x", ScheduleType="later"), 400, 20001
    )


# -- list ----------------------------------------------------------------------------------------
def test_the_list_has_exactly_the_2010_paging_keys_and_is_newest_first(client) -> None:
    sids = [sent(client, Body=f"m{i}")["sid"] for i in range(3)]
    body = client.get(messages_path(), params={"PageSize": 2}, auth=AUTH).json()
    assert set(body) == PAGING_KEYS | {"messages"}
    assert [m["sid"] for m in body["messages"]] == [sids[2], sids[1]]
    assert (body["page"], body["page_size"], body["start"], body["end"]) == (0, 2, 0, 1)
    assert body["previous_page_uri"] is None
    nxt = client.get(body["next_page_uri"], auth=AUTH).json()
    assert [m["sid"] for m in nxt["messages"]] == [sids[0]]
    assert (nxt["page"], nxt["start"], nxt["end"], nxt["next_page_uri"]) == (1, 2, 2, None)
    back = client.get(nxt["previous_page_uri"], auth=AUTH).json()
    assert [m["sid"] for m in back["messages"]] == [sids[2], sids[1]]


def test_a_page_past_the_first_without_its_token_is_refused(client) -> None:
    """twilio-python's `messages.page(page_number=1)` sends no token: Twilio answers 400 20001
    (twilio-python issue 395); the first page may be asked for by its number."""
    sent(client, Body="m")
    refused = client.get(messages_path(), params={"Page": 1}, auth=AUTH)
    assert_error(refused, 400, 20001, "PageToken is required for paging.")
    first = client.get(messages_path(), params={"Page": 0}, auth=AUTH)
    assert first.status_code == 200 and len(first.json()["messages"]) == 1


def test_a_json_body_is_a_send_without_parameters_and_stores_nothing(client) -> None:
    """Twilio reads a form body only: a JSON body's `To` is not seen (21604)."""
    form = {"To": TO, "From": SENDER.phone_number, "Body": "x"}
    response = client.post(messages_path(), json=form, auth=AUTH)
    assert_error(response, 400, 21604, "A 'To' phone number is required.")
    assert client.get(messages_path(), auth=AUTH).json()["messages"] == []


@pytest.mark.parametrize("auth", [(ACCOUNT, "wrong"), None], ids=["wrong token", "none"])
def test_a_401_on_this_api_says_authenticate(client, auth) -> None:
    """The 2010-04-01 API's 401, as recorded whole: "Authenticate" and the `detail`."""
    body = assert_error(client.get(messages_path(), auth=auth), 401, 20003, "Authenticate")
    assert body["detail"] == "Your AccountSid or AuthToken was incorrect."


def test_a_path_account_that_is_no_sid_is_404_before_the_credentials(client) -> None:
    """Twilio answered user and path `invalid_sid` with 404 naming the path, not 401."""
    path = "/2010-04-01/Accounts/invalid_sid/Messages.json"
    not_found_at(client.post(path, data={"To": "+14155550111"}, auth=("invalid_sid", "t")), path)
    not_found_at(client.get(path, auth=AUTH), path)
    well_formed = messages_path("AC" + "f" * 32)
    assert_error(client.get(well_formed, auth=("AC" + "f" * 32, "t")), 401, 20003)


def test_an_empty_list(client) -> None:
    body = client.get(messages_path(), auth=AUTH).json()
    assert body["messages"] == [] and body["end"] == 0 and body["next_page_uri"] is None
    assert body["page_size"] == spec.page_size_default()


def test_the_date_filters_are_read_apart_and_carried_in_page_uris(client, backend) -> None:
    sids = {}
    for day in (14, 15, 16):
        with backend.db.write() as conn:
            clock.freeze(conn, ACCOUNT)
            now = clock.read(conn, ACCOUNT).now
            clock.advance(conn, ACCOUNT, datetime(2026, 1, day, 12, tzinfo=UTC).timestamp() - now)
        sids[day] = [sent(client)["sid"], sent(client)["sid"]]
    query = {"DateSent>": "2026-01-15", "DateSent<": "2026-01-15", "PageSize": 1}
    body = client.get(messages_path(), params=query, auth=AUTH).json()
    assert [m["sid"] for m in body["messages"]] == [sids[15][1]]
    assert parse_qs(urlsplit(body["next_page_uri"]).query)["DateSent>"] == ["2026-01-15"]
    assert parse_qs(urlsplit(body["next_page_uri"]).query)["DateSent<"] == ["2026-01-15"]
    nxt = client.get(body["next_page_uri"], auth=AUTH).json()
    assert [m["sid"] for m in nxt["messages"]] == [sids[15][0]] and nxt["next_page_uri"] is None
    # The SDKs send a date as its midnight, 2026-01-16T00:00:00Z: a time names its day.
    on = client.get(messages_path(), params={"DateSent": "2026-01-16T00:00:00Z"}, auth=AUTH)
    assert [m["sid"] for m in on.json()["messages"]] == sids[16][::-1]
    after = client.get(messages_path(), params={"DateSent>": "2026-01-16"}, auth=AUTH).json()
    assert [m["sid"] for m in after["messages"]] == sids[16][::-1]
    before = client.get(messages_path(), params={"DateSent<": "2026-01-14"}, auth=AUTH).json()
    assert [m["sid"] for m in before["messages"]] == sids[14][::-1]


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-1-5", "2026-13-05", "0000-01-01", "2026-01-01T24:00:00Z"]
)
def test_a_date_filter_that_is_not_a_date_is_20001(client, value: str) -> None:
    for name in ("DateSent", "DateSent<", "DateSent>"):
        response = client.get(messages_path(), params={name: value}, auth=AUTH)
        assert_error(response, 400, 20001)


def test_every_date_the_contract_admits_is_taken(client) -> None:
    for value in ("2026-02-30", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        for name in ("DateSent", "DateSent<", "DateSent>"):
            response = client.get(messages_path(), params={name: value}, auth=AUTH)
            assert response.status_code == 200, response.text


def test_the_list_filters_by_to_and_from(client) -> None:
    a = sent(client, To="+14155550198")["sid"]
    sent(client)
    body = client.get(messages_path(), params={"To": "+14155550198"}, auth=AUTH).json()
    assert [m["sid"] for m in body["messages"]] == [a]
    assert parse_qs(urlsplit(body["uri"]).query)["To"] == ["+14155550198"]
    frm = client.get(messages_path(), params={"From": SENDER.phone_number}, auth=AUTH).json()
    assert len(frm["messages"]) == 2


def test_a_token_of_another_list_is_21481(client) -> None:
    for _ in range(2):
        sent(client)
    token_uri = client.get(messages_path(), params={"PageSize": 1}, auth=AUTH).json()[
        "next_page_uri"
    ]
    token = parse_qs(urlsplit(token_uri).query)["PageToken"][0]
    response = client.get(messages_path(), params={"PageToken": token, "To": TO}, auth=AUTH)
    assert_error(response, 400, 21481)


# -- accounts ------------------------------------------------------------------------------------
def test_another_accounts_path_or_message_is_not_found(client) -> None:
    mine = sent(client)
    for method, path in [
        ("get", messages_path(OTHER_ACCOUNT)),
        ("post", messages_path(OTHER_ACCOUNT)),
        ("get", messages_path(OTHER_ACCOUNT, mine["sid"])),
        ("post", messages_path(OTHER_ACCOUNT, mine["sid"])),
        ("delete", messages_path(OTHER_ACCOUNT, mine["sid"])),
    ]:
        response = client.request(
            method, path, auth=AUTH, data={"Body": ""} if method == "post" else None
        )
        not_found_at(response, path)
    theirs = messages_path(OTHER_ACCOUNT, mine["sid"])
    not_found_at(client.get(theirs, auth=OTHER_AUTH), theirs)  # their own path, my message
    assert client.get(messages_path(OTHER_ACCOUNT), auth=OTHER_AUTH).json()["messages"] == []
    for sid in ("SM" + "0" * 32, "nonsense"):
        not_found_at(client.get(messages_path(sid=sid), auth=AUTH), messages_path(sid=sid))


# -- update, delete ------------------------------------------------------------------------------
def test_redact_and_the_update_rules(client) -> None:
    message = sent(client, Body="secret")
    path = message["uri"]
    redacted = client.post(path, data={"Body": ""}, auth=AUTH)
    assert redacted.status_code == 200, redacted.text
    assert redacted.json()["body"] == "" and redacted.json()["sid"] == message["sid"]
    assert client.get(path, auth=AUTH).json()["body"] == ""
    assert_error(client.post(path, data={}, auth=AUTH), 400, 30400)
    assert_error(client.post(path, data={"Body": "new"}, auth=AUTH), 400, 30400)
    assert_error(client.post(path, data={"Body": "", "Status": "canceled"}, auth=AUTH), 400, 30400)
    assert_error(client.post(path, data={"Status": "canceled"}, auth=AUTH), 400, 30409)
    assert_error(client.post(path, data={"Status": "sent"}, auth=AUTH), 400, 20001)


def test_cancel_a_scheduled_message(client) -> None:
    send_at = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = sent(client, MessagingServiceSid=SERVICE, ScheduleType="fixed", SendAt=send_at)
    assert (message["status"], message["date_sent"]) == ("scheduled", None)
    canceled = client.post(message["uri"], data={"Status": "canceled"}, auth=AUTH)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert_error(client.post(message["uri"], data={"Status": "canceled"}, auth=AUTH), 400, 30409)
    too_soon = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = send(
        client, To=TO, MessagingServiceSid=SERVICE, Body="x", ScheduleType="fixed", SendAt=too_soon
    )
    assert_error(response, 400, 35114)
    response = send(client, To=TO, MessagingServiceSid=SERVICE, Body="x", ScheduleType="fixed")
    assert_error(response, 400, 35111)


@pytest.mark.parametrize(
    "send_at",
    ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-01:00"],
)
def test_a_send_at_whose_utc_falls_outside_the_calendar_is_refused(client, send_at) -> None:
    # Read as UTC, these times fall before year 1 or after 9999: 35114 as for any time out of
    # range, never a server error.
    response = send(
        client, To=TO, MessagingServiceSid=SERVICE, Body="x", ScheduleType="fixed", SendAt=send_at
    )
    assert_error(response, 400, 35114)
    assert client.get(messages_path(), auth=AUTH).json()["messages"] == []


def test_delete_once_final(client, backend) -> None:
    message = sent(client)
    path = message["uri"]
    assert_error(client.delete(path, auth=AUTH), 400, 20009)
    set_status(backend, message["sid"], "delivered")
    response = client.delete(path, auth=AUTH)
    assert response.status_code == 204 and response.content == b""
    not_found_at(client.get(path, auth=AUTH), path)
    not_found_at(client.delete(path, auth=AUTH), path)
    assert client.get(messages_path(), auth=AUTH).json()["messages"] == []


def test_a_status_set_later_shows_in_the_resource(client, backend) -> None:
    message = sent(client)
    with backend.db.write() as conn:
        conn.execute(
            update(messages)
            .where(messages.c.sid == message["sid"])
            .values(
                status="undelivered",
                error_code=30003,
                error_message="Unreachable destination handset",
                price="-0.00790",
                price_unit="USD",
            )
        )
    body = client.get(message["uri"], auth=AUTH).json()
    assert (body["status"], body["error_code"], body["error_message"]) == (
        "undelivered",
        30003,
        "Unreachable destination handset",
    )
    assert (body["price"], body["price_unit"]) == ("-0.00790", "USD")


# -- the per-account bound ------------------------------------------------------------------------
def test_an_account_holds_at_most_the_bound_and_a_delete_makes_room(
    client, backend, monkeypatch
) -> None:
    monkeypatch.setattr(capacity, "most", lambda: 2)
    first = sent(client)
    inbound = {"from": "+12125550123", "to": SENDER.phone_number, "body": "Hi"}
    assert client.post("/_fake/inbound", json=inbound).status_code == 201
    body = assert_error(send(client, To=TO, From=SENDER.phone_number, Body="3rd"), 400, 20001)
    assert body["message"] == (
        "This account already holds 2 messages, the most the fake keeps for one account; "
        "delete some first (a message whose status is final can be deleted)"
    )
    assert_error(client.post("/_fake/inbound", json=inbound), 400, 20001)
    assert len(client.get(messages_path(), auth=AUTH).json()["messages"]) == 2
    assert send(client, auth=OTHER_AUTH, To=TO, From="+15005550006", Body="x").status_code == 201
    set_status(backend, first["sid"], "delivered")
    assert client.delete(first["uri"], auth=AUTH).status_code == 204
    sent(client, Body="room again")


# -- the contract --------------------------------------------------------------------------------
def test_the_served_contract_describes_the_status_callback(client) -> None:
    served = client.get("/openapi.json").json()
    create = served["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
    callback = create["callbacks"]["MessageStatus"]["{$request.body#/StatusCallback}"]["post"]
    assert "application/x-www-form-urlencoded" in callback["requestBody"]["content"]
    assert [p["name"] for p in callback["parameters"]] == ["X-Twilio-Signature"]
    assert served["info"]["version"] == spec.contract()["info"]["version"]


# -- inputs no database here can store -----------------------------------------------------------
@pytest.mark.parametrize("field", ["Body", "To", "From", "StatusCallback"])
def test_a_nul_character_is_a_clear_400_that_stores_nothing(client, field: str) -> None:
    """PostgreSQL cannot store NUL in text: a NUL anywhere must be refused, not a 500."""
    form = {"To": TO, "From": SENDER.phone_number, "Body": "Hello"}
    form[field] = form.get(field, "x") + "\x00"
    response = send(client, **form)
    assert response.status_code == 400, response.text
    assert client.get(messages_path(), auth=AUTH).json()["messages"] == []


def test_a_webhook_urls_password_is_not_kept_in_the_request_journal(client) -> None:
    """The callbacks journal never writes a URL's credentials down; the request journal kept
    them as they came (a StatusCallback's, an SmsUrl's), for anyone who reads /_fake/requests."""
    callback = "http://receiver:s3cr%40t@127.0.0.1:8080/status?x=1"
    sent(client, StatusCallback=callback)
    text = client.get("/_fake/requests").text
    assert "s3cr" not in text and "receiver:" not in text
    (entry,) = client.get("/_fake/requests").json()["requests"]
    assert entry["form"]["StatusCallback"] == "http://***@127.0.0.1:8080/status?x=1"
