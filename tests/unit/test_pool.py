"""The rules of the pool, and what the backend shares (accounts, fixtures, reset), tested on
the model layer alone (no HTTP)."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from tests.support import (
    ACCOUNT,
    DEMO_COUNTS,
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
    database_for,
)
from tests.support.postgres import outcome_once_it_waits, pooled_by_hand
from twilio_fake import db, fixtures, spec
from twilio_fake import exceptions as errors
from twilio_fake.backend import Backend
from twilio_fake.db import MEMORY
from twilio_fake.resources.pool import errors as pool_errors
from twilio_fake.resources.pool import model as pool
from twilio_fake.resources.pool.tables import pool_entries


@pytest.fixture(params=["sqlite", MEMORY, "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every rule on every storage the fake supports: a SQLite file, ':memory:' (one shared
    connection, transactions one at a time) and PostgreSQL (row locks, writers side by side)."""
    return database_for(request.param, request, tmp_path)


def test_add_fills_every_field_from_the_incoming_number(backend: Backend) -> None:
    entry = pool.add(backend, ACCOUNT, SERVICE, NUMBERS[2])
    assert entry.sid == NUMBERS[2]
    assert entry.account_sid == ACCOUNT
    assert entry.service_sid == SERVICE
    assert entry.phone_number == "+442071838750"
    assert entry.country_code == "GB"
    assert entry.capabilities == ("SMS", "Voice")
    assert entry.date_created == entry.date_updated
    assert entry.date_created.microsecond == 0


def test_dates_come_from_the_clock() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5)
    backend = Backend(MEMORY, fixtures.demo(), clock=lambda: moment)
    assert pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0]).date_created == moment


def test_the_same_number_twice_in_one_service_is_21710(backend: Backend) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    with pytest.raises(pool_errors.PhoneNumberAlreadyInService) as caught:
        pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    assert (caught.value.status, caught.value.code) == (409, 21710)


def test_a_number_in_another_service_is_21712(backend: Backend) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    with pytest.raises(pool_errors.PhoneNumberInAnotherService) as caught:
        pool.add(backend, ACCOUNT, SERVICE2, NUMBERS[0])
    assert (caught.value.status, caught.value.code) == (409, 21712)
    assert pool.page(backend, ACCOUNT, SERVICE2).rows == []


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_add_that_loses_the_race_for_a_number_to_another_service_is_21712(
    database: str,
) -> None:
    # Two adds of one number to two services lock different service rows, so both may find the
    # number free; the later insert then breaks the entry's primary key. The loser checks again
    # and answers what the winner did (21712), not the database's error (a 500).
    backend = Backend(database, fixtures.demo())
    try:
        outcome = outcome_once_it_waits(
            backend.db.engine,
            lambda writer: pooled_by_hand(writer, NUMBERS[0], SERVICE2),
            lambda: pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0]),
        )
        assert [type(o) for o in outcome] == [pool_errors.PhoneNumberInAnotherService]
        assert pool.page(backend, ACCOUNT, SERVICE).rows == []
        assert [e.sid for e in pool.page(backend, ACCOUNT, SERVICE2).rows] == [NUMBERS[0]]
    finally:
        backend.db.dispose()


@pytest.mark.parametrize(
    "number",
    [
        OTHER_NUMBER,  # another account's incoming number
        "PN" + "f" * 32,  # nobody's
    ],
)
def test_a_number_that_is_not_the_accounts_is_21421(backend: Backend, number: str) -> None:
    with pytest.raises(errors.PhoneNumberInvalid) as caught:
        pool.add(backend, ACCOUNT, SERVICE, number)
    assert (caught.value.status, caught.value.code) == (400, 21421)
    assert number in caught.value.message


@pytest.mark.parametrize("service", [OTHER_SERVICE, "MG" + "f" * 32])
def test_a_service_that_is_not_the_accounts_is_20404(backend: Backend, service: str) -> None:
    # The message names the resource from the request's path: tests/api/test_api_errors.py.
    with pytest.raises(errors.ResourceNotFound):
        pool.add(backend, ACCOUNT, service, NUMBERS[0])
    with pytest.raises(errors.ResourceNotFound):
        pool.page(backend, ACCOUNT, service)


