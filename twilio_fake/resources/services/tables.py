"""The services table: a Messaging Service of an account, with its settings.

Every column beyond the first three is nullable, so that a database made by an earlier version
of the fake (SID, account and name only) takes them (db._add_missing_columns): a setting left
NULL there reads as the spec's default (model.Service), and `seq` and the dates of such rows are
filled when fixtures are next loaded (model.load_fixtures). Lengths and values are the spec's to
check (FriendlyName, WebhookUrl…): the columns hold any text.
"""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    func,
    select,
)

from twilio_fake.db import Sid, metadata

services = Table(
    "services",
    metadata,
    Column("sid", Sid(), primary_key=True),
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False, index=True),
    Column("friendly_name", String, nullable=False),
    # The order of the list (keyset paging, oldest first): one more than the largest so far.
    # Inserts take turns (model.take_turns), so no two rows get the same; the unique index is
    # the last guard (NULLs, rows of an earlier version not yet numbered, are allowed).
    Column("seq", Integer, nullable=True),
    Column("date_created", DateTime, nullable=True),
    Column("date_updated", DateTime, nullable=True),
    Column("inbound_request_url", String, nullable=True),
    Column("inbound_method", String, nullable=True),
    Column("fallback_url", String, nullable=True),
    Column("fallback_method", String, nullable=True),
    Column("status_callback", String, nullable=True),
    Column("sticky_sender", Boolean, nullable=True),
    Column("mms_converter", Boolean, nullable=True),
    Column("smart_encoding", Boolean, nullable=True),
    Column("scan_message_content", String, nullable=True),
    Column("fallback_to_long_code", Boolean, nullable=True),
    Column("area_code_geomatch", Boolean, nullable=True),
    Column("validity_period", Integer, nullable=True),
    Column("synchronous_validation", Boolean, nullable=True),
    Column("usecase", String, nullable=True),
    Column("use_inbound_webhook_on_number", Boolean, nullable=True),
    Index("ix_services_seq", "seq", unique=True),
    Index("ix_services_account_seq", "account_sid", "seq"),
    # An add to a pool locks its service's row first (SELECT … FOR UPDATE), and a create locks
    # this table: bulk changes lock it first too (db.bulk_lock_order; what orders them against
    # this version's writes is Database.write's advisory lock, this order those of a replica
    # of an earlier version).
    info={"lock_rank": 0},
)

# The next `seq`, given by every insert (model.create, model.load_fixtures).
NEXT_SEQ = select(func.coalesce(func.max(services.c.seq), 0) + 1).scalar_subquery()
