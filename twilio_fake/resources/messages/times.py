"""The account's time, as the rules take it (seconds since the epoch, or a naive UTC datetime),
and as the tables store it (naive UTC, whole seconds, as `twilio_fake.clock.Reading.datetime`)."""

from __future__ import annotations

from datetime import UTC, datetime


def as_datetime(now: datetime | float) -> datetime:
    """A date to store: naive UTC, whole seconds."""
    if isinstance(now, datetime):
        return now.replace(microsecond=0)
    return datetime.fromtimestamp(int(now), UTC).replace(tzinfo=None)


def as_seconds(now: datetime | float) -> float:
    """Seconds since the epoch (a naive datetime is taken as UTC)."""
    if isinstance(now, datetime):
        return now.replace(tzinfo=UTC).timestamp()
    return float(now)