def test_a_full_pool_is_21714_and_stays_at_its_limit() -> None:
    backend = Backend(MEMORY, fixtures.demo(), pool_limit=2)
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[1])
    with pytest.raises(pool_errors.ServicePoolFull) as caught:
        pool.add(backend, ACCOUNT, SERVICE, NUMBERS[2])
    # Twilio: 412, not 400 (twilio-behaviour.md, "service pool full").
    assert (caught.value.status, caught.value.code) == (412, 21714)
    assert caught.value.message == "Number Pool size limit reached"
    assert len(pool.page(backend, ACCOUNT, SERVICE).rows) == 2
    # The limit is per service: another service still takes numbers.
    pool.add(backend, ACCOUNT, SERVICE2, NUMBERS[2])


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_add_counts_the_pool_once_it_holds_the_services_lock(database: str) -> None:
    # Racing adds on PostgreSQL stay within the limit because an add locks its service's row
    # (FOR UPDATE) before it counts the pool, in a statement of its own: an add that waited for
    # another writer's lock then counts what that writer added. The writer here locks the
    # service and takes the pool's last place by hand, and commits once the add waits.
    backend = Backend(database, fixtures.demo(), pool_limit=2)
    try:
        pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])

        outcome = outcome_once_it_waits(
            backend.db.engine,
            lambda writer: pooled_by_hand(writer, NUMBERS[1], SERVICE),  # the last place
            lambda: pool.add(backend, ACCOUNT, SERVICE, NUMBERS[2]),
        )
        assert [type(o) for o in outcome] == [pool_errors.ServicePoolFull]
        assert [e.sid for e in pool.page(backend, ACCOUNT, SERVICE).rows] == NUMBERS[:2]
    finally:
        backend.db.dispose()


def test_fetch_and_remove(backend: Backend) -> None:
    added = pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    assert pool.get(backend, ACCOUNT, SERVICE, NUMBERS[0]) == added
    pool.remove(backend, ACCOUNT, SERVICE, NUMBERS[0])
    with pytest.raises(errors.ResourceNotFound):
        pool.get(backend, ACCOUNT, SERVICE, NUMBERS[0])
    with pytest.raises(errors.ResourceNotFound):
        pool.remove(backend, ACCOUNT, SERVICE, NUMBERS[0])
    # Removed numbers can be added again, to any of the account's services.
    pool.add(backend, ACCOUNT, SERVICE2, NUMBERS[0])


def test_a_number_is_only_found_in_its_own_service(backend: Backend) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    with pytest.raises(errors.ResourceNotFound):
        pool.get(backend, ACCOUNT, SERVICE2, NUMBERS[0])
    with pytest.raises(errors.ResourceNotFound):
        pool.remove(backend, ACCOUNT, SERVICE2, NUMBERS[0])
    assert pool.get(backend, ACCOUNT, SERVICE, NUMBERS[0]).sid == NUMBERS[0]


def test_another_account_sees_nothing_and_changes_nothing(backend: Backend) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    with pytest.raises(errors.ResourceNotFound):
        pool.get(backend, OTHER_ACCOUNT, SERVICE, NUMBERS[0])
    with pytest.raises(errors.ResourceNotFound):
        pool.remove(backend, OTHER_ACCOUNT, SERVICE, NUMBERS[0])
    with pytest.raises(errors.ResourceNotFound):
        pool.page(backend, OTHER_ACCOUNT, SERVICE)
    with pytest.raises(errors.ResourceNotFound):
        pool.add(backend, OTHER_ACCOUNT, SERVICE, OTHER_NUMBER)
    assert [e.sid for e in pool.page(backend, ACCOUNT, SERVICE).rows] == [NUMBERS[0]]


