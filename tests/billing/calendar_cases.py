"""Shared constants, helpers and strategies for the billing.calendar tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

CPH = ZoneInfo("Europe/Copenhagen")
FIVE_MINUTES = timedelta(minutes=5)
ONE_DAY = timedelta(days=1)

# Copenhagen switches at 02:00 CET -> 03:00 CEST and back at 03:00 CEST -> 02:00 CET.
SPRING_FORWARD = date(2025, 3, 30)
FALL_BACK = date(2025, 10, 26)

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - date(year, month, 1)).days
