"""The status life cycle of an outbound message, on its account's clock
(twilio-messaging-behaviour.md §1c, §3).

    accepted ──(a sender chosen)──> queued ──> sending ──> sent ──> delivered | undelivered
        └──(no sender: 21704/21703/21701)──> failed        └──> failed (the planned outcome)
    scheduled ──(at SendAt)──> queued (a sender chosen then, if the service must choose)

Each step falls due a moment after the one before (STEP_SECONDS: delivered about 0.9 s after a
send, by the account's clock), and each due time follows from the last one, not from when the
step was taken: a frozen clock moved forward by five seconds lets a message run through every
step it would have taken meanwhile. `advance_due` moves every message that is due by its
account's clock one step and says what changed, with the status callback Twilio would send:
none for a message's first status, none for `sending` (Twilio's documented sequence names
queued, sent/failed, delivered/undelivered: docs/fidelity.md, "Messages: rules").

How a message ends is planned when it is created (`plan`): delivered, unless a test set another
outcome for its recipient (`set_outcome`). A scheduled message that is canceled is stored as
`canceled` and due at once (the account's time): the next round sends its `canceled` callback.

Several processes may call `advance_due` at once (workers on one SQLite file, replicas on one
PostgreSQL database): each call runs in a write transaction; on PostgreSQL the due rows are
claimed with FOR UPDATE SKIP LOCKED, and on every database a step is written only if the row
still has the status and due time it was read with (else the round is undone), so no message
is moved twice. The steps of a round that change the same columns are written by one statement
run for each message (executemany), not a statement each.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Float,
    Integer,
    String,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)

from twilio_fake import spec
from twilio_fake.clock import account_clocks
from twilio_fake.exceptions import InvalidParameter
from twilio_fake.resources.services.tables import services
from twilio_fake.statements import Prepared
from twilio_fake.urls import api_version

from . import selection
from .rule_errors import SenderSelectionFailed
from .tables import message_outcomes, messages
from .times import as_datetime

# How long a message stays in each status before its next step, in the account's seconds.
STEP_SECONDS = {"accepted": 0.1, "queued": 0.1, "sending": 0.2, "sent": 0.5}
OUTCOMES = ("delivered", "undelivered", "failed")
# Statuses after which nothing more happens to a message.
FINAL = frozenset({"delivered", "undelivered", "failed", "canceled", "received", "read"})
# The error a failed or undelivered outcome gets when the test names none.
DEFAULT_ERRORS = {"failed": 30008, "undelivered": 30003}
# The titles of Twilio's error dictionary, shown as a failed message's `error_message`.
ERROR_TITLES = {
    21610: "Attempt to send to unsubscribed recipient",
    21701: "The Messaging Service does not exist",
    21703: "The Messaging Service does not have a phone number available to send a message",
    21704: "The Messaging Service contains no phone numbers",
    30001: "Queue overflow",
    30002: "Account suspended",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    30034: "US A2P 10DLC - Message from an Unregistered Number",
}
MAX_PATTERN_LENGTH = 64
# The price of a sent message, per segment (a message with media: once), in USD.
SMS_PRICE, MMS_PRICE = 0.0079, 0.02


class Outcome(NamedTuple):
    """How a message ends: delivered, undelivered or failed, and the error code of the last two."""

    status: str
    error_code: int | None


class Callback(NamedTuple):
    """A status callback: where it goes (POST, form-encoded, signed) and its parameters."""

    url: str
    params: dict[str, str]


class Transition(NamedTuple):
    """A message's step: its new status, and the callback it sends (None: none)."""

    account_sid: str
    message_sid: str
    status: str
    callback: Callback | None


DELIVERED = Outcome("delivered", None)


