"""Opt-outs: a recipient who texted STOP gets nothing more from that sender until START.

The scope of an opt-out is the service the number pools in (a STOP to one number of a service
stops the whole service), else the number itself (its PN SID). Only a message that is one of
Twilio's keywords and nothing else counts ("STOP PLEASE" does not), in any case, with spaces
around it (docs/fidelity.md, "Messages: rules"). The words are Twilio's defaults for long codes
and toll-free numbers; Advanced Opt-Out's custom words are not supported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, bindparam, delete, exists, func, select

from twilio_fake import spec
from twilio_fake.db import ACCOUNT_TURN, insert_or_nothing
from twilio_fake.exceptions import InvalidParameter
from twilio_fake.resources.numbers.tables import incoming_phone_numbers as numbers
from twilio_fake.resources.pool.tables import pool_entries
from twilio_fake.resources.services.tables import services
from twilio_fake.statements import Prepared

from .tables import opt_outs
from .times import as_datetime

Keyword = Literal["stop", "start", "help"]

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def keyword(body: str) -> Keyword | None:
    """Which of Twilio's keywords the whole body is, if any."""
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return "stop"
    if word in OPT_IN_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def scope_for(conn: Connection, account_sid: str, number_sid: str) -> str:
    """The scope an opt-out through this number applies to: its service, else the number."""
    service = conn.execute(
        select(pool_entries.c.service_sid)
        .join(numbers, numbers.c.sid == pool_entries.c.sid)
        .where(pool_entries.c.sid == number_sid, numbers.c.account_sid == account_sid)
    ).scalar()
    return service if service is not None else number_sid


# Every send asks this, of a few scopes (a number's, its service's, the service sent through):
# so a prepared statement (statements.Prepared, which takes no `IN` list of varying length)
# with room for SCOPES_AT_ONCE of them, asked again for each further few.
SCOPES_AT_ONCE = 4
_OPTED_OUT = Prepared(
    select(
        exists().where(
            opt_outs.c.account_sid == bindparam("account"),
            # Typed as the column, as an `IN` list is: a Sid (db.Sid) reaches PostgreSQL as
            # it can take it.
            opt_outs.c.scope_sid.in_(
                [
                    bindparam(f"scope{n}", type_=opt_outs.c.scope_sid.type)
                    for n in range(SCOPES_AT_ONCE)
                ]
            ),
            opt_outs.c.recipient == bindparam("recipient"),
        )
    )
)


def is_opted_out(
    conn: Connection, account_sid: str, *, scope_sids: list[str], recipient: str
) -> bool:
    """Whether the recipient has opted out of any of these scopes (a message from a number of a
    service: both the service's SID and the number's)."""
    scopes = list(dict.fromkeys(scope_sids))  # each once, in order
    for start in range(0, len(scopes), SCOPES_AT_ONCE):
        few = scopes[start : start + SCOPES_AT_ONCE]
        few += few[:1] * (SCOPES_AT_ONCE - len(few))  # the room left: the first one again
        asked = {f"scope{n}": scope for n, scope in enumerate(few)}
        if _OPTED_OUT.scalar(conn, {"account": account_sid, "recipient": recipient, **asked}):
            return True
    return False


def opt_outs_per_account() -> int:
    """The opt-outs an account holds at most (the control surface's `x-limits`)."""
    return spec.limit("opt-outs-per-account", spec.CONTROL)


def opt_out(
    conn: Connection, account_sid: str, scope_sid: str, recipient: str, now: datetime | float
) -> None:
    """Record that the recipient opted out of the scope (again: nothing changes). An account
    holds at most the control surface's `x-limits` `opt-outs-per-account`, those of numbers it
    released and services it deleted not counted: one more is refused (InvalidParameter), and
    its caller's transaction, the inbound text, with it."""
    key = {"account": account_sid, "scope": scope_sid, "recipient": recipient}
    conn.execute(ACCOUNT_TURN, key)  # an account's opt-outs take turns: none passes the count
    if conn.scalar(_HELD, key):
        return
    most = opt_outs_per_account()
    if (conn.scalar(_COUNT, key) or 0) >= most:
        # Those of a released number or a deleted service count no more: no one can text them.
        conn.execute(_FORGET_GONE_SCOPES, key)
    if (conn.scalar(_COUNT, key) or 0) >= most:
        raise InvalidParameter(
            f"This account holds {most} opt-outs, the most the fake keeps for one account: "
            "a STOP from another recipient is refused until some text START, or a reset"
        )
    conn.execute(
        insert_or_nothing(conn, opt_outs).values(
            scope_sid=scope_sid,
            recipient=recipient,
            account_sid=account_sid,
            date_created=as_datetime(now),
        )
    )


_HELD = select(
    exists().where(
        opt_outs.c.scope_sid == bindparam("scope"), opt_outs.c.recipient == bindparam("recipient")
    )
)
_COUNT = select(func.count()).where(opt_outs.c.account_sid == bindparam("account"))
_FORGET_GONE_SCOPES = delete(opt_outs).where(
    opt_outs.c.account_sid == bindparam("account"),
    ~exists().where(services.c.sid == opt_outs.c.scope_sid),
    ~exists().where(numbers.c.sid == opt_outs.c.scope_sid),
)


def opt_in(
    conn: Connection,
    account_sid: str,
    scope_sid: str,
    recipient: str,
    now: datetime | float | None = None,
) -> None:
    """Lift the recipient's opt-out of the scope, if any (`now` for symmetry; unused)."""
    conn.execute(
        delete(opt_outs).where(
            opt_outs.c.account_sid == account_sid,
            opt_outs.c.scope_sid == scope_sid,
            opt_outs.c.recipient == recipient,
        )
    )


__all__ = [
    "HELP_WORDS",
    "OPT_IN_WORDS",
    "OPT_OUT_WORDS",
    "is_opted_out",
    "keyword",
    "opt_in",
    "opt_out",
    "scope_for",
]
