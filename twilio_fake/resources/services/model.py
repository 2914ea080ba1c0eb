"""The rules and state of Messaging Services; nothing here knows about HTTP."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from twilio_fake.db import refuse_foreign, upsert
from twilio_fake.fixtures import Account

from .tables import services


def load_fixtures(conn: Connection, account: Account, now: datetime) -> None:
    """Add or update the account's services of a fixture document (inside its transaction)."""
    refuse_foreign(conn, services, "service", list(account.services), account.sid)
    for service_sid, name in account.services.items():
        upsert(conn, services, service_sid, account_sid=account.sid, friendly_name=name)