def _planned() -> Any:
    """The statement of `plan`: the newest of an account's rules that matches a number."""
    pattern = message_outcomes.c.to_pattern
    prefix = func.length(pattern) - 1
    to = bindparam("to", type_=String)
    # "Ends in *" without LIKE: SQLite prepares a statement again each time a LIKE pattern is
    # bound (to plan for that pattern), which cost a send some 15 us on an empty table.
    matches = (pattern == to) | (
        (func.substr(pattern, func.length(pattern)) == "*")
        & (func.substr(to, 1, prefix) == func.substr(pattern, 1, prefix))
    )
    return (
        select(message_outcomes.c.status, message_outcomes.c.error_code)
        .where(message_outcomes.c.account_sid == bindparam("account"), matches)
        .order_by(message_outcomes.c.seq.desc())
        .limit(1)
    )


_PLANNED = Prepared(_planned())  # compiled once: it is asked on every send


def plan(conn: Connection, account_sid: str, to_number: str) -> Outcome:
    """How a message to `to_number` will end: the newest of the account's rules that matches
    it (the number itself, or a prefix ending in `*`), else delivered."""
    row = _PLANNED.first(conn, {"account": account_sid, "to": to_number})
    return DELIVERED if row is None else Outcome(*row)


def max_outcome_rules() -> int:
    """The outcome rules an account holds at once (the control surface's `x-limits`)."""
    return spec.limit("outcome-rules-per-account", spec.CONTROL)


def set_outcome(
    conn: Connection,
    account_sid: str,
    to_pattern: str,
    status: str,
    error_code: int | None = None,
) -> Outcome:
    """Make messages to `to_pattern` (a number, or a prefix ending in `*`; `*` alone: all) end
    as `status`, from now on; return the outcome stored (a failed or undelivered one without an
    error code gets DEFAULT_ERRORS'). A rule for the same pattern replaces the older one."""
    if status not in OUTCOMES:
        raise InvalidParameter(f"The outcome's status must be one of {', '.join(OUTCOMES)}")
    if not to_pattern or len(to_pattern) > MAX_PATTERN_LENGTH or "*" in to_pattern[:-1]:
        raise InvalidParameter(
            f"The outcome's 'to' must be a number or a prefix ending in '*' (at most "
            f"{MAX_PATTERN_LENGTH} characters)"
        )
    if status == "delivered" and error_code is not None:
        raise InvalidParameter("A delivered outcome has no error code")
    if status != "delivered" and error_code is None:
        error_code = DEFAULT_ERRORS[status]
    mine = message_outcomes.c.account_sid == account_sid
    conn.execute(delete(message_outcomes).where(mine, message_outcomes.c.to_pattern == to_pattern))
    count = conn.execute(select(func.count()).select_from(message_outcomes).where(mine)).scalar()
    most = max_outcome_rules()
    if (count or 0) >= most:
        raise InvalidParameter(f"An account holds at most {most} outcome rules: clear them first")
    conn.execute(
        insert(message_outcomes).values(
            account_sid=account_sid, to_pattern=to_pattern, status=status, error_code=error_code
        )
    )
    return Outcome(status, error_code)


def clear_outcomes(conn: Connection, account_sid: str) -> None:
    """Forget the account's outcome rules: its messages are delivered again."""
    conn.execute(delete(message_outcomes).where(message_outcomes.c.account_sid == account_sid))


def first_due(now: float, status: str, *, send_at: float | None = None) -> float | None:
    """When a message created in `status` at `now` takes its next step (None: never). A
    scheduled message is due at its `send_at` (seconds, required for it)."""
    if status == "scheduled":
        if send_at is None:
            raise ValueError("a scheduled message is due at its send_at")
        return send_at
    step = STEP_SECONDS.get(status)
    return None if step is None else now + step


