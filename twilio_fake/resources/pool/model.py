"""The rules and state of Messaging Service phone number pools; nothing here knows about HTTP.

A pool entry is one of the account's incoming numbers put into one of its services: a number sits
in at most one pool, a pool holds at most `pool_limit` numbers (the contract's `x-limits`
`pool-size`, or `--pool-limit`), only numbers that can send SMS or MMS go in, and every query is
scoped to the authenticated account.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, select

from twilio_fake.exceptions import PhoneNumberInvalid, ResourceNotFound
from twilio_fake.paging import KeysetList, Page
from twilio_fake.resources.numbers.tables import incoming_phone_numbers as numbers
from twilio_fake.resources.services.tables import services
from twilio_fake.statements import Prepared

from .errors import (
    PhoneNumberAlreadyInService,
    PhoneNumberCannotMessage,
    PhoneNumberInAnotherService,
    ServicePoolFull,
)
from .tables import pool_entries as entries

if TYPE_CHECKING:
    from twilio_fake.backend import Backend


class PoolEntry(NamedTuple):
    """A phone number in a service's pool (a named tuple: a list page makes fifty of them)."""

    sid: str
    account_sid: str
    service_sid: str
    phone_number: str
    country_code: str
    capabilities: tuple[str, ...]
    date_created: datetime
    date_updated: datetime


_entries = select(
    entries.c.seq,
    entries.c.sid,
    numbers.c.account_sid,
    entries.c.service_sid,
    numbers.c.phone_number,
    numbers.c.country_code,
    numbers.c.capabilities,
    entries.c.date_created,
    entries.c.date_updated,
).join_from(entries, numbers, entries.c.sid == numbers.c.sid)


def _entry(row: Any) -> PoolEntry:
    """Build an entry from a row of `_entries` (seq first, then the entry's fields)."""
    _seq, sid, account, service, number, country, capabilities, created, updated = row
    return PoolEntry(sid, account, service, number, country, tuple(capabilities), created, updated)


# The statements of the rules, built once and compiled once per dialect (statements.Prepared:
# every pool request runs some of them; their rows are tuples). Values are bound by name.
_in_pool = entries.c.service_sid == bindparam("service")
_THE_SERVICE = select(services.c.sid).where(
    services.c.sid == bindparam("service"), services.c.account_sid == bindparam("account")
)
_SERVICE = Prepared(_THE_SERVICE)
# Both the number and the service must be the caller's: loads cannot move either to another
# account, and the queries check it again, a primary-key lookup each.
_SERVICE_IS_THE_ACCOUNTS = exists().where(
    services.c.sid == bindparam("service"), services.c.account_sid == bindparam("account")
)
_ENTRY = Prepared(
    _entries.where(
        entries.c.sid == bindparam("sid"),
        _in_pool,
        numbers.c.account_sid == bindparam("account"),
        _SERVICE_IS_THE_ACCOUNTS,
    )
)
_SERVICE_FOR_ADD = Prepared(_THE_SERVICE.with_for_update())
_counted = entries.alias("counted")  # the pool's entries, apart from the number's own join
_POOL_SIZE = (
    select(func.count())
    .select_from(_counted)
    .where(_counted.c.service_sid == bindparam("service"))
    .scalar_subquery()
)
# The account's number, what an entry shows of it, the service whose pool holds it (None: in no
# pool), and the size of the pool it would join: one statement, so one round trip on
# PostgreSQL. It runs after the service's row is locked (`add`), so on PostgreSQL its snapshot
# counts every add that committed before, as the pool limit needs.
_NUMBER_AND_POOL_SIZE = Prepared(
    select(entries.c.service_sid, numbers.c.phone_number, numbers.c.country_code,
           numbers.c.capabilities, _POOL_SIZE)
    .outerjoin_from(numbers, entries, entries.c.sid == numbers.c.sid)
    .where(numbers.c.sid == bindparam("sid"), numbers.c.account_sid == bindparam("account"))
)  # fmt: skip
_INSERT = Prepared(
    insert(entries).values(
        sid=bindparam("sid"),
        service_sid=bindparam("service"),
        date_created=bindparam("now"),
        date_updated=bindparam("now"),
    )
)
_REMOVE = Prepared(
    delete(entries)
    .where(
        entries.c.sid == bindparam("sid"),
        _in_pool,
        exists().where(  # the number is the account's: one primary-key lookup
            numbers.c.sid == entries.c.sid, numbers.c.account_sid == bindparam("account")
        ),
        _SERVICE_IS_THE_ACCOUNTS,
    )
    .returning(entries.c.sid)
)
_POOL = KeysetList(_entries, entries.c.seq, _in_pool & _SERVICE_IS_THE_ACCOUNTS, prepared=True)


