"""Opt-outs: recipients who texted STOP to a sender (a service, or a number outside any service).

A stand-in written by part A (msg-api) with only what sending needs (`is_opted_out`,
`scope_for`); part B's `optouts.py` replaces it whole, with the STOP/START keywords.
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, select

from twilio_fake.resources.pool.tables import pool_entries

from .tables import opt_outs


def scope_for(conn: Connection, account_sid: str, number_sid: str) -> str:
    """The scope of a sender's opt-outs: the service the number pools in, else the number."""
    service = conn.scalar(
        select(pool_entries.c.service_sid).where(pool_entries.c.sid == number_sid)
    )
    return str(service) if service is not None else number_sid


def is_opted_out(
    conn: Connection, account_sid: str, *, scope_sids: list[str], recipient: str
) -> bool:
    """Whether `recipient` opted out of any of these scopes."""
    if not scope_sids:
        return False
    found = exists().where(
        opt_outs.c.account_sid == account_sid,
        opt_outs.c.scope_sid.in_(scope_sids),
        opt_outs.c.recipient == recipient,
    )
    return bool(conn.scalar(select(found)))
