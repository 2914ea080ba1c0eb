"""The rules of Messaging Services, tested on the model alone (no HTTP), on both databases.

Expected limits and defaults are read from openapi.yaml, as the model reads them.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.support import (
    ACCOUNT,
    NUMBERS,
    OTHER_ACCOUNT,
    OTHER_SERVICE,
    SERVICE,
    SERVICE2,
    all_at_once,
)
from twilio_fake import exceptions as errors
from twilio_fake.resources.pool import model as pool
from twilio_fake.resources.services import model
from twilio_fake.resources.services.errors import TooManyServices, UsecaseInvalid
from twilio_fake.resources.services.tables import services
from twilio_fake.spec import contract, limit

SCHEMAS = contract()["components"]["schemas"]
CREATE = SCHEMAS["CreateServiceForm"]["properties"]
USECASES = SCHEMAS["Usecase"]["enum"]
SETTINGS = {  # one value for every parameter, none of them its default
    "FriendlyName": "Reminders",
    "InboundRequestUrl": "https://example.com/in",
    "InboundMethod": "GET",
    "FallbackUrl": "https://example.com/fallback",
    "FallbackMethod": "GET",
    "StatusCallback": "https://example.com/status",
    "StickySender": not CREATE["StickySender"]["default"],
    "MmsConverter": not CREATE["MmsConverter"]["default"],
    "SmartEncoding": not CREATE["SmartEncoding"]["default"],
    "ScanMessageContent": "disable",
    "FallbackToLongCode": not CREATE["FallbackToLongCode"]["default"],
    "AreaCodeGeomatch": not CREATE["AreaCodeGeomatch"]["default"],
    "ValidityPeriod": 600,
    "SynchronousValidation": not CREATE["SynchronousValidation"]["default"],
    "Usecase": "verification",
    "UseInboundWebhookOnNumber": not CREATE["UseInboundWebhookOnNumber"]["default"],
}


def count(backend, account: str = ACCOUNT) -> int:
    with backend.db.read() as conn:
        query = select(func.count()).select_from(services).where(services.c.account_sid == account)
        return conn.scalar(query) or 0


def test_the_settings_cover_every_parameter_and_none_is_its_default() -> None:
    assert set(SETTINGS) == set(CREATE)
    for name, value in SETTINGS.items():
        assert value != CREATE[name].get("default"), name


def test_create_with_a_name_only_takes_the_specs_defaults(backend) -> None:
    service = model.create(backend, ACCOUNT, {"FriendlyName": "Alerts"})
    assert service.sid.startswith("MG") and len(service.sid) == 34
    assert service.account_sid == ACCOUNT
    assert service.friendly_name == "Alerts"
    for name, schema in CREATE.items():
        field = model.column_of(name)
        if "default" in schema:
            assert getattr(service, field) == schema["default"], name
        elif name != "FriendlyName":
            assert getattr(service, field) is None, name  # the URLs: unset
    assert service.us_app_to_person_registered is False
    assert service.date_created == service.date_updated
    assert service.date_created.microsecond == 0


def test_the_defaults_are_twilios_documented_ones_where_it_documents_them() -> None:
    # Twilio's spec: InboundMethod "the default is POST"; ValidityPeriod "Default value is
    # 36,000" (1 to 36,000). The others are the fake's choices (docs/fidelity.md).
    assert CREATE["InboundMethod"]["default"] == "POST"
    assert CREATE["ValidityPeriod"]["default"] == 36000
    assert SCHEMAS["ValidityPeriod"]["minimum"] == 1
    assert SCHEMAS["ValidityPeriod"]["maximum"] == 36000
    assert SCHEMAS["FriendlyName"]["maxLength"] == 64


def test_create_stores_every_setting_given(backend) -> None:
    service = model.create(backend, ACCOUNT, SETTINGS)
    for name, value in SETTINGS.items():
        assert getattr(service, model.column_of(name)) == value, name
    assert model.fetch(backend, ACCOUNT, service.sid) == service


def test_parameters_the_api_does_not_declare_are_ignored(backend) -> None:
    service = model.create(
        backend, ACCOUNT, {"FriendlyName": "A", "AccountSid": OTHER_ACCOUNT, "sid": "MG" + "0" * 32}
    )
    assert service.account_sid == ACCOUNT
    assert service.sid != "MG" + "0" * 32


def test_dates_come_from_the_clock(backend) -> None:
    moments = iter([datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 9, 5)])
    backend.clock = lambda: next(moments)
    service = model.create(backend, ACCOUNT, {"FriendlyName": "A"})
    assert service.date_created == datetime(2026, 1, 2, 3, 4, 5)
    changed = model.update_service(backend, ACCOUNT, service.sid, {"FriendlyName": "B"})
    assert changed.date_created == service.date_created
    assert changed.date_updated == service.date_created + timedelta(minutes=5)


@pytest.mark.parametrize("usecase", ["alerts", "Marketing", "", " marketing", "marketing\x00"])
def test_a_usecase_outside_twilios_list_is_21713_and_creates_nothing(backend, usecase) -> None:
    before = count(backend)
    with pytest.raises(UsecaseInvalid) as caught:
        model.create(backend, ACCOUNT, {"FriendlyName": "A", "Usecase": usecase})
    assert (caught.value.status, caught.value.code) == (400, 21713)
    assert count(backend) == before


@pytest.mark.parametrize("usecase", USECASES)
def test_every_usecase_of_the_list_is_accepted(backend, usecase: str) -> None:
    assert model.create(backend, ACCOUNT, {"FriendlyName": "A", "Usecase": usecase}).usecase == (
        usecase
    )


def test_services_loaded_from_fixtures_have_the_defaults(backend) -> None:
    service = model.fetch(backend, ACCOUNT, SERVICE)
    assert service.friendly_name == "Demo notifications"
    assert service.sticky_sender == CREATE["StickySender"]["default"]
    assert service.validity_period == CREATE["ValidityPeriod"]["default"]
    assert service.usecase == CREATE["Usecase"]["default"]
    assert service.inbound_request_url is None


# -- update -------------------------------------------------------------------------------------
def test_update_changes_what_is_given_and_nothing_else(backend) -> None:
    created = model.create(backend, ACCOUNT, SETTINGS)
    changed = model.update_service(
        backend, ACCOUNT, created.sid, {"StickySender": True, "Usecase": "poll"}
    )
    assert changed.sticky_sender is True
    assert changed.usecase == "poll"
    unchanged = {
        field: value
        for field, value in vars(created).items()
        if field not in {"sticky_sender", "usecase", "date_updated"}
    }
    assert {field: getattr(changed, field) for field in unchanged} == unchanged
    assert model.fetch(backend, ACCOUNT, created.sid) == changed


def test_an_empty_url_clears_it(backend) -> None:
    created = model.create(backend, ACCOUNT, SETTINGS)
    changed = model.update_service(backend, ACCOUNT, created.sid, {"InboundRequestUrl": ""})
    assert changed.inbound_request_url is None
    assert changed.fallback_url == SETTINGS["FallbackUrl"]


def test_an_invalid_usecase_on_update_is_21713_and_changes_nothing(backend) -> None:
    created = model.create(backend, ACCOUNT, {"FriendlyName": "A"})
    with pytest.raises(UsecaseInvalid):
        model.update_service(
            backend, ACCOUNT, created.sid, {"FriendlyName": "B", "Usecase": "spam"}
        )
    assert model.fetch(backend, ACCOUNT, created.sid) == created


# -- not found, and other accounts ---------------------------------------------------------------
@pytest.mark.parametrize("sid", [OTHER_SERVICE, "MG" + "f" * 32, "None", "", "MG\x00", "x" * 5000])
def test_a_service_that_is_not_the_accounts_is_not_found(backend, sid: str) -> None:
    with pytest.raises(errors.ResourceNotFound):
        model.fetch(backend, ACCOUNT, sid)
    with pytest.raises(errors.ResourceNotFound):
        model.update_service(backend, ACCOUNT, sid, {"FriendlyName": "taken"})
    with pytest.raises(errors.ResourceNotFound):
        model.delete_service(backend, ACCOUNT, sid)


def test_another_account_sees_nothing_and_changes_nothing(backend) -> None:
    mine = model.create(backend, ACCOUNT, {"FriendlyName": "Mine"})
    for attempt in (
        lambda: model.fetch(backend, OTHER_ACCOUNT, mine.sid),
        lambda: model.update_service(backend, OTHER_ACCOUNT, mine.sid, {"FriendlyName": "Theirs"}),
        lambda: model.delete_service(backend, OTHER_ACCOUNT, mine.sid),
    ):
        with pytest.raises(errors.ResourceNotFound):
            attempt()
    theirs = model.list_page(backend, OTHER_ACCOUNT, page_size=1000, page=None, token=None)
    assert [service.sid for service in theirs.rows] == [OTHER_SERVICE]
    assert model.fetch(backend, ACCOUNT, mine.sid) == mine


# -- delete -----------------------------------------------------------------------------------
def test_delete_removes_the_service(backend) -> None:
    created = model.create(backend, ACCOUNT, {"FriendlyName": "Gone soon"})
    model.delete_service(backend, ACCOUNT, created.sid)
    with pytest.raises(errors.ResourceNotFound):
        model.fetch(backend, ACCOUNT, created.sid)
    with pytest.raises(errors.ResourceNotFound):
        model.delete_service(backend, ACCOUNT, created.sid)


def test_delete_empties_the_pool_and_the_numbers_stay_with_the_account(backend) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[1])
    pool.add(backend, ACCOUNT, SERVICE2, NUMBERS[2])
    numbers_before = backend.counts().incoming_phone_numbers
    model.delete_service(backend, ACCOUNT, SERVICE)
    assert backend.counts().pool_entries == 1  # SERVICE2's number, untouched
    assert backend.counts().incoming_phone_numbers == numbers_before
    assert [e.sid for e in pool.page(backend, ACCOUNT, SERVICE2).rows] == [NUMBERS[2]]
    # The numbers are in no pool now: another service takes them.
    pool.add(backend, ACCOUNT, SERVICE2, NUMBERS[0])
    with pytest.raises(errors.ResourceNotFound):
        pool.add(backend, ACCOUNT, SERVICE, NUMBERS[1])


# -- the list -----------------------------------------------------------------------------------
def test_walking_the_list_visits_every_service_once_oldest_first(backend) -> None:
    created = [model.create(backend, ACCOUNT, {"FriendlyName": f"S{i}"}).sid for i in range(7)]
    seen, token, pages = [], None, 0
    while True:
        page = model.list_page(backend, ACCOUNT, page_size=3, page=pages, token=token)
        assert page.page == pages and page.page_size == 3
        seen += [service.sid for service in page.rows]
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen == [SERVICE, SERVICE2, *created]
    assert pages == 3


def test_a_token_of_another_account_is_rejected(backend) -> None:
    for i in range(3):
        model.create(backend, OTHER_ACCOUNT, {"FriendlyName": f"T{i}"})
    theirs = model.list_page(backend, OTHER_ACCOUNT, page_size=1, page=None, token=None)
    assert theirs.next_token is not None
    with pytest.raises(errors.InvalidPageToken):
        model.list_page(backend, ACCOUNT, page_size=1, page=1, token=theirs.next_token)


def test_a_token_of_a_pool_is_rejected(backend) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[1])
    numbers = pool.page(backend, ACCOUNT, SERVICE, page_size=1)
    assert numbers.next_token is not None
    with pytest.raises(errors.InvalidPageToken):
        model.list_page(backend, ACCOUNT, page_size=1, page=1, token=numbers.next_token)


# -- the per-account bound ------------------------------------------------------------------------
def test_the_bound_is_the_specs_limit() -> None:
    assert model.services_per_account() == limit("services-per-account")
    assert model.services_per_account() == contract()["x-limits"]["services-per-account"]


def test_an_account_holds_at_most_the_bound(backend, monkeypatch) -> None:
    monkeypatch.setattr(model, "services_per_account", lambda: 4)  # the demo account has 2
    model.create(backend, ACCOUNT, {"FriendlyName": "third"})
    model.create(backend, ACCOUNT, {"FriendlyName": "fourth"})
    with pytest.raises(TooManyServices) as caught:
        model.create(backend, ACCOUNT, {"FriendlyName": "fifth"})
    assert (caught.value.status, caught.value.code) == (400, 20001)
    assert "4 Messaging Services" in caught.value.message
    assert count(backend) == 4
    model.create(backend, OTHER_ACCOUNT, {"FriendlyName": "theirs"})  # a bound per account
    model.delete_service(backend, ACCOUNT, SERVICE)
    model.create(backend, ACCOUNT, {"FriendlyName": "room again"})


def test_racing_creates_never_pass_the_bound(backend, monkeypatch) -> None:
    monkeypatch.setattr(model, "services_per_account", lambda: 5)
    outcomes = all_at_once(8, lambda: model.create(backend, ACCOUNT, {"FriendlyName": "racer"}))
    assert sorted(type(o).__name__ for o in outcomes) == ["Service"] * 3 + ["TooManyServices"] * 5
    assert count(backend) == 5


# -- the contract ----------------------------------------------------------------------------------
def test_a_created_service_links_to_its_pool_and_to_itself() -> None:
    links = contract()["paths"]["/v1/Services"]["post"]["responses"]["201"]["links"]
    by_operation = {link["operationId"]: link["parameters"] for link in links.values()}
    assert by_operation == {
        "CreatePhoneNumber": {"ServiceSid": "$response.body#/sid"},
        "ListPhoneNumber": {"ServiceSid": "$response.body#/sid"},
        "FetchService": {"Sid": "$response.body#/sid"},
        "UpdateService": {"Sid": "$response.body#/sid"},
        "DeleteService": {"Sid": "$response.body#/sid"},
    }


def test_update_takes_the_parameters_create_takes_and_states_no_default() -> None:
    update = SCHEMAS["UpdateServiceForm"]
    assert set(update["properties"]) == set(CREATE)
    assert "required" not in update
    assert not [name for name, schema in update["properties"].items() if "default" in schema]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_of_the_previous_version_keeps_its_services(request, tmp_path, kind) -> None:
    # A fresh database (the `database` fixture's PostgreSQL one has today's tables already),
    # holding the previous version's services table: SID, account and name only.
    if kind == "sqlite":
        database = str(tmp_path / "old.sqlite3")
    else:
        database = request.getfixturevalue("postgres").create_database()
    from sqlalchemy import Column, ForeignKey, MetaData, String, Table, create_engine, insert

    from twilio_fake.db import database_url

    old = MetaData()
    accounts = Table(
        "accounts",
        old,
        Column("sid", String(34), primary_key=True),
        Column("auth_token_hash", String(64), nullable=False),
    )
    old_services = Table(
        "services",
        old,
        Column("sid", String(34), primary_key=True),
        Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False),
        Column("friendly_name", String(64), nullable=False),
    )
    engine = create_engine(database_url(database))
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(insert(accounts).values(sid=OTHER_ACCOUNT, auth_token_hash="0" * 64))
        kept = "MG" + "e" * 32
        conn.execute(
            insert(old_services).values(sid=kept, account_sid=OTHER_ACCOUNT, friendly_name="Kept")
        )
    engine.dispose()

    from twilio_fake import fixtures
    from twilio_fake.backend import Backend

    backend = Backend(database, fixtures.demo())
    try:
        service = model.fetch(backend, OTHER_ACCOUNT, kept)
        assert service.friendly_name == "Kept"
        assert service.validity_period == CREATE["ValidityPeriod"]["default"]
        assert service.sticky_sender == CREATE["StickySender"]["default"]
        assert service.date_created is not None
        listed = model.list_page(backend, OTHER_ACCOUNT).rows
        assert kept in [s.sid for s in listed]  # numbered: the list walks it
        created = model.create(backend, OTHER_ACCOUNT, {"FriendlyName": "New"})
        assert [s.sid for s in model.list_page(backend, OTHER_ACCOUNT).rows][-1] == created.sid
    finally:
        backend.db.dispose()


def race_a_delete_against_adds(backend, service: str, numbers: list[str]) -> list[BaseException]:
    """Delete the service in one thread while others add numbers to its pool; return what the
    adds raised besides ResourceNotFound."""
    start = threading.Barrier(len(numbers) + 1)
    failures: list[BaseException] = []

    def add(number: str) -> None:
        start.wait()
        try:
            pool.add(backend, ACCOUNT, service, number)
        except errors.ResourceNotFound:
            pass
        except BaseException as error:  # anything else is the bug this test is about
            failures.append(error)

    def delete() -> None:
        start.wait()
        model.delete_service(backend, ACCOUNT, service)

    threads = [threading.Thread(target=add, args=(number,)) for number in numbers]
    threads.append(threading.Thread(target=delete))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_a_delete_racing_adds_to_its_pool_leaves_no_entry_behind(backend) -> None:
    # Every add either lands before the delete (which then takes it out) or finds no service;
    # none fails otherwise, and the numbers end in no pool.
    for _ in range(5):
        service = model.create(backend, ACCOUNT, {"FriendlyName": "racing"}).sid
        assert race_a_delete_against_adds(backend, service, NUMBERS[:4]) == []
        assert backend.counts().pool_entries == 0


def test_the_service_sid_in_paths_has_no_example() -> None:
    # Schemathesis (and so the contract kit) sends a parameter's example: it would update and
    # delete that service of the account it runs against, which no restore can bring back.
    parameter = contract()["components"]["parameters"]["ServiceInstanceSid"]
    assert "example" not in parameter and "examples" not in parameter
