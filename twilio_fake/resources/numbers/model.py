"""The rules of IncomingPhoneNumbers (buy, list, fetch, update, release) and of the search of
AvailablePhoneNumbers. Nothing here knows about HTTP.

Every function takes the backend (its database, clock and page tokens) and the authenticated
account; every query is scoped to that account, and another account's number is reported
exactly like a missing one.

Twilio's test credentials answer some numbers and area codes by rule (its "magic numbers");
the fake answers them so for every account, so that a suite written against the test
credentials runs unchanged: see MAGIC_NUMBERS and MAGIC_AREA_CODES.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import phonenumbers
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    select,
)
from sqlalchemy import update as update_statement

from twilio_fake import spec
from twilio_fake.db import ACCOUNT_TURN, refuse_foreign, upsert
from twilio_fake.exceptions import PhoneNumberInvalid, ResourceNotFound
from twilio_fake.fixtures import Account
from twilio_fake.paging import KeysetList, Page

from . import inventory
from .errors import (
    NoPhoneNumbersInAreaCode,
    PhoneNumberNotAvailable,
    PhoneNumberOrAreaCodeRequired,
    TooManyNumbers,
)
from .inventory import AvailableNumber, Capabilities, Kind, Search
from .tables import incoming_phone_number_details as details
from .tables import incoming_phone_numbers as numbers

# After this package's tables: the pool's refer to them.
from twilio_fake.resources.pool import model as pool  # isort: skip

if TYPE_CHECKING:
    from twilio_fake.backend import Backend

# Twilio's test credentials (its documentation's table, confirmed by integration tests).
MAGIC_AVAILABLE = "+15005550006"  # buying it succeeds, again and again, for anyone
MAGIC_NUMBERS: dict[str, type[Exception]] = {
    "+15005550000": PhoneNumberNotAvailable,  # 21422
    "+15005550001": PhoneNumberInvalid,  # 21421
}
MAGIC_AREA_CODES: dict[int, str | None] = {
    500: MAGIC_AVAILABLE,  # buys +15005550006
    533: None,  # 21452: no numbers in it
}

# What a buy or an update may set besides the name: the number's webhooks and their settings.
SETTINGS = (
    "sms_url",
    "sms_method",
    "sms_fallback_url",
    "sms_fallback_method",
    "sms_application_sid",
    "status_callback",
    "status_callback_method",
    "voice_url",
    "voice_method",
    "voice_fallback_url",
    "voice_fallback_method",
    "voice_application_sid",
    "voice_caller_id_lookup",
    "voice_receive_mode",
    "trunk_sid",
)


@functools.cache
def defaults() -> dict[str, Any]:
    """What a number bought or loaded has until it is updated: Twilio's documented defaults, the
    `default` of each field of the contract's IncomingPhoneNumber (none: unset)."""
    fields = spec.contract()["components"]["schemas"]["IncomingPhoneNumber"]["properties"]
    return {name: fields[name].get("default") for name in SETTINGS}


SETTABLE = frozenset(SETTINGS) | {"friendly_name"}


@dataclass(frozen=True)
class IncomingNumber:
    """An incoming phone number as the 2010 API shows it (dates naive UTC)."""

    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    capabilities: dict[str, bool]
    type: str
    settings: dict[str, Any]  # SETTINGS
    date_created: datetime
    date_updated: datetime


_columns = (
    details.c.seq,
    numbers.c.sid,
    numbers.c.account_sid,
    numbers.c.phone_number,
    numbers.c.capabilities,
    details.c.friendly_name,
    details.c.type,
    *(details.c[name] for name in SETTINGS),
    details.c.date_created,
    details.c.date_updated,
)
_NUMBERS = select(*_columns).join_from(numbers, details, details.c.sid == numbers.c.sid)


