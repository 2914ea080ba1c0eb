"""How many messages one account may hold: a bound of the fake's, not Twilio's.

Twilio documents no limit on the messages an account keeps. The fake stores every one it is
given, so without a bound one account's sends would grow the database, and the disk or memory
under it, for as long as they go on. An account holds at most `x-limits`
`messages-per-account` (openapi.yaml) messages: sent, scheduled and inbound alike, until they
are deleted. The write that would store one more is refused whole (TooManyMessages, 400 20001),
and changes nothing; deleting messages, dropping the account or a reset makes room again.

The count is kept, not counted: `message_counts` holds each account's (tables.py). A write that
stores a message takes a place as its last statement, after its insert (`take_place`): one
single-row UPDATE that also checks the bound, so racing sends never pass it (SQLite's write
lock orders them; on PostgreSQL the row's lock does, held to the commit). A delete gives the
place back (`give_back`). Loading an account sets its count from its messages.

Between versions the count is approximate. An account that a replica of an earlier version
made has no row until its first send or delete here counts its messages (such a replica's
reset or drop takes the row with the account: ON DELETE CASCADE). Messages such a replica
stores or deletes meanwhile are not counted until the account is next loaded or reset here, so
its count may be off by those until then.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, select, update

from twilio_fake import db, spec
from twilio_fake.statements import Prepared

from .errors import TooManyMessages
from .tables import message_counts, of_account

if TYPE_CHECKING:
    from twilio_fake.fixtures import Account

LIMIT = "messages-per-account"  # in the contract's x-limits

_mine = message_counts.c.account_sid == bindparam("account")
_TAKE = Prepared(
    update(message_counts)
    .where(_mine, message_counts.c.held < bindparam("most"))
    .values(held=message_counts.c.held + 1)
    .returning(message_counts.c.held)
)
_HELD = Prepared(select(message_counts.c.held).where(_mine))
_GIVE_BACK = Prepared(
    update(message_counts)
    .where(_mine, message_counts.c.held > 0)
    .values(held=message_counts.c.held - 1)
    .returning(message_counts.c.held)
)
_RECOUNT = Prepared(
    update(message_counts)
    .where(_mine)
    .values(held=of_account(bindparam("account")))
    .returning(message_counts.c.held)
)


def most() -> int:
    """The most messages one account holds (the contract's x-limits)."""
    return spec.limit(LIMIT)


def take_place(conn: Connection, account_sid: str) -> None:
    """Count one more message of the account's, inside the write that has just stored it;
    raise TooManyMessages (the write then stores nothing) if it held `most()` already."""
    bound = most()
    if _TAKE.rows(conn, {"account": account_sid, "most": bound}):
        return
    counted = _count_if_uncounted(conn, account_sid)
    if counted is not None:
        if counted <= bound:  # this message included
            return
        raise _full(bound)
    # The row is there: made by a racing write since the first UPDATE looked, or at the bound.
    if _TAKE.rows(conn, {"account": account_sid, "most": bound}):
        return
    raise _full(bound)


def give_back(conn: Connection, account_sid: str) -> None:
    """Count one message fewer, inside the write that has just deleted it."""
    if _GIVE_BACK.rows(conn, {"account": account_sid}):
        return
    if _count_if_uncounted(conn, account_sid) is None:
        # A racing write made the row meanwhile, counting this message: take it off.
        _GIVE_BACK.rows(conn, {"account": account_sid})


def _count_if_uncounted(conn: Connection, account_sid: str) -> int | None:
    """The account's count, made from its messages as this write sees them, if it had none
    (an account that a replica of an earlier version made); None if it has one. On PostgreSQL
    a racing write may make the row first: the insert waits for it and does nothing, and the
    caller then changes the count in that row."""
    if _HELD.first(conn, {"account": account_sid}) is not None:
        return None
    made = conn.execute(
        db.insert_or_nothing(conn, message_counts)
        .values(account_sid=account_sid, held=of_account(account_sid))
        .returning(message_counts.c.held)
    ).first()
    return None if made is None else int(made.held)


def _full(bound: int) -> TooManyMessages:
    return TooManyMessages(
        f"This account already holds {bound} messages, the most the fake keeps for one "
        "account; delete some first (a message whose status is final can be deleted)"
    )


def load_fixtures(conn: Connection, account: Account, now: datetime) -> None:
    """Set the account's count from its messages, inside the loading transaction (a new
    account's is 0; one loaded again is counted again, which mends a count that a replica of
    an earlier version left behind)."""
    if not _RECOUNT.rows(conn, {"account": account.sid}):
        _count_if_uncounted(conn, account.sid)