# -- paging -----------------------------------------------------------------------------------
def walk(backend: Backend, page_size: int) -> list[list[str]]:
    """Follow next tokens from the first page to the last; return each page's SIDs."""
    pages, token = [], None
    while True:
        page = pool.page(backend, ACCOUNT, SERVICE, page_size=page_size, page_token=token)
        pages.append([e.sid for e in page.rows])
        token = page.next_token
        if token is None:
            return pages


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 50])
def test_walking_next_tokens_visits_every_number_once_oldest_first(
    backend: Backend, page_size: int
) -> None:
    order = [NUMBERS[3], NUMBERS[0], NUMBERS[4], NUMBERS[1], NUMBERS[2]]
    for number in order:
        pool.add(backend, ACCOUNT, SERVICE, number)
    pages = walk(backend, page_size)
    assert [sid for page in pages for sid in page] == order
    assert all(len(page) == page_size for page in pages[:-1])
    assert len(pages) == -(-len(order) // page_size)


def test_page_numbers_and_neighbour_tokens(backend: Backend) -> None:
    for number in NUMBERS:
        pool.add(backend, ACCOUNT, SERVICE, number)
    first = pool.page(backend, ACCOUNT, SERVICE, page_size=2)
    assert (first.page, first.previous_token) == (0, None)
    assert first.next_token is not None and first.next_token.startswith("PA")
    second = pool.page(backend, ACCOUNT, SERVICE, page_size=2, page_token=first.next_token)
    assert second.page == 1
    assert second.previous_token is not None and second.previous_token.startswith("PB")
    back = pool.page(backend, ACCOUNT, SERVICE, page_size=2, page_token=second.previous_token)
    assert (back.page, [e.sid for e in back.rows]) == (0, [e.sid for e in first.rows])
    assert back.previous_token is None
    # Page is the client's own count: echoed, it selects nothing.
    by_index = pool.page(backend, ACCOUNT, SERVICE, page_size=2, page=2)
    assert [e.sid for e in by_index.rows] == [e.sid for e in first.rows]
    assert by_index.page == 2


def test_a_previous_page_counts_back_one_page(backend: Backend) -> None:
    for number in NUMBERS:
        pool.add(backend, ACCOUNT, SERVICE, number)
    page = pool.page(backend, ACCOUNT, SERVICE, page_size=2)
    for index in (1, 2):
        page = pool.page(backend, ACCOUNT, SERVICE, page_size=2, page_token=page.next_token)
        assert page.page == index
    back = pool.page(backend, ACCOUNT, SERVICE, page_size=2, page_token=page.previous_token)
    assert (back.page, [e.sid for e in back.rows]) == (1, NUMBERS[2:4])


def test_a_page_whose_rows_were_all_removed_meanwhile_is_empty_and_links_nowhere(
    backend: Backend,
) -> None:
    for number in NUMBERS[:4]:
        pool.add(backend, ACCOUNT, SERVICE, number)
    first = pool.page(backend, ACCOUNT, SERVICE, page_size=2)
    second = pool.page(backend, ACCOUNT, SERVICE, page_size=2, page_token=first.next_token)
    for number in NUMBERS[2:4]:  # the second page's
        pool.remove(backend, ACCOUNT, SERVICE, number)
    gone = pool.page(backend, ACCOUNT, SERVICE, page_size=2, page_token=first.next_token)
    assert (gone.rows, gone.next_token, gone.previous_token) == ([], None, None)
    for number in NUMBERS[:2]:  # the first page's, walking back from the second
        pool.remove(backend, ACCOUNT, SERVICE, number)
    back = pool.page(backend, ACCOUNT, SERVICE, page_size=2, page_token=second.previous_token)
    assert (back.rows, back.next_token, back.previous_token) == ([], None, None)


def test_paging_survives_removals_while_walking(backend: Backend) -> None:
    for number in NUMBERS:
        pool.add(backend, ACCOUNT, SERVICE, number)
    first = pool.page(backend, ACCOUNT, SERVICE, page_size=2)
    pool.remove(backend, ACCOUNT, SERVICE, NUMBERS[0])  # already seen
    rest = pool.page(backend, ACCOUNT, SERVICE, page_size=2, page_token=first.next_token)
    assert [e.sid for e in rest.rows] == NUMBERS[2:4]


def test_an_empty_pool_is_one_empty_page(backend: Backend) -> None:
    page = pool.page(backend, ACCOUNT, SERVICE)
    assert (page.rows, page.page, page.page_size) == ([], 0, 50)
    assert page.next_token is None and page.previous_token is None


@pytest.mark.parametrize(
    "token",
    [
        "PAxyz",
        "garbage",
        "PA",
        "PBeyJzIjoiTUcifQ.AAAA",
        "PA" + "é" * 10,
    ],
)
def test_a_forged_token_is_rejected(backend: Backend, token: str) -> None:
    with pytest.raises(errors.InvalidPageToken) as caught:
        pool.page(backend, ACCOUNT, SERVICE, page_token=token)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        21481,
        "Invalid PageToken",
    )