def add(backend: Backend, account_sid: str, service_sid: str, phone_number_sid: str) -> PoolEntry:
    """Put one of the account's incoming numbers into a service's pool."""
    service = {"service": service_sid, "account": account_sid}
    try:
        with backend.db.write() as conn:
            # FOR UPDATE serialises adds to one service on databases with row locks; SQLite
            # already holds the database's write lock (see Database.write).
            if _SERVICE_FOR_ADD.first(conn, service) is None:
                raise ResourceNotFound()
            number = _check_can_add(conn, backend, account_sid, service_sid, phone_number_sid)
            now = backend.clock()
            _INSERT.rows(conn, {"sid": phone_number_sid, "service": service_sid, "now": now})
    except backend.db.integrity_errors:
        # Another writer added the same number between our check and our insert (possible only
        # on databases without a global write lock): report what it did.
        with backend.db.read() as conn:
            _check_can_add(conn, backend, account_sid, service_sid, phone_number_sid)
        raise
    _service, phone_number, country_code, capabilities, _size = tuple(number)
    return PoolEntry(
        phone_number_sid,
        account_sid,
        service_sid,
        phone_number,
        country_code,
        tuple(capabilities),
        now,
        now,
    )


def _check_can_add(
    conn: Connection, backend: Backend, account_sid: str, service_sid: str, phone_number_sid: str
) -> tuple[Any, ...]:
    """Raise the error that forbids the add, if any; return the number's row."""
    number = _NUMBER_AND_POOL_SIZE.first(
        conn, {"sid": phone_number_sid, "account": account_sid, "service": service_sid}
    )
    if number is None:
        shown = phone_number_sid if len(phone_number_sid) <= 64 else phone_number_sid[:61] + "..."
        raise PhoneNumberInvalid(
            f"Phone Number is invalid: PhoneNumberSid {shown!r} is not the SID of an incoming "
            "phone number of this account"
        )
    current_service, _number, _country, capabilities, size = tuple(number)
    if current_service == service_sid:
        raise PhoneNumberAlreadyInService()
    if current_service is not None:
        raise PhoneNumberInAnotherService()
    if not {"SMS", "MMS"} & set(capabilities):
        raise PhoneNumberCannotMessage()
    if size >= backend.pool_limit:
        raise ServicePoolFull()
    return number


def get(backend: Backend, account_sid: str, service_sid: str, sid: str) -> PoolEntry:
    row = backend.db.first(_ENTRY, {"sid": sid, "service": service_sid, "account": account_sid})
    if row is None:
        raise ResourceNotFound()
    return _entry(row)


def remove(backend: Backend, account_sid: str, service_sid: str, sid: str) -> None:
    with backend.db.write() as conn:
        removed = _REMOVE.first(conn, {"sid": sid, "service": service_sid, "account": account_sid})
    if removed is None:
        raise ResourceNotFound()


def page(
    backend: Backend,
    account_sid: str,
    service_sid: str,
    *,
    page_size: int | None = None,
    page: int | None = None,
    page_token: str | None = None,
) -> Page[PoolEntry]:
    """One page of a pool, oldest entry first (see paging.KeysetList.page).

    The first page of a pool that has numbers, the usual list, is one statement run alone
    (`Database.alone`): its scope holds only services of the account, so rows found prove the
    service the account's. An empty first page, and a page from a token (a 404 comes before a
    token's error), are read in a transaction that looks for the service first."""
    scope = {"service": service_sid, "account": account_sid}
    key = service_sid  # a token names the pool it was issued for
    if page_token is None:
        found = backend.db.alone(
            _POOL.page, scope, key, backend.tokens, page_size=page_size, page=page
        )
        if found.rows:
            return found.of(_entry)
    with backend.db.read() as conn:
        if _SERVICE.first(conn, scope) is None:
            raise ResourceNotFound()
        found = _POOL.page(
            conn, scope, key, backend.tokens, page_size=page_size, page=page, token=page_token
        )
    return found.of(_entry)


def empty_pool(conn: Connection, service_sid: str) -> None:
    """Take every number out of a service's pool (the service is going), inside the caller's
    write transaction; the numbers stay with their account."""
    conn.execute(delete(entries).where(entries.c.service_sid == service_sid))


def leave_pool(conn: Connection, phone_number_sid: str) -> None:
    """Take a number out of whichever pool holds it (the number is released), inside the
    caller's write transaction."""
    conn.execute(delete(entries).where(entries.c.sid == phone_number_sid))
