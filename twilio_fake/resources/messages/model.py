"""The rules of Messages over the API: send (create), list, fetch, redact or cancel, delete.
Nothing here knows about HTTP.

Every function takes the backend and the authenticated account; every query is scoped to that
account, and another account's message is reported exactly like a missing one. Dates come from
the account's clock (`twilio_fake.clock`), so a test that freezes it decides them.

A create checks everything before it writes anything, in the order docs/fidelity.md
("Messages") records: `To` missing, no sender, no content, the body's length, the media, the
status callback, scheduling, the service, `To`, `From`, the recipient's opt-out. The first check
that fails answers; nothing is stored. A message that passes is stored with its first status
(`queued`, `accepted` or `scheduled`), its planned outcome and the time its next status falls
due (`lifecycle`); the dispatcher, woken, moves it on.

Twilio's test credentials answer some numbers by rule (its "magic numbers"); the fake answers
them so for every account, as it does for IncomingPhoneNumbers: see MAGIC_TO and MAGIC_FROM.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select
from sqlalchemy import update as update_statement
from sqlalchemy.engine import Row

from twilio_fake import clock, spec
from twilio_fake.exceptions import InvalidParameter, ResourceNotFound
from twilio_fake.paging import KeysetList, Page
from twilio_fake.resources.numbers.model import is_e164
from twilio_fake.resources.numbers.tables import incoming_phone_numbers as numbers
from twilio_fake.resources.pool.tables import pool_entries
from twilio_fake.resources.services.tables import services
from twilio_fake.statements import Prepared

from . import capacity, lifecycle, optouts, segments
from .errors import (
    BodyRequired,
    BodyTooLong,
    CannotCancel,
    FromInvalid,
    FromNotOwned,
    InvalidMediaUrl,
    InvalidStatusCallback,
    NotComplete,
    NotMobile,
    OptedOut,
    QueueFull,
    RegionNotPermitted,
    ScheduleNeedsService,
    SendAtNotSupported,
    SendAtRequired,
    SenderRequired,
    ServiceContentRequired,
    ServiceInvalid,
    ServiceNotFound,
    ToInvalid,
    TooManyMedia,
    ToRequired,
    ToUnreachable,
    UpdateNotValid,
)
from .tables import messages, sticky_senders

if TYPE_CHECKING:
    from twilio_fake.backend import Backend

# Twilio's test credentials (evidence section 8): a `To` answered by rule, and a `From`.
MAGIC_TO: dict[str, type[Exception]] = {
    "+15005550001": ToInvalid,  # 21211
    "+15005550002": ToUnreachable,  # 21612
    "+15005550003": RegionNotPermitted,  # 21408
    "+15005550004": OptedOut,  # 21610
    "+15005550009": NotMobile,  # 21614
}
MAGIC_FROM_VALID = "+15005550006"  # passes every check, for any account
MAGIC_FROM: dict[str, type[Exception]] = {
    "+15005550001": FromInvalid,  # 21212
    "+15005550007": FromNotOwned,  # 21606
    "+15005550008": QueueFull,  # 21611
}

SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
SHORT_CODE = re.compile(r"[0-9]{5,6}")
# A `From` written as a number: `+` and up to 15 digits. Whether the account holds it decides
# (21606), not whether it is a valid number: Twilio answered `+123` with 21606, not 21212.
WRITTEN_AS_A_NUMBER = re.compile(r"\+[0-9]{1,15}")
# An alphanumeric sender ID: up to 11 letters, digits and spaces, at least one letter.
ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
# A DateSent filter's value (the contract's DateSentFilter admits it): the day, then the time
# and offset of a second; a fraction of a second is dropped.
_DATE_FILTER = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,6})?(Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
MEDIA_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.ASCII)

# Statuses after which nothing more happens: a message may be deleted only then.
FINAL = lifecycle.FINAL


def _limit(name: str) -> int:
    return spec.limit(name)


@functools.cache
def _webhook_url() -> tuple[re.Pattern[str], int]:
    """The contract's rule for a webhook URL (the services' WebhookUrl): a `StatusCallback`
    that breaks it is Twilio's 21609 rather than a schema's 20001."""
    schema = spec.contract()["components"]["schemas"]["WebhookUrl"]
    return re.compile(schema["pattern"]), int(schema["maxLength"])


@dataclass(frozen=True)
class Message:
    """A message as the 2010 API shows it (dates naive UTC)."""

    sid: str
    account_sid: str
    service_sid: str | None
    from_number: str | None
    to_number: str
    body: str
    num_media: int
    num_segments: int
    status: str
    direction: str
    error_code: int | None
    error_message: str | None
    price: str | None
    price_unit: str | None
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None


_COLUMNS = (
    messages.c.seq,
    messages.c.sid,
    messages.c.account_sid,
    messages.c.service_sid,
    messages.c.from_number,
    messages.c.to_number,
    messages.c.body,
    messages.c.media_urls,
    messages.c.num_segments,
    messages.c.status,
    messages.c.direction,
    messages.c.error_code,
    messages.c.error_message,
    messages.c.price,
    messages.c.price_unit,
    messages.c.date_created,
    messages.c.date_updated,
    messages.c.date_sent,
)
_MESSAGES = select(*_COLUMNS)
# "message", not "sid": a bound name may not be a column's in an UPDATE.
_mine = and_(messages.c.sid == bindparam("message"), messages.c.account_sid == bindparam("account"))
_FETCH = _MESSAGES.where(_mine)
# The columns a new message leaves to their defaults (NULL), as a fetch would show them.
_UNSET = {"error_code": None, "error_message": None, "price": None, "price_unit": None}
# What a create writes: every column but the key the database gives (seq) and those _UNSET.
# Bound as "new_<column>": SQLAlchemy keeps a column's own name for itself in an INSERT.
_WRITTEN = tuple(c.name for c in messages.c if c.name != "seq" and c.name not in _UNSET)
_INSERT = Prepared(insert(messages).values({name: bindparam(f"new_{name}") for name in _WRITTEN}))
# The account's numbers of a sender, with the service each one's pool belongs to (a number sits
# in at most one pool): what the sender's checks and the opt-out's scopes need, in one statement.
_SENDER_NUMBERS = Prepared(
    select(numbers.c.sid, numbers.c.capabilities, pool_entries.c.service_sid)
    .select_from(numbers.outerjoin(pool_entries, pool_entries.c.sid == numbers.c.sid))
    .where(
        numbers.c.account_sid == bindparam("account"), numbers.c.phone_number == bindparam("sender")
    )
)


def message_of(values: Mapping[Any, Any]) -> Message:
    """A message from its stored columns (a row's mapping, or inbound's dict)."""
    return Message(
        sid=values["sid"],
        account_sid=values["account_sid"],
        service_sid=values["service_sid"],
        from_number=values["from_number"],
        to_number=values["to_number"],
        body=values["body"],
        num_media=len(json.loads(values["media_urls"])) if values["media_urls"] else 0,
        num_segments=values["num_segments"],
        status=values["status"],
        direction=values["direction"],
        error_code=values["error_code"],
        error_message=values["error_message"],
        price=values["price"],
        price_unit=values["price_unit"],
        date_created=values["date_created"],
        date_updated=values["date_updated"],
        date_sent=values["date_sent"],
    )


# -- create --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Draft:
    """What a create asks for, as the form gives it (None: not given)."""

    to: str | None = None
    from_: str | None = None
    service_sid: str | None = None
    body: str | None = None
    media_urls: Sequence[str] = ()
    content_sid: str | None = None
    status_callback: str | None = None
    schedule_type: str | None = None
    send_at: str | None = None


def create(backend: Backend, account_sid: str, draft: Draft) -> Message:
    """Send a message: check it (the first failing check raises; nothing is written), then
    store it with its first status, planned outcome and next due time, and wake the
    dispatcher."""
    to, sender, service_sid = _required(draft)
    body = draft.body or ""
    _check_content(draft, body)
    with backend.db.write() as conn:
        real = time.time()
        now = clock.read(conn, account_sid, real)
        send_at = _scheduled_at(draft, service_sid, now.datetime)
        if service_sid is not None:
            _check_service(conn, account_sid, service_sid)
        channel = "MMS" if draft.media_urls else "SMS"
        _check_to(to, sender, channel)
        held = _check_from(conn, account_sid, sender, service_sid, channel)
        _check_opt_out(conn, account_sid, to, service_sid, held)
        status = "scheduled" if send_at else ("queued" if sender else "accepted")
        outcome = lifecycle.plan(conn, account_sid, to)
        due_at = lifecycle.first_due(
            now.now, status, send_at=send_at.replace(tzinfo=UTC).timestamp() if send_at else None
        )
        values = {
            "sid": ("MM" if draft.media_urls else "SM") + secrets.token_hex(16),
            "account_sid": account_sid,
            "service_sid": service_sid,
            "from_number": sender,
            "to_number": to,
            "body": body,
            "media_urls": json.dumps(list(draft.media_urls)) if draft.media_urls else None,
            "num_segments": segments.count(body),
            "status": status,
            "direction": "outbound-api",
            "status_callback": draft.status_callback or None,
            "date_created": now.datetime,
            "date_updated": now.datetime,
            "date_sent": None if send_at else now.datetime,
            "send_at": send_at,
            "due_at": due_at,
            "outcome": outcome.status,
            "outcome_error": outcome.error_code,
        }
        _INSERT.rows(conn, {f"new_{name}": value for name, value in values.items()})
        capacity.take_place(conn, account_sid)  # last: see capacity.py
    if due_at is not None and not now.frozen:
        # When it falls due in real time (a frozen clock's messages move only when it does).
        backend.wake_dispatcher(real + (due_at - now.now))
    # What was stored, as it was given: reading the row back would find the same values.
    return message_of({**_UNSET, **values})


def _required(draft: Draft) -> tuple[str, str | None, str | None]:
    """A recipient (21604) and a sender (21603): (To, From, MessagingServiceSid). A `From` that
    is a Messaging Service's SID stands for `MessagingServiceSid` when none is given (or the
    same one is)."""
    if not draft.to:
        raise ToRequired()
    sender, service_sid = draft.from_ or None, draft.service_sid or None
    if sender is not None and SERVICE_SID.fullmatch(sender) and service_sid in (None, sender):
        sender, service_sid = None, sender
    if sender is None and service_sid is None:
        raise SenderRequired()
    return draft.to, sender, service_sid


def _check_content(draft: Draft, body: str) -> None:
    """Content (21602, or 21619 through a service), the body's length (21617), the media (21623,
    21620) and the status callback (21609)."""
    if not body and not draft.media_urls and not draft.content_sid:
        through_service = draft.service_sid or (
            draft.from_ is not None and SERVICE_SID.fullmatch(draft.from_)
        )
        raise ServiceContentRequired() if through_service else BodyRequired()
    if "\x00" in body:
        # No database here can store it (PostgreSQL refuses NUL in text): a 400, not a 500.
        raise InvalidParameter("Invalid parameter Body: it holds the NUL character")
    most = _limit("message-body-characters")
    if segments.length(body) > most:
        raise BodyTooLong(f"The concatenated message body exceeds the {most} character limit")
    if len(draft.media_urls) > _limit("media-per-message"):
        raise TooManyMedia()
    for url in draft.media_urls:
        if not MEDIA_URL.fullmatch(url):
            raise InvalidMediaUrl(f"Invalid media URL(s): {_shown(url)!r} is not an http(s) URL")
    if draft.status_callback:
        pattern, longest = _webhook_url()
        if len(draft.status_callback) > longest or not pattern.fullmatch(draft.status_callback):
            raise InvalidStatusCallback(
                "Invalid 'StatusCallback': it must be an http or https URL of a valid host name "
                f"(no underscores) or an IPv6 address in brackets, at most {longest} characters"
            )


def _scheduled_at(draft: Draft, service_sid: str | None, now: datetime) -> datetime | None:
    """A scheduled message's SendAt (naive UTC), None if the message is not scheduled: a
    service (35118), a SendAt (35111) within the contract's window (35114)."""
    if draft.schedule_type is None:
        return None
    if service_sid is None:
        raise ScheduleNeedsService()
    if not draft.send_at:
        raise SendAtRequired()
    moment = _parse_moment(draft.send_at)
    if moment is None:
        raise SendAtNotSupported(
            f"Scheduling does not support this timestamp: {_shown(draft.send_at)!r} is not an "
            "ISO 8601 time within years 1 to 9999 in UTC"
        )
    ahead = (moment - now).total_seconds()
    earliest, latest = _limit("schedule-min-seconds"), _limit("schedule-max-seconds")
    if not earliest <= ahead <= latest:
        raise SendAtNotSupported(
            f"Scheduling does not support this timestamp: SendAt must be {earliest} seconds to "
            f"{latest} seconds ahead"
        )
    return moment.replace(microsecond=0)


