"""The tables of IncomingPhoneNumbers.

`incoming_phone_numbers` (sid, account, number, country, capabilities as the pool shows them)
is what fixtures and minted accounts write and what the pool reads. What the 2010 resource adds
(its name, webhooks, dates, its place in the list) sits in a table of its own, keyed by the same
SID, so that a database made by an earlier version opens unchanged: the fake creates the missing
table at start-up, and a number without a row there gets one, with the defaults, the first time
its account's numbers are read (see model.py).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    TypeDecorator,
)

from twilio_fake.db import Sid, metadata


class Capabilities(TypeDecorator[Any]):
    """A number's capabilities ("MMS", "SMS", "Voice"), stored as a JSON array and read back as a
    tuple. Each distinct stored text is parsed once: a page of a pool reads fifty of them, of a
    handful of kinds, and parsing them was a fifth of a row's cost. (PostgreSQL's driver hands
    the array over parsed already.)"""

    impl = JSON
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], Any]:
        parse = self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype)

        @functools.lru_cache(maxsize=64)
        def parsed(text: str) -> tuple[str, ...]:
            values = parse(text) if parse is not None else json.loads(text)
            return tuple(values or ())

        def process(value: Any) -> tuple[str, ...] | None:
            if value is None:
                return None
            return parsed(value) if isinstance(value, str) else tuple(value)

        return process


incoming_phone_numbers = Table(
    "incoming_phone_numbers",
    metadata,
    Column("sid", Sid(), primary_key=True),
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False),
    Column("phone_number", String(16), nullable=False),
    Column("country_code", String(2), nullable=False),
    Column("capabilities", Capabilities(), nullable=False),  # Twilio's names: MMS, SMS, Voice
    # A send finds its From among its account's numbers, by both: with an index on each alone
    # (as before), SQLite chose either, by the order the process happened to create them in,
    # and half the servers read all of the account's numbers for every send.
    Index("ix_incoming_phone_numbers_account_number", "account_sid", "phone_number"),
)

# A search asks which of its candidates some account holds: by number, whichever account.
Index("ix_incoming_phone_numbers_phone_number", incoming_phone_numbers.c.phone_number)

incoming_phone_number_details = Table(
    "incoming_phone_number_details",
    metadata,
    # The list's order, oldest first (keyset paging walks it).
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("sid", Sid(), ForeignKey("incoming_phone_numbers.sid"), nullable=False, unique=True),
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False),
    # The number bought from the inventory, unique: two buyers racing for one number cannot
    # both have it. NULL for numbers from fixtures and for the test credentials' magic number,
    # which every account may buy.
    Column("inventory_number", String(16), nullable=True, unique=True),
    Column("type", String(16), nullable=False),
    Column("friendly_name", String(64), nullable=False),
    Column("sms_url", String, nullable=True),
    Column("sms_method", String(4), nullable=False),
    Column("sms_fallback_url", String, nullable=True),
    Column("sms_fallback_method", String(4), nullable=False),
    Column("sms_application_sid", Sid(), nullable=True),
    Column("status_callback", String, nullable=True),
    Column("status_callback_method", String(4), nullable=False),
    Column("voice_url", String, nullable=True),
    Column("voice_method", String(4), nullable=False),
    Column("voice_fallback_url", String, nullable=True),
    Column("voice_fallback_method", String(4), nullable=False),
    Column("voice_application_sid", Sid(), nullable=True),
    Column("voice_caller_id_lookup", Boolean, nullable=False),
    Column("voice_receive_mode", String(5), nullable=False),
    Column("trunk_sid", Sid(), nullable=True),
    Column("date_created", DateTime, nullable=False),
    Column("date_updated", DateTime, nullable=False),
    Index("ix_incoming_phone_number_details_account_seq", "account_sid", "seq"),
)