def _number(row: Any) -> IncomingNumber:
    values = row._mapping
    return IncomingNumber(
        sid=values["sid"],
        account_sid=values["account_sid"],
        phone_number=values["phone_number"],
        friendly_name=values["friendly_name"],
        capabilities=capabilities_2010(values["capabilities"]),
        type=values["type"],
        settings={name: values[name] for name in SETTINGS},
        date_created=values["date_created"],
        date_updated=values["date_updated"],
    )


def capabilities_2010(pool_capabilities: list[str]) -> dict[str, bool]:
    """The 2010 object from the capabilities as the pool stores them (["MMS", "SMS", "Voice"])."""
    held = set(pool_capabilities)
    return {"voice": "Voice" in held, "sms": "SMS" in held, "mms": "MMS" in held, "fax": False}


def _pool_capabilities(capabilities: Capabilities) -> list[str]:
    """The pool's list, in Twilio's order (MMS, SMS, Voice), from the 2010 object."""
    held = capabilities.as_dict()
    return [name for name, key in (("MMS", "mms"), ("SMS", "sms"), ("Voice", "voice")) if held[key]]


def _number_type(phone_number: str) -> str:
    """`local`, `toll-free` or `mobile`, from the number's plan (Twilio's `type`)."""
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(phone_number, None))
    except phonenumbers.NumberParseException:
        return "local"
    if kind == phonenumbers.PhoneNumberType.TOLL_FREE:
        return "toll-free"
    if kind == phonenumbers.PhoneNumberType.MOBILE:
        return "mobile"
    return "local"


# -- buy -----------------------------------------------------------------------------------------
LIMIT = "incoming-numbers-per-account"  # in the contract's x-limits
_ACCOUNTS_NUMBERS = (
    select(func.count()).select_from(numbers).where(numbers.c.account_sid == bindparam("account"))
)


def numbers_per_account() -> int:
    return spec.limit(LIMIT)