def test_a_tampered_token_is_rejected(backend: Backend) -> None:
    for number in NUMBERS[:3]:
        pool.add(backend, ACCOUNT, SERVICE, number)
    token = pool.page(backend, ACCOUNT, SERVICE, page_size=1).next_token
    assert token is not None
    payload, signature = token[2:].split(".")
    with pytest.raises(errors.InvalidPageToken):
        pool.page(backend, ACCOUNT, SERVICE, page_token="PB" + token[2:])
    # The signature's last characters changed (the key is random: it may end in "AA" itself).
    changed = "AA" if signature[-2:] != "AA" else "QQ"
    with pytest.raises(errors.InvalidPageToken):
        pool.page(backend, ACCOUNT, SERVICE, page_token=f"PA{payload}.{signature[:-2]}{changed}")


def test_a_token_of_another_service_is_rejected(backend: Backend) -> None:
    for number in NUMBERS[:2]:
        pool.add(backend, ACCOUNT, SERVICE2, number)
    token = pool.page(backend, ACCOUNT, SERVICE2, page_size=1).next_token
    assert token is not None
    with pytest.raises(errors.InvalidPageToken):
        pool.page(backend, ACCOUNT, SERVICE, page_token=token)


def test_page_beside_a_token_is_only_echoed(backend: Backend) -> None:
    for number in NUMBERS[:3]:
        pool.add(backend, ACCOUNT, SERVICE, number)
    token = pool.page(backend, ACCOUNT, SERVICE, page_size=1).next_token
    at_token = pool.page(backend, ACCOUNT, SERVICE, page_size=1, page_token=token)
    echoed = pool.page(backend, ACCOUNT, SERVICE, page_size=1, page=5, page_token=token)
    assert [e.sid for e in echoed.rows] == [e.sid for e in at_token.rows] == [NUMBERS[1]]
    assert (at_token.page, echoed.page) == (1, 5)


def test_a_page_holds_at_most_1000_whatever_page_size_asks() -> None:
    numbers = [f"PN{n:032x}" for n in range(1, 1203)]
    account = fixtures.Account(
        sid=ACCOUNT,
        auth_token=TOKEN,
        services={SERVICE: "big"},
        incoming_phone_numbers=tuple(
            fixtures.IncomingNumber(sid, f"+1415555{n:04d}", "US", ("SMS",))
            for n, sid in enumerate(numbers)
        ),
    )
    backend = Backend(MEMORY, [account], pool_limit=2000)
    for sid in numbers:
        pool.add(backend, ACCOUNT, SERVICE, sid)
    first = pool.page(backend, ACCOUNT, SERVICE, page_size=5000)
    assert (len(first.rows), first.page_size) == (1000, 1000)
    rest = pool.page(backend, ACCOUNT, SERVICE, page_size=5000, page_token=first.next_token)
    assert [e.sid for e in first.rows + rest.rows] == numbers
    assert rest.next_token is None


def test_a_number_that_cannot_message_is_21715(backend: Backend) -> None:
    with pytest.raises(pool_errors.PhoneNumberCannotMessage) as caught:
        pool.add(backend, ACCOUNT, SERVICE, VOICE_ONLY_NUMBER)
    assert (caught.value.status, caught.value.code) == (400, 21715)
    assert pool.page(backend, ACCOUNT, SERVICE).rows == []


def test_a_number_that_can_send_mms_but_not_sms_joins_the_pool() -> None:
    (account, *others) = fixtures.demo()
    mms_only = fixtures.IncomingNumber("PN" + "a" * 32, "+14155550999", "US", ("MMS",))
    account = replace(account, incoming_phone_numbers=(mms_only,))
    backend = Backend(MEMORY, [account, *others])
    assert pool.add(backend, ACCOUNT, SERVICE, mms_only.sid).capabilities == ("MMS",)


@pytest.mark.parametrize(
    ("sid", "shown"),
    [
        ("PN" + "f" * 32, "PN" + "f" * 32),
        ("x" * 64, "x" * 64),  # the longest shown whole
        ("x" * 65, "x" * 61 + "..."),
        ("y" * 10_000, "y" * 61 + "..."),
    ],
)
def test_the_21421_message_names_the_sid_cut_to_64_characters(
    backend: Backend, sid: str, shown: str
) -> None:
    with pytest.raises(errors.PhoneNumberInvalid) as caught:
        pool.add(backend, ACCOUNT, SERVICE, sid)
    assert caught.value.message == (
        f"Phone Number is invalid: PhoneNumberSid {shown!r} is not the SID of an incoming phone "
        "number of this account"
    )


