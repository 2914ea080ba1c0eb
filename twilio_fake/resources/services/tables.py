"""The services table: a Messaging Service of an account."""

from sqlalchemy import Column, ForeignKey, String, Table

from twilio_fake.db import Sid, metadata

services = Table(
    "services",
    metadata,
    Column("sid", Sid(), primary_key=True),
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False, index=True),
    Column("friendly_name", String(64), nullable=False),
    # An add to a pool locks its service's row first (SELECT … FOR UPDATE): bulk changes lock
    # this table first too (db.bulk_lock_order).
    info={"lock_rank": 0},
)
