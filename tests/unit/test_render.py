"""How answers write dates (handlers/_render.py), against the standard library's own writers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from handlers._render import iso_date, rfc2822_date

# Every weekday and month, both ends of a day, and years of fewer than four digits.
MOMENTS = [
    datetime(2026, 1, 1) + timedelta(days=days, seconds=seconds)
    for days in range(0, 400, 9)
    for seconds in (0, 1, 59, 3599, 43_261, 86_399)
] + [datetime(1, 1, 1), datetime(999, 12, 31, 23, 59, 59), datetime(9999, 12, 31, 23, 59, 59)]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_rfc2822_dates_are_what_the_email_package_writes(moment: datetime) -> None:
    assert rfc2822_date(moment) == format_datetime(moment.replace(tzinfo=UTC))


def test_iso_dates_are_to_the_second_in_utc() -> None:
    assert iso_date(datetime(2026, 1, 31, 12, 0, 0)) == "2026-01-31T12:00:00Z"