@pytest.mark.parametrize("sid", ["None", "undefined", "+14155550100", "PN1", ""])
def test_a_malformed_phone_number_sid_is_21421(backend: Backend, sid: str) -> None:
    with pytest.raises(errors.PhoneNumberInvalid) as caught:
        pool.add(backend, ACCOUNT, SERVICE, sid)
    assert (caught.value.status, caught.value.code) == (400, 21421)


# A NUL character names nothing (PostgreSQL cannot even bind it): not found, on every database.
NUL_SID = "MG" + "0" * 31 + "\x00"


def test_a_sid_with_a_nul_character_names_nothing(backend: Backend) -> None:
    with pytest.raises(errors.ResourceNotFound):
        pool.page(backend, ACCOUNT, NUL_SID)
    with pytest.raises(errors.ResourceNotFound):
        pool.add(backend, ACCOUNT, NUL_SID, NUMBERS[0])
    with pytest.raises(errors.PhoneNumberInvalid):
        pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0] + "\x00")
    for sid, service in [(NUMBERS[0] + "\x00", SERVICE), (NUMBERS[0], NUL_SID)]:
        with pytest.raises(errors.ResourceNotFound):
            pool.get(backend, ACCOUNT, service, sid)
        with pytest.raises(errors.ResourceNotFound):
            pool.remove(backend, ACCOUNT, service, sid)
    with pytest.raises(errors.ResourceNotFound):
        backend.drop_account(ACCOUNT + "\x00")
    assert backend.authenticate(ACCOUNT + "\x00", TOKEN) is None
    assert backend.authenticate(KEY[:-1] + "\x00", KEY_SECRET) is None


# -- authentication ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("username", "password", "account"),
    [
        (ACCOUNT, TOKEN, ACCOUNT),
        (KEY, KEY_SECRET, ACCOUNT),
        (OTHER_ACCOUNT, OTHER_TOKEN, OTHER_ACCOUNT),
        (ACCOUNT, TOKEN + "x", None),
        (ACCOUNT, OTHER_TOKEN, None),
        (KEY, TOKEN, None),
        ("AC" + "f" * 32, TOKEN, None),
        ("SK" + "f" * 32, KEY_SECRET, None),
        ("someone", TOKEN, None),
        ("", "", None),
    ],
)
def test_authenticate(backend: Backend, username: str, password: str, account: str | None) -> None:
    assert backend.authenticate(username, password) == account


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # about the file itself
def test_secrets_are_not_stored(backend: Backend, database: str) -> None:
    # WAL mode keeps recent writes in the -wal file: read every file of the database.
    files = list(Path(database).parent.glob(Path(database).name + "*"))
    assert len(files) >= 2 and any(f.name.endswith("-wal") for f in files)
    raw = b"".join(f.read_bytes() for f in files)
    assert ACCOUNT.encode() in raw  # the search can find what is there
    # An API key's secret is stored only as a digest. The account's auth token is stored too
    # (db.accounts.auth_token), since Twilio signs webhooks with it, but authentication never
    # reads it: it compares the digest.
    assert KEY_SECRET.encode() not in raw
    with backend.db.write() as conn:
        conn.execute(update(db.accounts).values(auth_token="not the token"))
    assert backend.authenticate(ACCOUNT, TOKEN) == ACCOUNT
    assert backend.authenticate(ACCOUNT, "not the token") is None


# -- fixtures, reset, persistence -------------------------------------------------------------
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_state_survives_reopening_the_database(backend: Backend, database: str) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    token = pool.page(backend, ACCOUNT, SERVICE, page_size=1).next_token
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[1])
    token = pool.page(backend, ACCOUNT, SERVICE, page_size=1).next_token
    backend.db.dispose()
    reopened = Backend(database, fixtures.demo())
    try:
        entries = pool.page(reopened, ACCOUNT, SERVICE).rows
        assert [e.sid for e in entries] == NUMBERS[:2]
        # Tokens are signed with a key kept in the database, so they outlive the process.
        entries = pool.page(reopened, ACCOUNT, SERVICE, page_size=1, page_token=token).rows
        assert [e.sid for e in entries] == [NUMBERS[1]]
    finally:
        reopened.db.dispose()