def _check_service(conn: Connection, account_sid: str, service_sid: str) -> None:
    """The service is well formed (21705) and the account's (21701)."""
    if not SERVICE_SID.fullmatch(service_sid):
        raise ServiceInvalid(f"The Messaging Service is invalid: {_shown(service_sid)!r}")
    mine = select(services.c.sid).where(
        services.c.sid == service_sid, services.c.account_sid == account_sid
    )
    if conn.execute(mine).first() is None:
        raise ServiceNotFound(f"The Messaging Service {service_sid} does not exist")


def _check_to(to: str, sender: str | None, channel: str) -> None:
    """The test credentials' `To` numbers (21612 names the channel: MMS when media is attached),
    then a valid phone number that is not the sender (21211)."""
    magic = MAGIC_TO.get(to)
    if magic is ToUnreachable:
        raise ToUnreachable(to, sender or "", channel)
    if magic is not None:
        raise magic(to) if magic is not OptedOut else OptedOut()
    if not is_e164(to) or to == sender:
        raise ToInvalid(_shown(to))


def _check_from(
    conn: Connection,
    account_sid: str,
    sender: str | None,
    service_sid: str | None,
    channel: str,
) -> list[tuple[str, str | None]]:
    """The test credentials' `From` numbers, a valid sender (21212) that is one of the account's
    numbers able to send on `channel` and, with a service, in its pool (21606). Returns the
    sender's numbers, each SID with the service whose pool holds it (none for a service's
    choice or the test number)."""
    if sender is None or sender == MAGIC_FROM_VALID:
        return []
    magic = MAGIC_FROM.get(sender)
    if magic is QueueFull:
        raise QueueFull()
    if magic is not None:
        raise magic(sender)
    if not (
        WRITTEN_AS_A_NUMBER.fullmatch(sender)
        or SHORT_CODE.fullmatch(sender)
        or ALPHANUMERIC_SENDER.fullmatch(sender)
    ):
        raise FromInvalid(_shown(sender))
    held = _SENDER_NUMBERS.rows(conn, {"account": account_sid, "sender": sender})
    able = [(sid, pool) for sid, capabilities, pool in held if channel in capabilities]
    if not able:
        raise FromNotOwned(sender)
    if service_sid is not None and all(pool != service_sid for _sid, pool in able):
        raise FromNotOwned(sender)
    return able


