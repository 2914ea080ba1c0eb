"""The tables of Messages: the messages, Sticky Sender's choices, opt-outs and planned outcomes.

Dates are stored as the fake stores them (naive UTC, whole seconds), read from the account's
clock (`twilio_fake.clock`). `due_at` is in the same clock's seconds: the time the message's
next status falls due (NULL when nothing more will happen to it), which the dispatcher reads.
A message keeps its service's SID after the service is deleted, as Twilio's history does: no
foreign key to services.
"""

from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    exists,
    func,
    insert,
    select,
)

from twilio_fake.db import Sid, accounts, metadata

messages = Table(
    "messages",
    metadata,
    # The list's order (newest first) and its keyset: one more than the largest so far.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("sid", Sid(), nullable=False, unique=True),  # SM…, or MM… with media
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False),
    Column("service_sid", Sid(), nullable=True),  # the MessagingServiceSid, if any
    Column("from_number", String, nullable=True),  # NULL while `accepted` (no sender yet)
    Column("to_number", String, nullable=False),
    Column("body", Text, nullable=False, default=""),
    Column("media_urls", Text, nullable=True),  # a JSON list of the MediaUrl values
    Column("num_segments", Integer, nullable=False, default=0),
    Column("status", String(32), nullable=False),
    Column("direction", String(32), nullable=False),  # outbound-api, inbound
    Column("error_code", Integer, nullable=True),
    Column("error_message", String, nullable=True),
    Column("price", String(32), nullable=True),
    Column("price_unit", String(8), nullable=True),
    Column("status_callback", String, nullable=True),  # the message's own StatusCallback
    Column("date_created", DateTime, nullable=False),
    Column("date_updated", DateTime, nullable=False),
    Column("date_sent", DateTime, nullable=True),
    Column("send_at", DateTime, nullable=True),  # a scheduled message's SendAt
    # The life cycle (lifecycle.py): when the next status is due, by the account's clock, and
    # the final status (and error) the message was given when it was created.
    Column("due_at", Float, nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("outcome_error", Integer, nullable=True),
    Index("ix_messages_account_seq", "account_sid", "seq"),
    Index("ix_messages_due", "due_at"),
    # The first due time of an account whose clock is not real time (lifecycle.next_due).
    Index("ix_messages_account_due", "account_sid", "due_at"),
)

# How many messages each account holds (sent, scheduled and inbound, until deleted), so that a
# send can keep to `x-limits` `messages-per-account` without counting them (`capacity.py`).
# Fixtures and mints write an account's row; a database of an earlier version gets its rows when
# this table is created in it (`on_create`); an account that has none (one a replica of an
# earlier version made, during a rolling deploy) is counted at its first send. Its foreign key
# deletes the row with its account (ON DELETE CASCADE), so that such a replica, which knows
# nothing of this table, can still drop an account or reset, and leaves no count behind.
# A write takes its place last, after inserting its message: on PostgreSQL the row stays
# locked until the write commits. Bulk changes wait for writes under way (Database.write), and
# lock this table after `messages` and `accounts` (lock_rank), which a send's insert has locked
# already, for the writes of a replica of an earlier version, which do not wait so.
message_counts = Table(
    "message_counts",
    metadata,
    Column("account_sid", Sid(), ForeignKey("accounts.sid", ondelete="CASCADE"), primary_key=True),
    Column("held", Integer, nullable=False),
    info={"lock_rank": 101},
)


def of_account(account_sid: Any) -> Any:
    """The SQL expression of how many messages an account holds, counted (`account_sid`: a
    bound parameter or a column)."""
    return (
        select(func.count())
        .select_from(messages)
        .where(messages.c.account_sid == account_sid)
        .scalar_subquery()
    )


def fill_counts(conn: Connection) -> None:
    """Give every account that has no row in `message_counts` its row, counting its messages."""
    have = select(message_counts.c.account_sid).where(
        message_counts.c.account_sid == accounts.c.sid
    )
    conn.execute(
        insert(message_counts).from_select(
            ["account_sid", "held"],
            select(accounts.c.sid, of_account(accounts.c.sid)).where(~exists(have)),
        )
    )


message_counts.info["on_create"] = fill_counts

# Sticky Sender: the sender a service chose for a recipient, reused while it stays in the pool.
# A mapping made for an earlier pool entry of the number is void (the number left the pool and
# came back: Twilio deletes the mapping when a number is removed).
sticky_senders = Table(
    "sticky_senders",
    metadata,
    Column("service_sid", Sid(), primary_key=True),
    Column("to_number", String, primary_key=True),
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False),
    Column("sender_sid", Sid(), nullable=False),  # the pool entry's PN SID
    # The pool entry's `seq` when the mapping was made: a number that left the pool and came
    # back has a new entry (a new seq), so its old mappings no longer hold (selection.py).
    # Compared by seq, not by date: the pool's dates are real time, a mapping's the account's
    # clock, which a test may have moved.
    Column("pool_seq", Integer, nullable=True),
    Column("date_created", DateTime, nullable=False),
)

# A recipient who texted STOP: no message from `scope_sid` (a service, or a number outside any
# service) reaches them until they text START.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("scope_sid", Sid(), primary_key=True),
    Column("recipient", String, primary_key=True),
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False),
    Column("date_created", DateTime, nullable=False),
    Index("ix_opt_outs_account", "account_sid"),  # an account's are counted (optouts.opt_out)
)

# What a test decided: messages to `to_pattern` (a number, or a prefix ending in `*`) end with
# `status` (delivered, undelivered, failed) and `error_code`. The newest matching rule wins;
# with none, a message is delivered.
message_outcomes = Table(
    "message_outcomes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False),
    Column("to_pattern", String, nullable=False),
    Column("status", String(32), nullable=False),
    Column("error_code", Integer, nullable=True),
    Index("ix_message_outcomes_account", "account_sid", "seq"),
)
