"""The pools: which incoming number sits in which service's pool."""

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, Table, select
from sqlalchemy.sql.elements import ColumnElement

from twilio_fake.db import Sid, metadata
from twilio_fake.resources.numbers.tables import incoming_phone_numbers
from twilio_fake.resources.services.tables import services


def _rows_of(account_sid: str) -> ColumnElement[bool]:
    """An entry belongs to its service's account (and its number's: by ownership, the same)."""
    return pool_entries.c.service_sid.in_(
        select(services.c.sid).where(services.c.account_sid == account_sid)
    ) | pool_entries.c.sid.in_(
        select(incoming_phone_numbers.c.sid).where(
            incoming_phone_numbers.c.account_sid == account_sid
        )
    )


# `seq` gives the stable, oldest-first order that paging walks; a phone number sits in at most one
# pool, which the unique `sid` enforces even under concurrent writers. The entry's account is its
# number's (and its service's) account, so it is not stored twice.
pool_entries = Table(
    "pool_entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("sid", Sid(), ForeignKey("incoming_phone_numbers.sid"), nullable=False, unique=True),
    Column("service_sid", Sid(), ForeignKey("services.sid"), nullable=False),
    Column("date_created", DateTime, nullable=False),
    Column("date_updated", DateTime, nullable=False),
    Index("ix_pool_entries_service_seq", "service_sid", "seq"),
    info={"account_rows": _rows_of},
)
