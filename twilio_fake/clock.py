"""A clock per account: real time by default; a test can freeze its account's clock and move it.

An account's time is `real time + offset` while it runs, or `frozen_at` while frozen (seconds
since the epoch, UTC). Messages take their dates from it and their statuses fall due by it, so a
test that freezes its own account's clock decides when statuses change and callbacks go, and
never moves another account's (tests under xdist each mint their own account).

The row lives in the database, so every worker and replica reads the same time. An account
without a row runs on real time. A reset or a dropped account removes the row (an account
table): its clock runs again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, Float, ForeignKey, Table, bindparam, select

from .db import Sid, metadata
from .exceptions import InvalidParameter
from .statements import Prepared

# The latest an account's clock may show: past year 9999 no date can be written (a scheduled
# message's SendAt lies up to a week further on). Advances are bounded one by one; this bounds
# them in all.
LATEST = datetime(9999, 1, 1, tzinfo=UTC).timestamp()

account_clocks = Table(
    "account_clocks",
    metadata,
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), primary_key=True),
    Column("frozen_at", Float, nullable=True),  # seconds since the epoch; NULL: running
    Column("offset", Float, nullable=False, default=0.0),  # added to real time while running
)


# Every send reads its account's clock: compiled once (statements.Prepared; rows are tuples).
_READ = Prepared(
    select(account_clocks.c.frozen_at, account_clocks.c.offset).where(
        account_clocks.c.account_sid == bindparam("account")
    )
)


@dataclass(frozen=True)
class Reading:
    """What an account's clock says: the time (seconds since the epoch) and whether it is frozen."""

    now: float
    frozen: bool

    @property
    def datetime(self) -> datetime:
        """The time as the fake stores dates: naive UTC, whole seconds."""
        return datetime.fromtimestamp(int(self.now), UTC).replace(tzinfo=None)


def read(conn: Connection, account_sid: str, real: float | None = None) -> Reading:
    """The account's time now (`real`: the real time to read it against, default now)."""
    real = time.time() if real is None else real
    row = _READ.first(conn, {"account": account_sid})
    if row is None:
        return Reading(real, False)
    frozen_at, offset = row
    if frozen_at is not None:
        return Reading(float(frozen_at), True)
    return Reading(real + float(offset), False)


def freeze(conn: Connection, account_sid: str, real: float | None = None) -> Reading:
    """Stop the account's clock where it is now."""
    current = read(conn, account_sid, real)
    _store(conn, account_sid, frozen_at=current.now, offset=0.0)
    return Reading(current.now, True)


def advance(
    conn: Connection, account_sid: str, seconds: float, real: float | None = None
) -> Reading:
    """Move the account's clock forward by `seconds` (frozen or running; it stays as it was)."""
    real = time.time() if real is None else real
    current = read(conn, account_sid, real)
    if current.now + seconds > LATEST:
        raise InvalidParameter(
            "The clock cannot be moved past 9999-01-01T00:00:00Z (no later date can be written)"
        )
    if current.frozen:
        _store(conn, account_sid, frozen_at=current.now + seconds, offset=0.0)
    else:
        _store(conn, account_sid, frozen_at=None, offset=current.now + seconds - real)
    return read(conn, account_sid, real)


def resume(conn: Connection, account_sid: str, real: float | None = None) -> Reading:
    """Let the account's clock run again from the time it shows (it does not jump back)."""
    real = time.time() if real is None else real
    current = read(conn, account_sid, real)
    _store(conn, account_sid, frozen_at=None, offset=current.now - real)
    return Reading(current.now, False)


def _store(conn: Connection, account_sid: str, *, frozen_at: float | None, offset: float) -> None:
    values = {"frozen_at": frozen_at, "offset": offset}
    found = account_clocks.c.account_sid == account_sid
    if conn.execute(account_clocks.update().where(found).values(**values)).rowcount == 0:
        conn.execute(account_clocks.insert().values(account_sid=account_sid, **values))


__all__ = ["LATEST", "Reading", "account_clocks", "advance", "freeze", "read", "resume"]