def callback_for(message: Any, service: Any | None) -> Callback | None:
    """The status callback for a message's current status: to its own StatusCallback, else its
    service's; None if neither. `message` and `service`: rows (or mappings) of their tables."""
    m = _mapping(message)
    s = _mapping(service) if service is not None else {}
    url = m.get("status_callback") or s.get("status_callback")
    if not url:
        return None
    status = m["status"]
    params = {}
    if status in ("failed", "undelivered") and m.get("error_code") is not None:
        # First, as a real callback of Twilio's was recorded (behaviour 3.4, [VA-1376]).
        params["ErrorCode"] = str(m["error_code"])
    params |= {
        "SmsSid": m["sid"],
        "SmsStatus": status,
        "MessageStatus": status,
        "To": m["to_number"],
    }
    if m.get("service_sid"):
        params["MessagingServiceSid"] = m["service_sid"]
    params["MessageSid"] = m["sid"]
    params["AccountSid"] = m["account_sid"]
    if m.get("from_number"):  # none when no sender could be chosen
        params["From"] = m["from_number"]
    params["ApiVersion"] = api_version("CreateMessage")
    if status in ("delivered", "undelivered") and m.get("date_updated") is not None:
        params["RawDlrDoneDate"] = m["date_updated"].strftime("%y%m%d%H%M")
    return Callback(url, params)


def _mapping(row: Any) -> Mapping[str, Any]:
    return row._mapping if hasattr(row, "_mapping") else row


def account_now(real_now: Any) -> Any:
    """The SQL expression of an account's time (join account_clocks): frozen, or real time plus
    its offset; real time without a row. `real_now`: the real time, an SQL expression."""
    return case(
        (account_clocks.c.frozen_at.is_not(None), account_clocks.c.frozen_at),
        (account_clocks.c.account_sid.is_not(None), real_now + account_clocks.c.offset),
        else_=real_now,
    )


_DUE_COLUMNS = [
    messages.c.seq,
    messages.c.sid,
    messages.c.account_sid,
    messages.c.service_sid,
    messages.c.from_number,
    messages.c.to_number,
    messages.c.media_urls,
    messages.c.num_segments,
    messages.c.status,
    messages.c.error_code,
    messages.c.status_callback,
    messages.c.date_sent,
    messages.c.due_at,
    messages.c.outcome,
    messages.c.outcome_error,
]


def _latest_account_time(real_now: Any) -> Any:
    """The SQL expression of the latest time any account's clock reads: real time, or later
    where a clock runs ahead (or is frozen ahead). Nothing is due after it, so it bounds the
    search of the index on due times: without a bound, every round read every message still
    due (the rounds of a stream of sends cost as much as the sends)."""
    ahead = select(func.max(account_now(real_now))).select_from(account_clocks).scalar_subquery()
    return case((ahead > real_now, ahead), else_=real_now)


@functools.cache
def _due(by_account: bool, claim: bool) -> Any:
    """The statement that reads the due messages (of one account, or all), the longest due
    first; `claim`: lock them, skipping those another worker holds (PostgreSQL). Built once
    per kind: the dispatcher asks it on every round."""
    real_now = bindparam("real_now", type_=Float)
    query = (
        select(*_DUE_COLUMNS)
        .select_from(
            messages.outerjoin(
                account_clocks, account_clocks.c.account_sid == messages.c.account_sid
            )
        )
        .where(
            messages.c.due_at.is_not(None),
            messages.c.due_at <= _latest_account_time(real_now),
            messages.c.due_at <= account_now(real_now),
        )
        .order_by(messages.c.due_at, messages.c.seq)
        .limit(bindparam("limit", type_=Integer))
    )
    if by_account:
        query = query.where(messages.c.account_sid == bindparam("account"))
    if claim:
        # Another worker's claimed rows are skipped, not waited for.
        query = query.with_for_update(of=messages, skip_locked=True)
    return query


# When the next message falls due, in two parts, neither reading the messages that are done
# (the dispatcher read every message after every round: 3 ms with 10,000 messages delivered,
# 20 ms with 100,000, on the event loop):
# - of the accounts on real time (no clock row): the first due time in the index's order that
#   is not a clocked account's;
# - of each account whose clock runs (ahead or behind): its first due time less its offset,
#   each database's way below. A frozen clock makes nothing due by itself.
_CLOCKED = (
    select(account_clocks.c.account_sid)
    .where(account_clocks.c.account_sid == messages.c.account_sid)
    .exists()
)
_NEXT_ON_REAL_TIME = (
    select(messages.c.due_at)
    .where(messages.c.due_at.is_not(None), ~_CLOCKED)
    .order_by(messages.c.due_at)
    .limit(1)
)


