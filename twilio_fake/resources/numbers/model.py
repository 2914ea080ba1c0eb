"""The rules and state of an account's incoming phone numbers; nothing here knows about HTTP."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from twilio_fake.db import refuse_foreign, upsert
from twilio_fake.fixtures import Account

from .tables import incoming_phone_numbers


def load_fixtures(conn: Connection, account: Account, now: datetime) -> None:
    """Add or update the account's incoming numbers of a fixture document (inside its
    transaction)."""
    sids = [number.sid for number in account.incoming_phone_numbers]
    refuse_foreign(conn, incoming_phone_numbers, "incoming number", sids, account.sid)
    for number in account.incoming_phone_numbers:
        upsert(
            conn,
            incoming_phone_numbers,
            number.sid,
            account_sid=account.sid,
            phone_number=number.phone_number,
            country_code=number.country_code,
            capabilities=list(number.capabilities),
        )