def test_reset_restores_the_startup_fixtures(backend: Backend) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    extra = fixtures.parse(
        {
            "accounts": [
                {
                    "sid": "AC" + "9" * 32,
                    "auth_token": "extra",
                    "services": [{"sid": "MG" + "9" * 32}],
                }
            ]
        }
    )
    backend.load(extra)
    assert backend.authenticate("AC" + "9" * 32, "extra") == "AC" + "9" * 32
    backend.reset()
    assert pool.page(backend, ACCOUNT, SERVICE).rows == []
    assert backend.authenticate("AC" + "9" * 32, "extra") is None
    assert backend.authenticate(ACCOUNT, TOKEN) == ACCOUNT
    counts = backend.counts()
    assert (
        counts.accounts,
        counts.services,
        counts.incoming_phone_numbers,
        counts.pool_entries,
    ) == DEMO_COUNTS


def test_loading_fixtures_updates_in_place_and_keeps_the_pool(backend: Backend) -> None:
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[0])
    backend.load(fixtures.parse({"accounts": [{"sid": ACCOUNT, "auth_token": "rotated"}]}))
    assert backend.authenticate(ACCOUNT, TOKEN) is None
    assert backend.authenticate(ACCOUNT, "rotated") == ACCOUNT
    assert [e.sid for e in pool.page(backend, ACCOUNT, SERVICE).rows] == [NUMBERS[0]]


def test_an_entry_whose_service_and_number_have_different_owners_is_nobodys(
    backend: Backend,
) -> None:
    """Loads refuse to create it; if it exists anyway, neither account can read or remove it."""
    with backend.db.write() as conn:
        conn.execute(
            insert(pool_entries).values(
                sid=OTHER_NUMBER,
                service_sid=SERVICE,
                date_created=datetime(2026, 1, 1),
                date_updated=datetime(2026, 1, 1),
            )
        )
    for account in (ACCOUNT, OTHER_ACCOUNT):
        with pytest.raises(errors.ResourceNotFound):
            pool.get(backend, account, SERVICE, OTHER_NUMBER)
        with pytest.raises(errors.ResourceNotFound):
            pool.remove(backend, account, SERVICE, OTHER_NUMBER)


def test_a_large_mint_is_written_in_short_transactions(monkeypatch) -> None:
    # Other accounts' writes wait for one batch (control.yaml's x-limits mint-batch), never for
    # a whole large mint.
    backend = Backend(MEMORY, fixtures.demo())
    batch = spec.limit("mint-batch", spec.CONTROL)
    writes: list[int] = []
    real_write = backend.db.write

    @contextlib.contextmanager
    def counted_write(**options):  # type: ignore[no-untyped-def]
        with real_write(**options) as conn:
            writes.append(0)
            yield conn

    monkeypatch.setattr(backend.db, "write", counted_write)
    account = backend.mint_account(services=2, numbers=batch * 2 + 1)
    assert len(writes) == 1 + 3  # the account, then three batches of numbers
    counts = backend.counts()
    assert counts.incoming_phone_numbers == DEMO_COUNTS[2] + batch * 2 + 1
    assert backend.authenticate(account.sid, account.auth_token) == account.sid


def test_minting_stops_at_the_accounts_the_fake_may_hold() -> None:
    backend = Backend(MEMORY, fixtures.demo())
    cap = spec.limit("accounts", spec.CONTROL)
    minted = [backend.mint_account(services=0, numbers=0) for _ in range(cap - DEMO_COUNTS[0])]
    with pytest.raises(errors.TooManyAccounts) as caught:
        backend.mint_account(services=0, numbers=0)
    assert (caught.value.status, caught.value.code) == (429, 20429)
    assert backend.counts().accounts == cap
    backend.drop_account(minted[0].sid)
    backend.mint_account(services=0, numbers=0)  # room again


def test_a_mint_raced_by_a_reset_starts_again_with_new_sids() -> None:
    # A reset between the account and what it owns (here: when the mint reads the clock the
    # second time, after its first transaction) removes the half-made account; the mint starts
    # again rather than failing.
    resets: list[str] = []
    calls: list[int] = []
    backend = Backend(MEMORY, fixtures.demo())

    def clock() -> datetime:
        calls.append(1)
        if len(calls) == 2:
            resets.append("reset")
            backend.reset()
        return datetime(2026, 1, 1)

    backend.clock = clock
    account = backend.mint_account(services=1, numbers=3)
    assert resets == ["reset"]
    assert backend.authenticate(account.sid, account.auth_token) == account.sid
    assert backend.counts().accounts == DEMO_COUNTS[0] + 1  # the first attempt left nothing
    assert backend.counts().incoming_phone_numbers == DEMO_COUNTS[2] + 3
