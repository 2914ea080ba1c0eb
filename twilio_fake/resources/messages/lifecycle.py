"""The status machine of outbound messages.

A stand-in written by part A (msg-api) with only what a create needs (`plan`, `first_due`,
`FINAL`); part B's `lifecycle.py` replaces it whole, with `advance_due` (which moves messages
on and names their callbacks) and the outcome rules' writers.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, select

from .tables import message_outcomes

# Statuses after which nothing more happens to a message.
FINAL = frozenset({"delivered", "undelivered", "failed", "canceled", "received", "read"})


class Outcome(NamedTuple):
    status: str  # delivered, undelivered or failed
    error_code: int | None


DELIVERED = Outcome("delivered", None)


def plan(conn: Connection, account_sid: str, to_number: str) -> Outcome:
    """How a message to `to_number` ends: the newest outcome rule that matches it (a number, or
    a prefix ending in `*`), else delivered."""
    rules = conn.execute(
        select(
            message_outcomes.c.to_pattern,
            message_outcomes.c.status,
            message_outcomes.c.error_code,
        )
        .where(message_outcomes.c.account_sid == account_sid)
        .order_by(message_outcomes.c.seq.desc())
    )
    for pattern, status, error_code in rules:
        if pattern == to_number or (pattern.endswith("*") and to_number.startswith(pattern[:-1])):
            return Outcome(status, error_code)
    return DELIVERED


def first_due(now: float, status: str) -> float | None:
    """When a message created with `status` takes its next step: at once, unless final."""
    return None if status in FINAL else now