_RUNNING_CLOCK = account_clocks.c.frozen_at.is_(None)
_NEXT_ON_RUNNING_CLOCKS = {
    # SQLite finds an account's least due time as the first entry of the index on account and
    # due time: one read however many messages the account has, due or done.
    "sqlite": select(
        func.min(
            select(func.min(messages.c.due_at))
            .where(messages.c.account_sid == account_clocks.c.account_sid)
            .scalar_subquery()
            - account_clocks.c.offset
        )
    ).where(_RUNNING_CLOCK),
    # PostgreSQL does not: it walks the index on due time alone until a row of the account
    # turns up, so for each running clock whose account has nothing due it read every other
    # account's due message (found in review: 71 ms against the old query's 12, with ten such
    # clocks and 9,091 messages due). There the running clocks' accounts' due messages are
    # joined to their clocks in one statement, which reads each due message at most once.
    "postgresql": select(func.min(messages.c.due_at - account_clocks.c.offset))
    .select_from(
        messages.join(account_clocks, account_clocks.c.account_sid == messages.c.account_sid)
    )
    .where(messages.c.due_at.is_not(None), _RUNNING_CLOCK),
}


def next_due(conn: Connection) -> float | None:
    """The real time (seconds since the epoch) at which the next message falls due, by the
    clocks that run; None if none will by itself."""
    running_clocks = _NEXT_ON_RUNNING_CLOCKS[conn.dialect.name]
    times = [conn.scalar(_NEXT_ON_REAL_TIME), conn.scalar(running_clocks)]
    return min((float(t) for t in times if t is not None), default=None)


def advance_due(
    conn: Connection, *, real_now: float, account_sid: str | None = None, limit: int = 100
) -> list[Transition]:
    """Move every message due by its account's clock (of one account, or all) one step, at most
    `limit` of them, the longest due first; return the steps taken. Run it in a write
    transaction (`Database.write`)."""
    query = _due(account_sid is not None, conn.dialect.name == "postgresql")
    parameters = {"real_now": real_now, "limit": limit, "account": account_sid}
    due = list(conn.execute(query, parameters).all())
    # Sticky mappings are written in one order by every worker (no lock cycle between two).
    due.sort(key=lambda r: (r.service_sid or "", r.to_number, r.seq))
    steps = [(row, *_step(conn, row)) for row in due]
    _claim(conn, [(row, changes) for row, changes, _callback in steps])
    services_seen: dict[tuple[str, str], Any] = {}
    taken = []
    for row, changes, callback in steps:
        if "status" not in changes:
            continue
        after = {**row._mapping, **changes}
        transition = Transition(
            row.account_sid,
            row.sid,
            changes["status"],
            callback_for(after, _service(conn, row, services_seen)) if callback else None,
        )
        taken.append((row.due_at, row.seq, transition))
    taken.sort(key=lambda t: (t[0], t[1]))
    return [transition for _, _, transition in taken]


class StepTakenElsewhere(RuntimeError):
    """A message read as due had changed when its step was written: the round is undone (its
    transaction rolls back) and the next one reads the messages again. The due messages are
    read in the same write transaction that writes their steps, under SQLite's write lock or
    PostgreSQL's row locks, so this does not happen; the check stays as the guarantee."""


# A step is written only if the message still has the status and due time it was read with
# (the bound names are not the columns': an UPDATE sets the columns given by name).
_CLAIM = update(messages).where(
    messages.c.sid == bindparam("claimed_sid"),
    messages.c.status == bindparam("claimed_status"),
    messages.c.due_at == bindparam("claimed_due_at"),
)
_SERVICE_CALLBACK = select(services.c.status_callback).where(
    services.c.sid == bindparam("service"), services.c.account_sid == bindparam("account")
)