def _check_opt_out(
    conn: Connection,
    account_sid: str,
    to: str,
    service_sid: str | None,
    numbers_held: list[tuple[str, str | None]],
) -> None:
    """The recipient texted STOP to this sender: the service, or the number (and the service
    it pools in, if any) (21610)."""
    scopes = [service_sid] if service_sid else []
    for sid, pool in numbers_held:
        scopes += [sid, pool or sid]  # the scope an opt-out through the number took
    if optouts.is_opted_out(conn, account_sid, scope_sids=scopes, recipient=to):
        raise OptedOut()


def _shown(value: str, limit: int = 64) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _parse_moment(text: str) -> datetime | None:
    """An ISO 8601 time as naive UTC (UTC when it names no offset), or None; None too for a
    time whose UTC falls outside the calendar (`0001-01-01T00:00:00+01:00` is in year 0)."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return None
    return moment


# -- list ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DateSent:
    """The list's `DateSent` filters, as the query gives them: a day (or a time on it) each."""

    on: str | None = None
    on_or_before: str | None = None
    on_or_after: str | None = None


def list_messages(
    backend: Backend,
    account_sid: str,
    *,
    to: str | None = None,
    from_: str | None = None,
    date_sent: DateSent = DateSent(),
    page_size: int,
    page: int | None = None,
    page_token: str | None = None,
) -> Page[Message]:
    """One page of the account's messages, newest first, with the filters given.

    `to` and `from_` match the whole number. Each `DateSent` filter names a day (`2026-01-31`,
    or a time on it); `on` keeps that day, `on_or_before` what was sent up to its end,
    `on_or_after` from its start. A page token is bound to the account and the filters.
    """
    low, high = _date_bounds(date_sent)
    scope: dict[str, Any] = {"account": account_sid}
    if to is not None:
        scope["to"] = to
    if from_ is not None:
        scope["from"] = from_
    if low is not None:
        scope["low"] = low
    if high is not None:
        scope["high"] = high
    listing = _list(to is not None, from_ is not None, low is not None, high is not None)
    key = _list_key(
        account_sid, to, from_, date_sent.on, date_sent.on_or_before, date_sent.on_or_after
    )
    found = listing.read_page(
        backend.db,
        scope,
        key,
        backend.tokens,
        page_size=page_size,
        page=page,
        token=page_token,
    )
    return found.of(lambda row: message_of(row._mapping))


