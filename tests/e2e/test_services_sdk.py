"""End to end: twilio-python drives Messaging Services on a real server process, and hostile
input to them gets a Twilio-shaped 4xx from that process, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from twilio.rest import Client

from tests.support import (
    ACCOUNT,
    AUTH,
    NUMBERS,
    OTHER_ACCOUNT,
    OTHER_SERVICE,
    OTHER_TOKEN,
    SERVICE,
    SERVICE2,
    TOKEN,
    Server,
    raises,
    scale,
    sdk,
    serve,
    stop_cleanly,
    survived,
)
from twilio_fake.spec import contract, limit
from twilio_fake.urls import path_for

CREATE = contract()["components"]["schemas"]["CreateServiceForm"]["properties"]
LIMIT = limit("services-per-account")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve(tmp_path_factory.mktemp("e2e-services") / "fake.sqlite3")
    yield server
    stop_cleanly([server])  # and no 500 or traceback in its log


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Client:
    """An SDK client on the fake, which starts every test from the demo fixtures."""
    monkeypatch.delenv("TWILIO_EDGE", raising=False)  # they would rewrite the host name
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    requests.post(f"{server.url}/_fake/reset", timeout=5).raise_for_status()
    return sdk(server, ACCOUNT, TOKEN)


def test_create_list_fetch_update_delete(client: Client, server: Server) -> None:
    services = client.messaging.v1.services
    created = services.create(friendly_name="Appointment reminders", usecase="notifications")
    assert created.sid.startswith("MG") and created.account_sid == ACCOUNT
    assert created.friendly_name == "Appointment reminders"
    assert created.usecase == "notifications"
    assert created.sticky_sender is CREATE["StickySender"]["default"]
    assert created.validity_period == CREATE["ValidityPeriod"]["default"]
    assert created.inbound_method == CREATE["InboundMethod"]["default"]
    assert created.inbound_request_url is None
    assert isinstance(created.date_created, datetime) and created.date_created.tzinfo == UTC
    assert created.url == server.url + path_for("FetchService", Sid=created.sid)
    assert created.links["phone_numbers"] == server.url + path_for(
        "ListPhoneNumber", ServiceSid=created.sid
    )

    assert [s.sid for s in services.list()] == [SERVICE, SERVICE2, created.sid]
    assert [s.sid for s in services.stream(page_size=1)] == [SERVICE, SERVICE2, created.sid]
    assert [s.sid for s in services.list(limit=2, page_size=5000)] == [SERVICE, SERVICE2]

    fetched = services(created.sid).fetch()
    assert (fetched.sid, fetched.friendly_name, fetched.date_created) == (
        created.sid,
        created.friendly_name,
        created.date_created,
    )

    updated = services(created.sid).update(
        friendly_name="Reminders (EU)",
        sticky_sender=False,
        validity_period=600,
        inbound_request_url="https://example.com/sms",
        inbound_method="GET",
    )
    assert updated.friendly_name == "Reminders (EU)"
    assert updated.sticky_sender is False
    assert updated.validity_period == 600
    assert updated.inbound_request_url == "https://example.com/sms"
    assert updated.inbound_method == "GET"
    assert updated.usecase == "notifications"  # not given: unchanged
    assert services(created.sid).fetch().friendly_name == "Reminders (EU)"

    assert services(created.sid).delete() is True
    with raises(404, 20404):
        services(created.sid).fetch()
    with raises(404, 20404):
        services(created.sid).update(friendly_name="again")
    with raises(404, 20404):
        services(created.sid).delete()


def test_a_created_service_pools_numbers_and_deleting_it_frees_them(client: Client) -> None:
    service = client.messaging.v1.services.create(friendly_name="Pool")
    pool = client.messaging.v1.services(service.sid).phone_numbers
    pool.create(phone_number_sid=NUMBERS[0])
    pool.create(phone_number_sid=NUMBERS[1])
    assert [n.sid for n in pool.list()] == NUMBERS[:2]
    client.messaging.v1.services(service.sid).delete()
    with raises(404, 20404):
        pool(NUMBERS[0]).fetch()
    # Still the account's numbers, in no pool: another service takes them.
    other = client.messaging.v1.services(SERVICE2).phone_numbers
    assert other.create(phone_number_sid=NUMBERS[0]).service_sid == SERVICE2


def test_rule_errors_reach_the_sdk_with_twilios_codes(client: Client, server: Server) -> None:
    services = client.messaging.v1.services
    with raises(400, 21713):
        services.create(friendly_name="A", usecase="alerts")
    with raises(400, 20001):
        services.create(friendly_name="x" * 65)
    with raises(400, 20001):
        services.create(friendly_name="A", validity_period=36001)
    with raises(400, 20001):
        services.create(friendly_name="A", status_callback="not a url")
    with raises(400, 21713):
        services(SERVICE).update(usecase="MARKETING")
    with raises(404, 20404):  # another account's service is nobody's
        services(OTHER_SERVICE).fetch()
    with raises(404, 20404):
        sdk(server, OTHER_ACCOUNT, OTHER_TOKEN).messaging.v1.services(SERVICE).delete()
    assert [s.sid for s in services.list()] == [SERVICE, SERVICE2]


def test_hostile_input_is_refused_with_4xx_and_an_account_is_bounded(
    client: Client, server: Server
) -> None:
    url = server.url + path_for("ListService")
    session = requests.Session()
    session.auth = AUTH
    hostile = [
        {"FriendlyName": "x" * 60_000},  # just under the body limit
        {"FriendlyName": "\x00"},
        {"FriendlyName": "A", "ValidityPeriod": "9" * 5000},
        {"FriendlyName": "A", "InboundRequestUrl": "http://" + "a" * 50_000},
        {"FriendlyName": "A", "Usecase": "u" * 50_000},
    ]
    for form in hostile:
        response = session.post(url, data=form, timeout=10)
        assert response.status_code == 400, response.text
        assert len(response.text) < 1000
    assert session.post(url, data={"FriendlyName": "x" * 70_000}, timeout=10).status_code == 413
    for query in ({"PageSize": "0"}, {"Page": "-1"}, {"PageToken": "PA" + "A" * 30_000}):
        assert session.get(url, params=query, timeout=10).status_code == 400

    # An empty chunked body (schemathesis sends one): an update of nothing, answered at once,
    # not after the client gives up waiting (the server used to wait for a body already read).
    service_url = server.url + path_for("FetchService", Sid=SERVICE)
    chunked = {"Content-Type": "application/x-www-form-urlencoded"}
    response = session.post(service_url, data=iter([b""]), headers=chunked, timeout=5)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200, response.text
    response = session.post(url, data=iter([b""]), headers=chunked, timeout=5)
    assert response.status_code == 400 and response.json()["code"] == 20001

    # Creates past the bound are refused, one by one, and the account holds exactly the bound.
    attempts = scale(LIMIT + 100, 10_000)
    statuses: dict[int, int] = {}
    for i in range(attempts - 2):  # the demo account has 2 services
        status = session.post(url, data={"FriendlyName": f"s{i}"}, timeout=10).status_code
        statuses[status] = statuses.get(status, 0) + 1
    assert statuses == {201: LIMIT - 2, 400: attempts - LIMIT}
    survived["services created past the per-account bound, refused"] += attempts - LIMIT
    walked = [s.sid for s in client.messaging.v1.services.stream(page_size=1000)]
    assert len(walked) == len(set(walked)) == LIMIT
    theirs = sdk(server, OTHER_ACCOUNT, OTHER_TOKEN).messaging.v1.services
    assert theirs.create(friendly_name="theirs").account_sid == OTHER_ACCOUNT
