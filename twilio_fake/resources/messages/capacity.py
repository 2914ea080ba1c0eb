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
place back (`give_back`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, update

from twilio_fake import spec
from twilio_fake.statements import Prepared

from .errors import TooManyMessages
from .tables import fill_counts, message_counts

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
_GIVE_BACK = Prepared(
    update(message_counts)
    .where(_mine, message_counts.c.held > 0)
    .values(held=message_counts.c.held - 1)
)


def most() -> int:
    """The most messages one account holds (the contract's x-limits)."""
    return spec.limit(LIMIT)


def take_place(conn: Connection, account_sid: str) -> None:
    """Count one more message of the account's, inside the write that stores it; raise
    TooManyMessages (the write then stores nothing) if it holds `most()` already."""
    bound = most()
    if not _TAKE.rows(conn, {"account": account_sid, "most": bound}):
        raise TooManyMessages(
            f"This account already holds {bound} messages, the most the fake keeps for one "
            "account; delete some first (a message whose status is final can be deleted)"
        )


def give_back(conn: Connection, account_sid: str) -> None:
    """Count one message fewer, inside the write that deletes it."""
    _GIVE_BACK.rows(conn, {"account": account_sid})


def load_fixtures(conn: Connection, account: Account, now: datetime) -> None:
    """Give the account (and any other that lacks one) its count, inside the loading
    transaction: a new account's is 0."""
    fill_counts(conn)