@functools.cache
def _list(by_to: bool, by_from: bool, after: bool, before: bool) -> KeysetList:
    """The account's messages with the filters given, newest first (one list per combination
    of filters, its statements built once)."""
    scope = [messages.c.account_sid == bindparam("account")]
    if by_to:
        scope.append(messages.c.to_number == bindparam("to"))
    if by_from:
        scope.append(messages.c.from_number == bindparam("from"))
    if after:
        scope.append(messages.c.date_sent >= bindparam("low"))
    if before:
        scope.append(messages.c.date_sent < bindparam("high"))
    return KeysetList(
        _MESSAGES,
        messages.c.seq,
        and_(*scope),
        descending=True,
        need_a_token=spec.page_needs_a_token("ListMessage"),
    )


def _date_bounds(filters: DateSent) -> tuple[datetime | None, datetime | None]:
    """The filters as one range of `date_sent`: [low, high), either end open (None)."""
    lows: list[datetime] = []
    highs: list[datetime] = []
    for name, text, keep_low, keep_high in (
        ("DateSent", filters.on, True, True),
        ("DateSent<", filters.on_or_before, False, True),
        ("DateSent>", filters.on_or_after, True, False),
    ):
        if text is None:
            continue
        start, end = _span(name, text)
        if keep_low:
            lows.append(start)
        if keep_high:
            highs.append(end)
    return (max(lows) if lows else None, min(highs) if highs else None)


