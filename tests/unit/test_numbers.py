"""The rules of IncomingPhoneNumbers and of the search of AvailablePhoneNumbers (no HTTP)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, delete, func, select

from tests.support import (
    ACCOUNT,
    NUMBERS,
    OTHER_ACCOUNT,
    OTHER_NUMBER,
    SERVICE,
    all_at_once,
    database_for,
)
from tests.support.postgres import outcome_once_it_waits, pooled_by_hand
from twilio_fake import exceptions as errors
from twilio_fake import fixtures
from twilio_fake.backend import Backend
from twilio_fake.db import MEMORY
from twilio_fake.resources.numbers import errors as number_errors
from twilio_fake.resources.numbers import inventory, model
from twilio_fake.resources.numbers.inventory import Search
from twilio_fake.resources.numbers.tables import (
    incoming_phone_number_details,
    incoming_phone_numbers,
)
from twilio_fake.resources.pool import model as pool
from twilio_fake.resources.pool.tables import pool_entries
from twilio_fake.spec import limit

DEMO, OTHER = fixtures.demo()


@pytest.fixture(params=["sqlite", MEMORY, "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_for(request.param, request, tmp_path)


def for_sale(area_code: int = 415, index: int = 0) -> str:
    return [n for n in inventory.local_in_area_code(area_code)][index].phone_number


def every_number(backend: Backend, account: str = ACCOUNT, **filters: object) -> list:
    numbers: list = []
    token = None
    while True:
        page = model.list_numbers(backend, account, page_size=3, page_token=token, **filters)  # type: ignore[arg-type]
        numbers += page.rows
        token = page.next_token
        if token is None:
            return numbers


# -- buy -----------------------------------------------------------------------------------------
def test_buying_a_number_for_sale_gives_it_to_the_account(backend: Backend) -> None:
    wanted = for_sale()
    number = model.buy(backend, ACCOUNT, phone_number=wanted)
    assert number.sid.startswith("PN") and len(number.sid) == 34
    assert number.account_sid == ACCOUNT
    assert number.phone_number == wanted
    assert number.friendly_name == inventory.friendly_name(wanted)
    assert number.capabilities == inventory.find(wanted).capabilities.as_dict()  # type: ignore[union-attr]
    assert number.type == "local"
    assert number.settings == model.defaults()
    assert number.date_created == number.date_updated
    assert model.fetch(backend, ACCOUNT, number.sid) == number


def test_a_bought_number_can_join_a_pool(backend: Backend) -> None:
    """It is an incoming number like the fixtures' ones, with the pool's capabilities."""
    number = model.buy(backend, ACCOUNT, phone_number=for_sale())
    entry = pool.add(backend, ACCOUNT, SERVICE, number.sid)
    assert entry.capabilities == ("MMS", "SMS", "Voice")
    assert entry.country_code == "US"


def test_a_buy_can_set_the_name_and_webhooks(backend: Backend) -> None:
    number = model.buy(
        backend,
        ACCOUNT,
        phone_number=for_sale(),
        settings={"friendly_name": "Support line", "sms_url": "https://example.com/sms"},
    )
    assert number.friendly_name == "Support line"
    assert number.settings["sms_url"] == "https://example.com/sms"
    assert (
        model.fetch(backend, ACCOUNT, number.sid).settings["sms_url"] == "https://example.com/sms"
    )


def test_a_toll_free_number_is_of_type_toll_free(backend: Backend) -> None:
    wanted = inventory.numbers("US", "toll-free")[0].phone_number
    assert model.buy(backend, ACCOUNT, phone_number=wanted).type == "toll-free"


def test_a_number_held_by_any_account_is_not_for_sale(backend: Backend) -> None:
    wanted = for_sale()
    model.buy(backend, OTHER_ACCOUNT, phone_number=wanted)
    for account in (ACCOUNT, OTHER_ACCOUNT):
        with pytest.raises(number_errors.PhoneNumberNotAvailable) as caught:
            model.buy(backend, account, phone_number=wanted)
        assert (caught.value.status, caught.value.code) == (400, 21422)


def test_racing_buyers_of_one_number_one_wins(backend: Backend) -> None:
    """On PostgreSQL the buyers run side by side: the unique claim on the number decides."""
    wanted = for_sale(305)
    results: list[object] = []

    def attempt() -> None:
        try:
            results.append(model.buy(backend, ACCOUNT, phone_number=wanted).sid)
        except number_errors.PhoneNumberNotAvailable as error:
            results.append(error.code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str).count(21422) == 7
    assert [n.phone_number for n in every_number(backend)].count(wanted) == 1


def test_racing_buyers_of_one_area_code_get_different_numbers(backend: Backend) -> None:
    bought: list[str] = []

    def attempt() -> None:
        bought.append(model.buy(backend, ACCOUNT, area_code="305").phone_number)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(bought) == sorted(for_sale(305, i) for i in range(12))


def test_an_inventory_number_a_fixture_holds_is_not_for_sale(backend: Backend) -> None:
    """A fixture (or a minted account) may hold a number the inventory also lists: it is held."""
    held = for_sale(415, 0)
    backend.load(
        [
            fixtures.Account(
                sid=OTHER_ACCOUNT,
                auth_token=OTHER.auth_token,
                incoming_phone_numbers=(
                    fixtures.IncomingNumber("PN" + "a" * 32, held, "US", ("SMS", "Voice")),
                ),
            )
        ]
    )
    with pytest.raises(number_errors.PhoneNumberNotAvailable):
        model.buy(backend, ACCOUNT, phone_number=held)
    assert model.buy(backend, ACCOUNT, area_code="415").phone_number == for_sale(415, 1)
    found = model.search_available(backend, "US", "local", Search(area_code=415), page_size=1)
    assert [n.phone_number for n in found] == [for_sale(415, 2)]


@pytest.mark.parametrize(
    "number",
    [
        "+12125550123",  # valid, but not in the inventory
        "+14155550100",  # a fixture's number: held
    ],
)
def test_a_number_the_fake_does_not_sell_is_21422(backend: Backend, number: str) -> None:
    with pytest.raises(number_errors.PhoneNumberNotAvailable):
        model.buy(backend, ACCOUNT, phone_number=number)


@pytest.mark.parametrize(
    "number",
    ["", "4155550100", "+1", "not a number", "+1415555010", "+99912345678", "\x00", "+" * 500],
)
def test_a_number_that_is_not_e164_is_21421(backend: Backend, number: str) -> None:
    with pytest.raises(errors.PhoneNumberInvalid) as caught:
        model.buy(backend, ACCOUNT, phone_number=number)
    assert (caught.value.status, caught.value.code) == (400, 21421)
    assert len(caught.value.message) < 100


def test_buying_by_area_code_takes_the_first_number_for_sale_there(backend: Backend) -> None:
    first = model.buy(backend, ACCOUNT, area_code="415")
    second = model.buy(backend, OTHER_ACCOUNT, area_code="415")
    assert (first.phone_number, second.phone_number) == (for_sale(415, 0), for_sale(415, 1))


def test_buying_by_a_canadian_area_code(backend: Backend) -> None:
    number = model.buy(backend, ACCOUNT, area_code="416")
    assert number.phone_number.startswith("+1416")


def test_an_area_code_sold_out_is_21452() -> None:
    backend = Backend(MEMORY, fixtures.demo())
    for _ in range(inventory.NUMBERS_PER_BLOCK):
        model.buy(backend, ACCOUNT, area_code="808")
    with pytest.raises(number_errors.NoPhoneNumbersInAreaCode) as caught:
        model.buy(backend, ACCOUNT, area_code="808")
    assert (caught.value.status, caught.value.code) == (400, 21452)


@pytest.mark.parametrize(
    "area_code", ["", "41", "4155", "041", "abc", "\x00", "41\x00", "1" * 10_000]
)
def test_an_area_code_that_is_not_one_is_21451(backend: Backend, area_code: str) -> None:
    with pytest.raises(number_errors.InvalidAreaCode) as caught:
        model.buy(backend, ACCOUNT, area_code=area_code)
    assert (caught.value.status, caught.value.code) == (400, 21451)
    assert len(caught.value.message) < 100


def test_an_area_code_with_no_inventory_is_21452(backend: Backend) -> None:
    with pytest.raises(number_errors.NoPhoneNumbersInAreaCode):
        model.buy(backend, ACCOUNT, area_code="907")


def test_a_buy_needs_a_number_or_an_area_code(backend: Backend) -> None:
    with pytest.raises(number_errors.PhoneNumberOrAreaCodeRequired) as caught:
        model.buy(backend, ACCOUNT)
    assert (caught.value.status, caught.value.code) == (400, 20001)
    assert caught.value.message == "did or area_code is required"


def test_the_phone_number_wins_over_the_area_code(backend: Backend) -> None:
    wanted = for_sale(212)
    assert model.buy(backend, ACCOUNT, phone_number=wanted, area_code="415").phone_number == wanted


# -- the test credentials' magic numbers ---------------------------------------------------------
def test_magic_unavailable_number_is_21422(backend: Backend) -> None:
    with pytest.raises(number_errors.PhoneNumberNotAvailable):
        model.buy(backend, ACCOUNT, phone_number="+15005550000")


def test_magic_invalid_number_is_21421(backend: Backend) -> None:
    with pytest.raises(errors.PhoneNumberInvalid):
        model.buy(backend, ACCOUNT, phone_number="+15005550001")


def test_magic_available_number_is_bought_again_and_again_by_anyone(backend: Backend) -> None:
    bought = [
        model.buy(backend, account, phone_number="+15005550006")
        for account in (ACCOUNT, ACCOUNT, OTHER_ACCOUNT)
    ]
    assert {n.phone_number for n in bought} == {"+15005550006"}
    assert len({n.sid for n in bought}) == 3
    assert bought[0].friendly_name == "(500) 555-0006"


# -- the per-account bound ------------------------------------------------------------------------
def held(backend: Backend, account: str = ACCOUNT) -> int:
    with backend.db.read() as conn:
        count = select(func.count()).where(incoming_phone_numbers.c.account_sid == account)
        return int(conn.scalar(count) or 0)


def test_the_bound_is_the_specs_limit() -> None:
    assert model.numbers_per_account() == limit("incoming-numbers-per-account")


def test_an_account_holds_at_most_the_bound_however_it_buys(backend: Backend, monkeypatch) -> None:
    """+15005550006 is bought again and again: without a bound, one account's buys grew the
    store without end."""
    bound = held(backend) + 3
    monkeypatch.setattr(model, "numbers_per_account", lambda: bound)
    model.buy(backend, ACCOUNT, phone_number="+15005550006")
    model.buy(backend, ACCOUNT, area_code="500")
    mine = model.buy(backend, ACCOUNT, phone_number=for_sale())
    for refused in ("+15005550006", for_sale(index=1)):
        with pytest.raises(number_errors.TooManyNumbers) as caught:
            model.buy(backend, ACCOUNT, phone_number=refused)
        assert (caught.value.status, caught.value.code) == (400, 20001)
        assert f"{bound} phone numbers" in caught.value.message
    with pytest.raises(number_errors.TooManyNumbers):
        model.buy(backend, ACCOUNT, area_code="415")
    assert held(backend) == bound
    # A refused buy took nothing: the number it named is still for sale. The bound is per account.
    model.buy(backend, OTHER_ACCOUNT, phone_number=for_sale(index=1))
    model.release(backend, ACCOUNT, mine.sid)
    model.buy(backend, ACCOUNT, phone_number="+15005550006")  # room again
    assert held(backend) == bound


def test_racing_buys_never_pass_the_bound(backend: Backend, monkeypatch) -> None:
    bound = held(backend) + 3
    monkeypatch.setattr(model, "numbers_per_account", lambda: bound)
    outcomes = all_at_once(8, lambda: model.buy(backend, ACCOUNT, phone_number="+15005550006"))
    names = sorted(type(outcome).__name__ for outcome in outcomes)
    assert names == ["IncomingNumber"] * 3 + ["TooManyNumbers"] * 5
    assert held(backend) == bound


def test_magic_area_codes(backend: Backend) -> None:
    number = model.buy(backend, ACCOUNT, area_code="500")
    assert (number.phone_number, number.friendly_name) == ("+15005550006", "(500) 555-0006")
    with pytest.raises(number_errors.NoPhoneNumbersInAreaCode) as caught:
        model.buy(backend, ACCOUNT, area_code="533")
    assert caught.value.code == 21452


# -- numbers from fixtures -----------------------------------------------------------------------
def test_fixture_numbers_are_incoming_phone_numbers_with_the_defaults(backend: Backend) -> None:
    numbers = every_number(backend)
    assert [n.sid for n in numbers] == sorted(n.sid for n in DEMO.incoming_phone_numbers)
    first = numbers[0]
    assert first.phone_number == "+14155550100"
    assert first.friendly_name == "(415) 555-0100"
    assert first.capabilities == {"voice": True, "sms": True, "mms": True, "fax": False}
    assert first.settings == model.defaults()
    voice_only = model.fetch(backend, ACCOUNT, "PN00000000000000000000000000000007")
    assert voice_only.capabilities == {"voice": True, "sms": False, "mms": False, "fax": False}
    british = model.fetch(backend, ACCOUNT, NUMBERS[2])
    assert british.friendly_name == "020 7183 8750"


def test_loaded_numbers_get_their_2010_fields_with_the_load(backend: Backend) -> None:
    with backend.db.read() as conn:
        count = conn.scalar(select(func.count()).select_from(incoming_phone_number_details))
    assert count == len(DEMO.incoming_phone_numbers) + len(OTHER.incoming_phone_numbers)


def test_numbers_stored_by_an_earlier_version_are_completed_once(backend: Backend) -> None:
    """A database made before the 2010 fields existed has the numbers and no details rows."""
    with backend.db.write() as conn:
        conn.execute(delete(incoming_phone_number_details))
    numbers = every_number(backend)
    assert [n.sid for n in numbers] == sorted(n.sid for n in DEMO.incoming_phone_numbers)
    assert all(n.settings == model.defaults() for n in numbers)
    assert model.fetch(backend, ACCOUNT, NUMBERS[0]) == numbers[0]
    with backend.db.read() as conn:
        count = conn.scalar(select(func.count()).select_from(incoming_phone_number_details))
    assert count == len(DEMO.incoming_phone_numbers)  # the other account's: not yet read
    assert model.fetch(backend, OTHER_ACCOUNT, OTHER_NUMBER).friendly_name == "(415) 555-0102"


def test_reloading_fixtures_keeps_what_a_client_set(backend: Backend) -> None:
    model.update(backend, ACCOUNT, NUMBERS[0], {"sms_url": "https://example.com/in"})
    backend.load(fixtures.demo())
    assert model.fetch(backend, ACCOUNT, NUMBERS[0]).settings["sms_url"] == "https://example.com/in"


# -- list ----------------------------------------------------------------------------------------
def test_the_list_is_oldest_first_and_walks_every_number_once(backend: Backend) -> None:
    bought = [model.buy(backend, ACCOUNT, area_code="212").sid for _ in range(4)]
    sids = [n.sid for n in every_number(backend)]
    assert sids == sorted(n.sid for n in DEMO.incoming_phone_numbers) + bought


def test_the_list_is_the_accounts_own(backend: Backend) -> None:
    mine = model.buy(backend, ACCOUNT, area_code="212")
    theirs = [n.sid for n in every_number(backend, OTHER_ACCOUNT)]
    assert theirs == [OTHER_NUMBER]
    assert mine.sid not in theirs


def test_phone_number_filter_matches_any_part_and_star_is_any_digit(backend: Backend) -> None:
    def sids(pattern: str) -> set[str]:
        return {n.sid for n in every_number(backend, phone_number=pattern)}

    assert sids("+14155550100") == {NUMBERS[0]}
    assert sids("55501") == {NUMBERS[0], NUMBERS[1], "PN00000000000000000000000000000007"}
    assert sids("+1415555010*") == {NUMBERS[0], NUMBERS[1], "PN00000000000000000000000000000007"}
    assert sids("2071*38750") == {NUMBERS[2]}
    assert sids("%") == set()  # literal, not SQL's wildcard
    assert sids("_") == set()
    assert sids("\\") == set()


def test_friendly_name_filter_matches_the_whole_name(backend: Backend) -> None:
    number = model.buy(backend, ACCOUNT, area_code="212", settings={"friendly_name": "Sales"})
    assert [n.sid for n in every_number(backend, friendly_name="Sales")] == [number.sid]
    assert every_number(backend, friendly_name="Sale") == []


def test_origin_filter(backend: Backend) -> None:
    assert len(every_number(backend, origin="twilio")) == len(DEMO.incoming_phone_numbers)
    assert every_number(backend, origin="hosted") == []


def test_page_tokens_are_bound_to_the_account_and_the_filters(backend: Backend) -> None:
    page = model.list_numbers(backend, ACCOUNT, page_size=2)
    assert page.next_token is not None
    for other in (
        {"account": OTHER_ACCOUNT},
        {"account": ACCOUNT, "friendly_name": "x"},
        {"account": ACCOUNT, "phone_number": "+1"},
    ):
        account = str(other.pop("account"))
        with pytest.raises(errors.InvalidPageToken):
            model.list_numbers(backend, account, page_size=2, page_token=page.next_token, **other)  # type: ignore[arg-type]


def test_a_page_holds_at_most_1000(backend: Backend) -> None:
    page = model.list_numbers(backend, ACCOUNT, page_size=10**9)
    assert page.page_size == 1000
    assert page.next_token is None


# -- fetch, update, release ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "sid", [OTHER_NUMBER, "PN" + "f" * 32, "", "x" * 1000, "PN\x00", NUMBERS[0].lower()]
)
def test_another_accounts_number_or_none_is_not_found(backend: Backend, sid: str) -> None:
    with pytest.raises(errors.ResourceNotFound):
        model.fetch(backend, ACCOUNT, sid)
    with pytest.raises(errors.ResourceNotFound):
        model.update(backend, ACCOUNT, sid, {"friendly_name": "mine now"})
    with pytest.raises(errors.ResourceNotFound):
        model.release(backend, ACCOUNT, sid)
    if sid == OTHER_NUMBER:
        kept = model.fetch(backend, OTHER_ACCOUNT, sid)
        assert kept.friendly_name == "(415) 555-0102"


def test_update_changes_what_it_names_and_keeps_the_rest(database: str) -> None:
    now = [datetime(2026, 1, 2, 3, 4, 5)]
    backend = Backend(database, fixtures.demo(), clock=lambda: now[0])
    try:
        number = model.buy(backend, ACCOUNT, area_code="415", settings={"sms_url": "https://a/"})
        now[0] += timedelta(seconds=90)
        updated = model.update(
            backend,
            ACCOUNT,
            number.sid,
            {"friendly_name": "Renamed", "voice_url": "https://b/", "voice_method": "GET"},
        )
        assert updated.friendly_name == "Renamed"
        assert updated.settings["sms_url"] == "https://a/"
        assert (updated.settings["voice_url"], updated.settings["voice_method"]) == (
            "https://b/",
            "GET",
        )
        assert updated.date_created == number.date_created
        assert updated.date_updated == number.date_created + timedelta(seconds=90)
        assert model.fetch(backend, ACCOUNT, number.sid) == updated
    finally:
        backend.db.dispose()


def test_a_voice_application_and_a_trunk_exclude_each_other(backend: Backend) -> None:
    trunk, app = "TK" + "1" * 32, "AP" + "2" * 32
    number = model.buy(backend, ACCOUNT, area_code="415", settings={"trunk_sid": trunk})
    assert number.settings["trunk_sid"] == trunk
    updated = model.update(backend, ACCOUNT, number.sid, {"voice_application_sid": app})
    assert (updated.settings["voice_application_sid"], updated.settings["trunk_sid"]) == (app, None)
    updated = model.update(backend, ACCOUNT, number.sid, {"trunk_sid": trunk})
    assert (updated.settings["voice_application_sid"], updated.settings["trunk_sid"]) == (
        None,
        trunk,
    )


def test_a_fixture_number_can_be_updated(backend: Backend) -> None:
    updated = model.update(backend, ACCOUNT, NUMBERS[0], {"sms_url": "https://example.com/in"})
    assert model.fetch(backend, ACCOUNT, NUMBERS[0]) == updated


def test_release_takes_the_number_out_of_its_pool_and_puts_it_back_on_sale(
    backend: Backend,
) -> None:
    number = model.buy(backend, ACCOUNT, area_code="415")
    pool.add(backend, ACCOUNT, SERVICE, number.sid)
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    model.release(backend, ACCOUNT, number.sid)
    with pytest.raises(errors.ResourceNotFound):
        model.fetch(backend, ACCOUNT, number.sid)
    with pytest.raises(errors.ResourceNotFound):
        pool.get(backend, ACCOUNT, SERVICE, number.sid)
    assert [e.sid for e in pool.page(backend, ACCOUNT, SERVICE).rows] == [NUMBERS[0]]
    again = model.buy(backend, OTHER_ACCOUNT, phone_number=number.phone_number)
    assert again.sid != number.sid


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_release_locks_the_number_before_it_empties_its_pool(backend: Backend) -> None:
    # A release locks the number's row (FOR UPDATE) before it takes the number out of its pool:
    # a release that waited for an add to a pool (whose entry's foreign key holds the number's
    # row) then finds the entry, and takes it out. The add here locks the service and inserts
    # the entry by hand, and commits once the release waits.
    number = model.buy(backend, ACCOUNT, area_code="415")

    outcome = outcome_once_it_waits(
        backend.db.engine,
        lambda writer: pooled_by_hand(writer, number.sid, SERVICE),
        lambda: model.release(backend, ACCOUNT, number.sid),
    )
    assert outcome == [None]
    with pytest.raises(errors.ResourceNotFound):
        model.fetch(backend, ACCOUNT, number.sid)
    with backend.db.read() as conn:
        assert conn.scalar(select(func.count()).select_from(pool_entries)) == 0


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_update_locks_the_number_before_it_reads_it(backend: Backend) -> None:
    # An update locks the number's details (FOR UPDATE) before it checks they are there: an
    # update that waited for a release then finds the number gone (404). The release here
    # deletes the number by hand, and commits once the update waits.
    number = model.buy(backend, ACCOUNT, area_code="415")

    def release(writer: Connection) -> None:
        details = incoming_phone_number_details
        writer.execute(delete(details).where(details.c.sid == number.sid))
        writer.execute(
            delete(incoming_phone_numbers).where(incoming_phone_numbers.c.sid == number.sid)
        )

    def update() -> object:
        return model.update(backend, ACCOUNT, number.sid, {"sms_url": "https://example.com/in"})

    outcome = outcome_once_it_waits(backend.db.engine, release, update)
    assert [type(o) for o in outcome] == [errors.ResourceNotFound]


def test_a_fixture_number_can_be_released(backend: Backend) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    model.release(backend, ACCOUNT, NUMBERS[0])
    assert NUMBERS[0] not in [n.sid for n in every_number(backend)]
    with backend.db.read() as conn:
        assert conn.scalar(select(func.count()).select_from(pool_entries)) == 0


def test_reset_and_dropping_an_account_take_the_numbers_details_too(backend: Backend) -> None:
    model.buy(backend, ACCOUNT, area_code="415")
    every_number(backend)
    account = backend.mint_account(services=0, numbers=2)
    model.buy(backend, account.sid, area_code="212")
    every_number(backend, account.sid)
    backend.drop_account(account.sid)
    backend.reset()
    assert [n.sid for n in every_number(backend)] == sorted(
        n.sid for n in DEMO.incoming_phone_numbers
    )


# -- AvailablePhoneNumbers -----------------------------------------------------------------------
def test_search_leaves_out_what_any_account_holds(backend: Backend) -> None:
    first = model.search_available(backend, "US", "local", Search(area_code=415), page_size=2)
    assert [n.phone_number for n in first] == [for_sale(415, 0), for_sale(415, 1)]
    model.buy(backend, OTHER_ACCOUNT, phone_number=first[0].phone_number)
    after = model.search_available(backend, "US", "local", Search(area_code=415), page_size=2)
    assert [n.phone_number for n in after] == [for_sale(415, 1), for_sale(415, 2)]


def test_search_page_size(backend: Backend) -> None:
    assert len(model.search_available(backend, "US", "local", Search(), page_size=7)) == 7
    every = model.search_available(backend, "US", "toll-free", Search(), page_size=10**6)
    assert len(every) == len(inventory.numbers("US", "toll-free"))


def test_a_search_that_matches_nothing_is_empty(backend: Backend) -> None:
    assert model.search_available(backend, "US", "local", Search(area_code=533), page_size=50) == []
    assert (
        model.search_available(backend, "GB", "local", Search(sms_enabled=True), page_size=50) == []
    )


@pytest.mark.parametrize("country", ["ZZ", "us", "", "USA", "\x00", "DE"])
def test_a_country_without_inventory_is_not_found(backend: Backend, country: str) -> None:
    with pytest.raises(errors.ResourceNotFound):
        model.search_available(backend, country, "local", Search(), page_size=50)


def test_a_filtered_list_ends_where_its_matches_end(backend: Backend) -> None:
    """The neighbour tokens look only at the numbers that match, not the account's others."""
    first = model.list_numbers(backend, ACCOUNT, phone_number="+1415555010", page_size=1)
    assert first.previous_token is None and first.next_token is not None
    pages = [first]
    while pages[-1].next_token is not None:
        pages.append(
            model.list_numbers(
                backend,
                ACCOUNT,
                phone_number="+1415555010",
                page_size=1,
                page_token=pages[-1].next_token,
            )
        )
    assert [[n.sid for n in p.rows] for p in pages] == [
        [NUMBERS[0]],
        [NUMBERS[1]],
        ["PN00000000000000000000000000000007"],
    ]
    named = model.list_numbers(backend, ACCOUNT, friendly_name="(415) 555-0100", page_size=1)
    assert named.next_token is None


def test_a_database_file_of_the_previous_version_opens_and_its_numbers_are_served(
    tmp_path: Path,
) -> None:
    """A SQLite file made before IncomingPhoneNumbers existed has no table of 2010 fields: the
    fake adds it at start-up and completes the numbers when first read."""
    path = tmp_path / "old.sqlite3"
    Backend(str(path), fixtures.demo()).db.dispose()
    with sqlite3.connect(path) as old:  # what the previous version left
        old.execute("DROP TABLE incoming_phone_number_details")
        old.execute("DROP INDEX IF EXISTS ix_incoming_phone_numbers_phone_number")
    backend = Backend(str(path))  # no fixtures: only what the file holds
    try:
        numbers = every_number(backend)
        assert [n.sid for n in numbers] == sorted(n.sid for n in DEMO.incoming_phone_numbers)
        assert numbers[0].friendly_name == "(415) 555-0100"
        assert model.buy(backend, ACCOUNT, area_code="415").phone_number == for_sale(415)
    finally:
        backend.db.dispose()
