"""Which sender of a Messaging Service's pool sends a message (twilio-messaging-behaviour.md §4).

In order:
1. Sticky Sender (the service's `sticky_sender`): the sender chosen for this recipient before,
   while it is still in the pool (the same pool entry: a number that left and came back starts
   afresh) and can send this message, unless it is in another country than the recipient and
   the pool now has a sender in the recipient's country.
2. Geomatch. To a US or Canadian number only a US or Canadian sender can send (none: 21703).
   With `area_code_geomatch`: one with the recipient's area code, else one of the same state or
   province (an overlay, by libphonenumber's geocoder data), else any US or Canadian one. Without:
   one of the recipient's country, else a US one, else a Canadian one.
   To any other country: one with its country code ("Country Code Geomatch": +44 matches
   whichever of GB, GG, JE, IM the digits belong to), else a US one, else any of the pool.
3. A message with media needs an MMS sender, any other an SMS one (none: 21703). An empty
   pool is 21704.

Where Twilio picks "at random" among equals, the fake picks by the recipient (a hash of the
number), so that a test sees the same choice every run and recipients still spread over the
senders. The chosen sender becomes the recipient's sticky sender while `sticky_sender` is on;
turned off, mappings are neither used nor made, and come back when it is turned on again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, NamedTuple

import phonenumbers
from phonenumbers.phonenumberutil import is_number_type_geographical
from sqlalchemy import Connection, Row, select, update

from twilio_fake.db import insert_or_nothing
from twilio_fake.resources.numbers.tables import incoming_phone_numbers as numbers
from twilio_fake.resources.pool.tables import pool_entries
from twilio_fake.resources.services.model import Service
from twilio_fake.resources.services.tables import services

from .rule_errors import NoSenderForRecipient, NoSenders, ServiceGone
from .tables import sticky_senders
from .times import as_datetime

NANP = ("US", "CA")  # the countries a US or Canadian number must be sent to from


class Sender(NamedTuple):
    """A sender of the pool: its PN SID and its number."""

    sid: str
    phone_number: str


class _Entry(NamedTuple):
    sid: str
    phone_number: str
    country: str  # the number's ISO country, as the inventory recorded it
    calling_code: int | None
    capabilities: tuple[str, ...]
    seq: int


def region(number: str) -> str | None:
    """The country (ISO 3166 alpha-2) of an E.164 number: the one its digits belong to, else
    the main one of its country code (any +1 number counts as a US one); None if neither."""
    parsed = _parsed(number)
    if parsed is None:
        return None
    found = phonenumbers.region_code_for_number(parsed)
    if found is None and parsed.country_code is not None:
        found = phonenumbers.region_code_for_country_code(parsed.country_code)
    return found if found not in (None, "ZZ", "001") else None


def calling_code(number: str) -> int | None:
    """The country code of an E.164 number (1 for the US and Canada), or None."""
    parsed = _parsed(number)
    return parsed.country_code if parsed is not None else None


def _parsed(number: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None


def choose(
    conn: Connection,
    account_sid: str,
    service_sid: str,
    to_number: str,
    *,
    needs_mms: bool,
    now: datetime | float,
) -> Sender:
    """The sender of the service's pool for a message to `to_number`; raise NoSenders (21704),
    NoSenderForRecipient (21703) or ServiceGone (21701). Records the sticky mapping (`now`:
    the account's time, seconds or a naive UTC datetime)."""
    row = conn.execute(
        select(services).where(services.c.sid == service_sid, services.c.account_sid == account_sid)
    ).first()
    if row is None:
        raise ServiceGone()
    service = Service.from_row(row)
    entries = _entries(conn, service_sid)
    if not entries:
        raise NoSenders()
    capability = "MMS" if needs_mms else "SMS"
    capable = [e for e in entries if capability in e.capabilities]
    to = _Recipient(to_number, region(to_number), calling_code(to_number))
    mapping = None
    if service.sticky_sender:
        mapping = conn.execute(
            select(sticky_senders.c.sender_sid, sticky_senders.c.pool_seq).where(
                sticky_senders.c.service_sid == service_sid,
                sticky_senders.c.to_number == to_number,
            )
        ).first()
        kept = _still_holds(mapping, capable, to)
        if kept is not None:
            return Sender(kept.sid, kept.phone_number)
    chosen = _geomatch(capable, to, service.area_code_geomatch)
    if chosen is None:
        raise NoSenderForRecipient()
    if service.sticky_sender:
        chosen = _remember(conn, account_sid, service_sid, to, chosen, mapping, capable, now)
    return Sender(chosen.sid, chosen.phone_number)


def _entries(conn: Connection, service_sid: str) -> list[_Entry]:
    rows = conn.execute(
        select(
            numbers.c.sid,
            numbers.c.phone_number,
            numbers.c.country_code,
            numbers.c.capabilities,
            pool_entries.c.seq,
        )
        .join(pool_entries, pool_entries.c.sid == numbers.c.sid)
        .where(pool_entries.c.service_sid == service_sid)
        .order_by(pool_entries.c.seq)
    )
    return [
        _Entry(
            r.sid,
            r.phone_number,
            r.country_code,
            calling_code(r.phone_number),
            tuple(r.capabilities or ()),
            r.seq,
        )
        for r in rows
    ]


class _Recipient(NamedTuple):
    number: str
    region: str | None
    calling_code: int | None


def _is_local(entry: _Entry, to: _Recipient) -> bool:
    """A sender of the recipient's country: of its country code ("Country Code Geomatch"), and
    for +1 numbers, of its country (the US and Canada share +1 but not their senders' rules)."""
    if to.region in NANP:
        return entry.country == to.region
    return to.calling_code is not None and entry.calling_code == to.calling_code


def _still_holds(
    mapping: Row[Any, Any] | None, capable: list[_Entry], to: _Recipient
) -> _Entry | None:
    """The mapped sender, if the mapping still holds for this message."""
    if mapping is None:
        return None
    entry = next(
        (e for e in capable if e.sid == mapping.sender_sid and e.seq == mapping.pool_seq), None
    )
    if entry is None:
        return None
    if not _is_local(entry, to) and any(_is_local(e, to) for e in capable):
        return None  # a local sender was added since: the international mapping gives way
    return entry


def _geomatch(capable: list[_Entry], to: _Recipient, area_code_geomatch: bool) -> _Entry | None:
    def first(*groups: list[_Entry]) -> _Entry | None:
        for group in groups:
            if group:
                return _pick(group, to.number)
        return None

    local = [e for e in capable if _is_local(e, to)]
    us = [e for e in capable if e.country == "US"]
    if to.region in NANP:
        nanp = [e for e in capable if e.country in NANP]
        if area_code_geomatch:
            area = to.number[2:5]
            same_area = [e for e in nanp if e.phone_number[2:5] == area]
            state = state_of(to.number)
            overlay = [e for e in nanp if state is not None and state_of(e.phone_number) == state]
            return first(same_area, overlay, nanp)
        return first(local, us, nanp)
    return first(local, us, capable)


def _pick(group: list[_Entry], to_number: str) -> _Entry:
    """Twilio's "random" choice among equals, made the same for a recipient every time."""
    digest = hashlib.sha256(to_number.encode()).digest()
    return group[int.from_bytes(digest[:8], "big") % len(group)]


def _remember(
    conn: Connection,
    account_sid: str,
    service_sid: str,
    to: _Recipient,
    chosen: _Entry,
    mapping: Row[Any, Any] | None,
    capable: list[_Entry],
    now: datetime | float,
) -> _Entry:
    """Make `chosen` the recipient's sticky sender; return the sender to use. Two workers
    choosing for one recipient at once (PostgreSQL): the first mapping made wins, and both
    messages go from its sender."""
    values = {"sender_sid": chosen.sid, "pool_seq": chosen.seq, "date_created": as_datetime(now)}
    key = (sticky_senders.c.service_sid == service_sid) & (sticky_senders.c.to_number == to.number)
    if mapping is not None:  # void, or not fit for this message: replaced
        conn.execute(update(sticky_senders).where(key).values(**values))
        return chosen
    made = conn.execute(
        insert_or_nothing(conn, sticky_senders)
        .values(service_sid=service_sid, to_number=to.number, account_sid=account_sid, **values)
        .returning(sticky_senders.c.sender_sid)
    ).first()
    if made is not None:
        return chosen
    winner = conn.execute(
        select(sticky_senders.c.sender_sid, sticky_senders.c.pool_seq).where(key)
    ).first()
    return _still_holds(winner, capable, to) or chosen


def state_of(number: str) -> str | None:
    """The US state or Canadian province of a NANP number (its area code's), or None: what
    libphonenumber's geocoder names in English, read from a table made from its data
    (`nanp_states.py`, by tools/nanp_states.py: the geocoder itself would load every country's
    descriptions in every language, 108 MB). Like the geocoder, only for a number of a
    geographical type; the longest prefix of the table that the number starts with answers."""
    parsed = _parsed(number)
    if parsed is None or parsed.country_code != 1:
        return None
    kind = phonenumbers.number_type(parsed)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN or not is_number_type_geographical(kind, 1):
        return None
    digits = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
    # The table is read on first use: 4 MB that a fake which never sends does not need.
    from .nanp_states import LONGEST_PREFIX, STATES

    for length in range(min(LONGEST_PREFIX, len(digits)), 0, -1):
        if (prefix := digits[:length]) in STATES:
            return STATES[prefix]
    return None