def _span(name: str, text: str) -> tuple[datetime, datetime]:
    """The day a filter's value names, [start, end), in UTC: Twilio's filters take days (GMT
    dates), and the official SDKs send a date as its midnight (`2026-01-31T00:00:00Z`); a time
    names its day. A day past the end of its month counts on into the next; a day beyond the
    dates the fake can hold is the first or the last of them."""
    found = _DATE_FILTER.fullmatch(text)
    if found is None:
        raise InvalidParameter(f"Invalid parameter {name}: {_shown(text)!r} is not a date")
    year, month, day, hour, minute, second, offset = found.groups()
    try:
        moment = datetime(int(year), int(month), 1) + timedelta(days=int(day) - 1)
        if hour is not None:
            moment += timedelta(hours=int(hour), minutes=int(minute), seconds=int(second))
        if offset not in (None, "Z"):
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        start = datetime(moment.year, moment.month, moment.day)
        return start, start + timedelta(days=1)
    except (OverflowError, ValueError):
        edge = datetime.max if int(year) > 1 else datetime.min
        return edge, edge


def _list_key(account_sid: str, *filters: str | None) -> str:
    """Bind page tokens to one list: the account and its filters (hashed, to keep tokens
    short whatever the filters hold)."""
    text = "\x1f".join(
        "\x1e" if value is None else value for value in ("messages", account_sid, *filters)
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# -- fetch, update, delete -----------------------------------------------------------------------
def fetch(backend: Backend, account_sid: str, sid: str) -> Message:
    row = backend.db.first(_FETCH, {"message": sid, "account": account_sid})
    if row is None:
        raise ResourceNotFound()
    return message_of(row._mapping)


def update(
    backend: Backend, account_sid: str, sid: str, *, body: str | None, status: str | None
) -> Message:
    """Redact the body (`body` "") or cancel a scheduled message (`status` "canceled"): one of
    the two, else 30400; a cancel of a message no longer scheduled is 30409."""
    redact = body is not None
    cancel = status is not None
    with backend.db.write() as conn:
        current = _locked_status(conn, account_sid, sid)
        if redact == cancel:
            raise UpdateNotValid(
                "Parameters are not valid: give either Body (empty, to redact) or "
                "Status=canceled, not both"
                if redact
                else "Parameters are not valid: give Body (empty, to redact) or Status=canceled"
            )
        if redact and body != "":
            raise UpdateNotValid(
                "Parameters are not valid: message body redaction request does not have empty "
                "Body parameter"
            )
        now = clock.read(conn, account_sid)
        changes: dict[str, Any] = {"date_updated": now.datetime}
        if redact:
            changes["body"] = ""
        else:
            if current.status != "scheduled":
                raise CannotCancel(
                    f"This message cannot be canceled: its status is {current.status}"
                )
            # Due at once: the dispatcher's next round sends the `canceled` callback.
            changes.update(status="canceled", due_at=now.now)
        conn.execute(
            update_statement(messages).where(_mine).values(**changes),
            {"message": sid, "account": account_sid},
        )
        row = conn.execute(_FETCH, {"message": sid, "account": account_sid}).one()
    return message_of(row._mapping)


def _locked_status(conn: Connection, account_sid: str, sid: str) -> Row[Any]:
    """The account's message's status, its row locked for this transaction (404 if none)."""
    current = conn.execute(
        select(messages.c.status).where(_mine).with_for_update(),
        {"message": sid, "account": account_sid},
    ).first()
    if current is None:
        raise ResourceNotFound()
    return current


def delete_message(backend: Backend, account_sid: str, sid: str) -> None:
    """Delete the message: only once its status is final (20009 before).

    Its recipient's sticky mapping in its service goes with it: a mapping never outlives the
    messages to its recipient, so an account holds no more mappings than messages (its bound),
    however many recipients it has sent to and deleted. The next message to that recipient
    chooses again, and gets the same sender unless the pool changed (the choice among equals
    is the same for a recipient every time: selection.py). The message, then the mapping, then
    the count's row: the order of the dispatcher's step (messages, then their mappings) and of
    a send (its message, then the count), so no lock cycle on PostgreSQL."""
    with backend.db.write() as conn:
        current = _locked_status(conn, account_sid, sid)
        if current.status not in FINAL:
            raise NotComplete(
                f"Cannot delete this resource before it is complete: its status is {current.status}"
            )
        gone = conn.execute(_DELETE, {"message": sid, "account": account_sid}).one()
        if gone.service_sid is not None and gone.direction != "inbound":
            conn.execute(_FORGET_MAPPING, {"service": gone.service_sid, "to": gone.to_number})
        capacity.give_back(conn, account_sid)


_DELETE = (
    delete(messages)
    .where(_mine)
    .returning(messages.c.service_sid, messages.c.to_number, messages.c.direction)
)
_FORGET_MAPPING = delete(sticky_senders).where(
    sticky_senders.c.service_sid == bindparam("service"),
    sticky_senders.c.to_number == bindparam("to"),
)