def _claim(conn: Connection, steps: list[tuple[Any, dict[str, Any]]]) -> None:
    """Write the steps, those that change the same columns in one statement run for each
    (executemany); raise StepTakenElsewhere if any message no longer had the status and due
    time it was read with."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row, changes in steps:
        claimed = {"claimed_sid": row.sid, "claimed_status": row.status}
        shapes.setdefault(tuple(changes), []).append(
            {**changes, **claimed, "claimed_due_at": row.due_at}
        )
    for parameters in shapes.values():
        if conn.execute(_CLAIM, parameters).rowcount != len(parameters):
            raise StepTakenElsewhere("a due message changed before its step was written")


def _step(conn: Connection, row: Any) -> tuple[dict[str, Any], bool]:
    """The message's next step: the columns it changes, and whether its new status sends a
    callback (no `status` among them: none, the message had no step left)."""
    at = float(row.due_at)
    when = as_datetime(at)
    changes: dict[str, Any] = {"date_updated": when}
    status = row.status
    callback = True
    if status in ("accepted", "scheduled"):
        changes.update(_queue(conn, row, when))
    elif status == "queued":
        changes.update(status="sending", due_at=at + STEP_SECONDS["sending"])
        if row.date_sent is None:
            changes["date_sent"] = when
        callback = False
    elif status == "sending":
        if row.outcome == "failed":
            changes.update(_ending("failed", row.outcome_error))
        else:
            changes.update(status="sent", due_at=at + STEP_SECONDS["sent"], **_price(row))
    elif status == "sent":
        ending = row.outcome if row.outcome in ("delivered", "undelivered") else "delivered"
        changes.update(_ending(ending, row.outcome_error))
    elif status == "canceled":  # just canceled: Twilio's callback says so
        changes.update(status="canceled", due_at=None)
    else:  # another final status left due: nothing more happens
        changes = {"due_at": None}
        callback = False
    if changes.get("status") == "queued":
        changes["due_at"] = at + STEP_SECONDS["queued"]
    return changes, callback


def _queue(conn: Connection, row: Any, when: datetime) -> dict[str, Any]:
    """Accepted or scheduled, now due: queued from the sender chosen now (or given), or failed."""
    if row.from_number is not None or row.service_sid is None:
        return {"status": "queued"}
    try:
        sender = selection.choose(
            conn,
            row.account_sid,
            row.service_sid,
            row.to_number,
            needs_mms=bool(row.media_urls and row.media_urls != "[]"),
            now=when,
        )
    except SenderSelectionFailed as error:
        return _ending("failed", error.code)
    return {"status": "queued", "from_number": sender.phone_number}


def _ending(status: str, error_code: int | None) -> dict[str, Any]:
    if status == "delivered":
        return {"status": status, "due_at": None}
    code = error_code if error_code is not None else DEFAULT_ERRORS[status]
    return {
        "status": status,
        "due_at": None,
        "error_code": code,
        "error_message": ERROR_TITLES.get(code),
    }


def _price(row: Any) -> dict[str, Any]:
    with_media = bool(row.media_urls and row.media_urls != "[]")
    amount = MMS_PRICE if with_media else SMS_PRICE * max(1, row.num_segments or 0)
    return {"price": f"-{amount:.5f}", "price_unit": "USD"}


def _service(conn: Connection, row: Any, seen: dict[tuple[str, str], Any]) -> Any | None:
    if row.service_sid is None:
        return None
    key = (row.account_sid, row.service_sid)
    if key not in seen:
        seen[key] = conn.execute(
            _SERVICE_CALLBACK, {"service": row.service_sid, "account": row.account_sid}
        ).first()
    return seen[key]


__all__ = [
    "FINAL",
    "Callback",
    "Outcome",
    "Transition",
    "advance_due",
    "callback_for",
    "clear_outcomes",
    "first_due",
    "plan",
    "set_outcome",
]