def buy(
    backend: Backend,
    account_sid: str,
    *,
    phone_number: str | None = None,
    area_code: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> IncomingNumber:
    """Buy a number for the account: the one named, else the first for sale in the area code.

    PhoneNumber wins when both are given. The inventory's numbers are sold once (a released
    one is for sale again); the test credentials' +15005550006 to anyone, any number of times.
    """
    settings = dict(settings or {})
    _complete(backend, account_sid)  # the account's earlier numbers come first in its list
    if phone_number is not None:
        return _buy_number(backend, account_sid, phone_number, settings)
    if area_code is not None:
        return _buy_in_area_code(backend, account_sid, area_code, settings)
    raise PhoneNumberOrAreaCodeRequired()


def _buy_number(
    backend: Backend, account_sid: str, phone_number: str, settings: dict[str, Any]
) -> IncomingNumber:
    shown = phone_number if len(phone_number) <= 32 else phone_number[:29] + "..."
    magic = MAGIC_NUMBERS.get(phone_number)
    if magic is PhoneNumberInvalid:
        raise PhoneNumberInvalid(f"Phone Number is invalid: {shown}")
    if magic is not None:
        raise PhoneNumberNotAvailable(f"PhoneNumber {shown} is not available")
    if phone_number == MAGIC_AVAILABLE:
        return _insert(backend, account_sid, _magic_number(), settings, claim=False)
    if not is_e164(phone_number):
        raise PhoneNumberInvalid(f"Phone Number is invalid: {shown!r} is not an E.164 number")
    for_sale = inventory.find(phone_number)
    if for_sale is None:
        raise PhoneNumberNotAvailable(f"PhoneNumber {shown} is not available")
    try:
        return _insert(backend, account_sid, for_sale, settings, claim=True)
    except _Taken:
        raise PhoneNumberNotAvailable(f"PhoneNumber {shown} is not available") from None


@functools.lru_cache(maxsize=4096)
def is_e164(text: str) -> bool:
    """A valid phone number written in E.164. Kept for the last numbers seen (at most 4,096 of
    at most the contract's 256 characters): a send asks it of its `To` and its `From`, and
    libphonenumber's parse and validation were a send's costliest rule."""
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return False
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164 == text and phonenumbers.is_valid_number(parsed)


def _buy_in_area_code(
    backend: Backend, account_sid: str, area_code: str, settings: dict[str, Any]
) -> IncomingNumber:
    code = inventory.check_area_code(area_code.strip())
    if code in MAGIC_AREA_CODES:
        magic = MAGIC_AREA_CODES[code]
        if magic is None:
            raise NoPhoneNumbersInAreaCode(f"No phone numbers found in area code {code}")
        return _insert(backend, account_sid, _magic_number(), settings, claim=False)
    candidates = list(inventory.local_in_area_code(code))
    # A buyer that loses a race for a number tries the next free one: each loss means another
    # buyer got a number, so this ends, at the latest when the area code is sold out.
    for _attempt in candidates:
        free = _first_free(backend, candidates)
        if free is None:
            break
        try:
            return _insert(backend, account_sid, free, settings, claim=True)
        except _Taken:
            continue
    raise NoPhoneNumbersInAreaCode(f"No phone numbers found in area code {code}")


def _magic_number() -> AvailableNumber:
    parsed = phonenumbers.parse(MAGIC_AVAILABLE, None)
    return AvailableNumber(
        phone_number=MAGIC_AVAILABLE,
        friendly_name=inventory.friendly_name(parsed),
        iso_country="US",
        kind="local",
        area_code=500,
        locality=None,
        region=None,
        postal_code=None,
        latitude=None,
        longitude=None,
        rate_center=None,
        lata=None,
        address_requirements="none",
        capabilities=Capabilities(voice=True, sms=True, mms=True),
    )


def _first_free(backend: Backend, candidates: list[AvailableNumber]) -> AvailableNumber | None:
    taken = _taken(backend, [c.phone_number for c in candidates])
    return next((c for c in candidates if c.phone_number not in taken), None)


def _taken(backend: Backend, phone_numbers: list[str]) -> frozenset[str]:
    """Which of these numbers some account holds (any account: a held number is not for sale)."""
    if not phone_numbers:
        return frozenset()
    held = select(numbers.c.phone_number).where(numbers.c.phone_number.in_(phone_numbers))
    with backend.db.read() as conn:
        return frozenset(conn.scalars(held))


class _Taken(Exception):
    """Another account holds the number (found inside the buy's transaction or by the unique
    constraint when two buyers race)."""


def _insert(
    backend: Backend,
    account_sid: str,
    number: AvailableNumber,
    settings: dict[str, Any],
    *,
    claim: bool,
) -> IncomingNumber:
    sid = "PN" + secrets.token_hex(16)
    now = backend.clock()
    values = {**defaults(), **{k: v for k, v in settings.items() if k in SETTABLE}}
    friendly_name = values.pop("friendly_name", None) or number.friendly_name
    _apply_exclusions(values, settings)
    kind = number.kind  # Twilio's `type`: local, toll-free or mobile
    held = select(exists().where(numbers.c.phone_number == number.phone_number))
    limit = numbers_per_account()
    try:
        with backend.db.write() as conn:
            if claim and conn.scalar(held):
                raise _Taken()
            conn.execute(ACCOUNT_TURN, {"account": account_sid})  # buys take turns
            if (conn.scalar(_ACCOUNTS_NUMBERS, {"account": account_sid}) or 0) >= limit:
                raise TooManyNumbers(
                    f"This account already holds {limit} phone numbers, the most the fake "
                    "holds for one account; release one first"
                )
            conn.execute(
                insert(numbers).values(
                    sid=sid,
                    account_sid=account_sid,
                    phone_number=number.phone_number,
                    country_code=number.iso_country,
                    capabilities=_pool_capabilities(number.capabilities),
                )
            )
            conn.execute(
                insert(details).values(
                    sid=sid,
                    account_sid=account_sid,
                    inventory_number=number.phone_number if claim else None,
                    type=kind,
                    friendly_name=friendly_name,
                    date_created=now,
                    date_updated=now,
                    **values,
                )
            )
    except backend.db.integrity_errors:
        raise _Taken() from None  # a racing buyer's insert committed first
    return IncomingNumber(
        sid=sid,
        account_sid=account_sid,
        phone_number=number.phone_number,
        friendly_name=friendly_name,
        capabilities=number.capabilities.as_dict(),
        type=kind,
        settings=values,
        date_created=now,
        date_updated=now,
    )


def _apply_exclusions(values: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Twilio: setting a voice application clears the trunk, and setting a trunk clears the
    voice application."""
    if changes.get("voice_application_sid"):
        values["trunk_sid"] = None
    if changes.get("trunk_sid"):
        values["voice_application_sid"] = None


# -- numbers from fixtures -----------------------------------------------------------------------
def load_fixtures(conn: Connection, account: Account, now: datetime) -> None:
    """Add or update the account's incoming numbers of a fixture document (inside its
    transaction). A number new to the fake gets its 2010 fields, with the defaults; one it has
    keeps what a client set on it."""
    sids = [number.sid for number in account.incoming_phone_numbers]
    refuse_foreign(conn, numbers, "incoming number", sids, account.sid)
    for number in account.incoming_phone_numbers:
        upsert(
            conn,
            numbers,
            number.sid,
            account_sid=account.sid,
            phone_number=number.phone_number,
            country_code=number.country_code,
            capabilities=list(number.capabilities),
        )
    _add_missing_details(conn, account.sid, now)


def _missing_details(conn: Connection, account_sid: str) -> list[Any]:
    query = (
        select(numbers.c.sid, numbers.c.phone_number)
        .where(
            numbers.c.account_sid == account_sid,
            ~exists().where(details.c.sid == numbers.c.sid),
        )
        .order_by(numbers.c.sid)
    )
    return list(conn.execute(query).all())


def _add_missing_details(conn: Connection, account_sid: str, now: datetime) -> None:
    # One statement for them all (executemany), the defaults read once: a statement built and
    # the spec read per number took minutes for a million.
    settings = defaults()
    rows = [
        {
            "sid": sid,
            "account_sid": account_sid,
            "inventory_number": None,
            "type": _number_type(phone_number),
            "friendly_name": inventory.friendly_name(phone_number)
            if is_e164(phone_number)
            else phone_number,
            "date_created": now,
            "date_updated": now,
            **settings,
        }
        for sid, phone_number in _missing_details(conn, account_sid)
    ]
    if rows:
        conn.execute(insert(details), rows)


def _complete(backend: Backend, account_sid: str) -> None:
    """Give the account's numbers that an earlier version of the fake stored (without the 2010
    fields) their fields, with the defaults: once, the first time they are read."""
    with backend.db.read() as conn:
        if not _missing_details(conn, account_sid):
            return
    try:
        with backend.db.write() as conn:
            _add_missing_details(conn, account_sid, backend.clock())
    except backend.db.integrity_errors:
        pass  # another reader completed them at the same time: they are there


# -- list, fetch, update, release ----------------------------------------------------------------
def list_numbers(
    backend: Backend,
    account_sid: str,
    *,
    phone_number: str | None = None,
    friendly_name: str | None = None,
    origin: str | None = None,
    page_size: int,
    page: int | None = None,
    page_token: str | None = None,
) -> Page[IncomingNumber]:
    """One page of the account's numbers, oldest first.

    `phone_number` matches any part of the number, `*` standing for any one digit;
    `friendly_name` matches the whole name; `origin` is `twilio` for every number the fake has.
    A page token is bound to the account and the filters it was issued with.
    """
    _complete(backend, account_sid)
    scope: dict[str, Any] = {"account": account_sid}
    if phone_number is not None:
        scope["phone"] = _like(phone_number)
    if friendly_name is not None:
        scope["name"] = friendly_name
    hosted = origin is not None and origin != "twilio"
    listing = _list(phone_number is not None, friendly_name is not None, hosted)
    found = listing.read_page(
        backend.db,
        scope,
        _list_key(account_sid, phone_number, friendly_name, origin),
        backend.tokens,
        page_size=page_size,
        page=page,
        token=page_token,
    )
    return found.of(_number)


@functools.cache
def _list(by_phone_number: bool, by_friendly_name: bool, hosted: bool) -> KeysetList:
    """The account's numbers with the filters given, in `seq` order (one list per combination
    of filters, its statements built once)."""
    scope = [details.c.account_sid == bindparam("account")]
    if by_phone_number:
        scope += [
            details.c.sid == numbers.c.sid,
            numbers.c.phone_number.like(bindparam("phone"), escape="\\"),
        ]
    if by_friendly_name:
        scope.append(details.c.friendly_name == bindparam("name"))
    if hosted:
        scope.append(false())  # every number of the fake is Twilio's own
    return KeysetList(
        _NUMBERS,
        details.c.seq,
        and_(*scope),
        need_a_token=spec.page_needs_a_token("ListIncomingPhoneNumber"),
    )


def _like(partial: str) -> str:
    escaped = partial.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + escaped.replace("*", "_") + "%"


def _list_key(account_sid: str, *filters: str | None) -> str:
    """Bind page tokens to one list: the account and its filters (hashed, to keep tokens short
    whatever the filters hold)."""
    text = "\x1f".join("\x1e" if value is None else value for value in (account_sid, *filters))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def fetch(backend: Backend, account_sid: str, sid: str) -> IncomingNumber:
    _complete(backend, account_sid)
    row = backend.db.first(
        _NUMBERS.where(numbers.c.sid == sid, numbers.c.account_sid == account_sid), {}
    )
    if row is None:
        raise ResourceNotFound()
    return _number(row)


def update(
    backend: Backend, account_sid: str, sid: str, changes: Mapping[str, Any]
) -> IncomingNumber:
    """Change the number's name and webhooks; what `changes` leaves out stays as it is."""
    _complete(backend, account_sid)
    values = {k: v for k, v in changes.items() if k in SETTABLE}
    _apply_exclusions(values, changes)
    mine = and_(details.c.sid == sid, details.c.account_sid == account_sid)
    with backend.db.write() as conn:
        if conn.execute(select(details.c.sid).where(mine).with_for_update()).first() is None:
            raise ResourceNotFound()
        conn.execute(
            update_statement(details).where(mine).values(**values, date_updated=backend.clock())
        )
        row = conn.execute(_NUMBERS.where(numbers.c.sid == sid)).first()
    return _number(row)


def release(backend: Backend, account_sid: str, sid: str) -> None:
    """Release the number: it leaves every pool it was in, and is for sale again."""
    with backend.db.write() as conn:
        owned = select(numbers.c.sid).where(
            numbers.c.sid == sid, numbers.c.account_sid == account_sid
        )
        if conn.execute(owned.with_for_update()).first() is None:
            raise ResourceNotFound()
        pool.leave_pool(conn, sid)
        conn.execute(delete(details).where(details.c.sid == sid))
        conn.execute(delete(numbers).where(numbers.c.sid == sid))


# -- AvailablePhoneNumbers -----------------------------------------------------------------------
def search_available(
    backend: Backend, country: str, kind: Kind, filters: Search, *, page_size: int
) -> list[AvailableNumber]:
    """Up to `page_size` numbers of the country's inventory that match and no account holds.

    A country the fake sells nothing in is not found (404), as Twilio answers a country it
    does not serve; a search that matches nothing is an empty list.
    """
    if not inventory.has_country(country):
        raise ResourceNotFound()
    matches = list(inventory.search(country, kind, filters))
    taken = _taken(backend, [number.phone_number for number in matches])
    return [number for number in matches if number.phone_number not in taken][:page_size]
