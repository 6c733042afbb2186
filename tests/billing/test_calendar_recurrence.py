"""Tests for recurrence occurrences and billing run calendars in billing.calendar."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.calendar import (
    Frequency,
    RunCalendar,
    RunCycle,
    next_occurrence,
    occurrence_date,
    occurrences_due,
)
from billing.errors import InvalidRequest
from tests.billing.calendar_cases import (
    ONE_DAY,
    dates,
    days_in_month,
)

# -- recurring invoices ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "frequency", "expected"),
    [
        (
            date(2024, 1, 31),
            Frequency.MONTHLY,
            ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"],
        ),
        (
            date(2023, 1, 31),
            Frequency.MONTHLY,
            ["2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30", "2023-05-31"],
        ),
        (
            date(2023, 11, 30),
            Frequency.QUARTERLY,
            ["2023-11-30", "2024-02-29", "2024-05-30", "2024-08-30", "2024-11-30"],
        ),
        (
            date(2024, 2, 29),
            Frequency.YEARLY,
            ["2024-02-29", "2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"],
        ),
        (
            date(2024, 12, 30),
            Frequency.WEEKLY,
            ["2024-12-30", "2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27"],
        ),
        (
            date(2024, 10, 15),
            Frequency.MONTHLY,
            ["2024-10-15", "2024-11-15", "2024-12-15", "2025-01-15", "2025-02-15"],
        ),
    ],
)
def test_occurrences_clamp_to_the_month_end_and_count_from_the_anchor(
    start: date, frequency: Frequency, expected: list[str]
) -> None:
    got = [occurrence_date(start, frequency, index).isoformat() for index in range(5)]
    assert got == expected


def test_occurrences_are_not_chained_from_a_clamped_one() -> None:
    # Chaining from Feb 29 would give Mar 29 and drift off the month end for good.
    assert occurrence_date(date(2024, 1, 31), Frequency.MONTHLY, 2) == date(2024, 3, 31)
    assert occurrence_date(date(2024, 1, 31), Frequency.MONTHLY, 13) == date(2025, 2, 28)
    assert occurrence_date(date(2024, 1, 31), Frequency.MONTHLY, 49) == date(2028, 2, 29)


def test_frequency_accepts_its_string_value() -> None:
    assert occurrence_date(date(2024, 1, 31), "quarterly", 1) == date(2024, 4, 30)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("start", "frequency", "index"),
    [
        (date(2024, 1, 1), Frequency.MONTHLY, -1),
        (date(2024, 1, 1), "fortnightly", 1),
        (date(9999, 6, 1), Frequency.YEARLY, 1),
        (date(9999, 12, 1), Frequency.MONTHLY, 1),
        (date(9999, 12, 27), Frequency.WEEKLY, 1),
    ],
)
def test_bad_occurrences_are_invalid_requests(
    start: date, frequency: Frequency, index: int
) -> None:
    with pytest.raises(InvalidRequest):
        occurrence_date(start, frequency, index)


def test_a_scheduler_that_was_down_catches_up_every_missed_occurrence() -> None:
    start = date(2024, 1, 31)
    assert occurrences_due(start, Frequency.MONTHLY, 1, None, date(2024, 5, 30)) == [1, 2, 3]
    # The occurrence dated today is due today.
    assert occurrences_due(start, Frequency.MONTHLY, 1, None, date(2024, 5, 31)) == [1, 2, 3, 4]
    assert occurrences_due(start, Frequency.MONTHLY, 4, None, date(2024, 5, 30)) == []


def test_catching_up_stops_at_the_total() -> None:
    start = date(2024, 1, 15)
    assert occurrences_due(start, Frequency.WEEKLY, 0, 3, date(2024, 6, 1)) == [0, 1, 2]
    assert occurrences_due(start, Frequency.WEEKLY, 2, 3, date(2024, 6, 1)) == [2]
    assert occurrences_due(start, Frequency.WEEKLY, 3, 3, date(2024, 6, 1)) == []
    assert occurrences_due(start, Frequency.WEEKLY, 0, 0, date(2024, 6, 1)) == []


def test_nothing_is_due_before_the_start() -> None:
    start = date(2024, 1, 15)
    assert occurrences_due(start, Frequency.YEARLY, 0, None, date(2024, 1, 14)) == []
    assert occurrences_due(start, Frequency.YEARLY, 0, None, date(2024, 1, 15)) == [0]


def test_catching_up_near_the_end_of_the_calendar_stops_there() -> None:
    start = date(9999, 10, 31)
    assert occurrences_due(start, Frequency.MONTHLY, 0, None, date.max) == [0, 1, 2]


def test_next_occurrence_is_the_one_not_done_yet() -> None:
    start = date(2024, 1, 31)
    assert next_occurrence(start, Frequency.MONTHLY, 0, 3) == start
    assert next_occurrence(start, Frequency.MONTHLY, 1, 3) == date(2024, 2, 29)
    assert next_occurrence(start, Frequency.MONTHLY, 2, 3) == date(2024, 3, 31)
    assert next_occurrence(start, Frequency.MONTHLY, 3, 3) is None
    assert next_occurrence(start, Frequency.MONTHLY, 120, None) == date(2034, 1, 31)


def test_an_unknown_frequency_is_an_invalid_request_when_catching_up() -> None:
    with pytest.raises(InvalidRequest, match="fortnightly"):
        occurrences_due(date(2024, 1, 1), "fortnightly", 0, None, date(2024, 2, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize(("done", "total"), [(-1, None), (0, -1)])
def test_negative_progress_is_an_invalid_request(done: int, total: int | None) -> None:
    with pytest.raises(InvalidRequest):
        occurrences_due(date(2024, 1, 1), Frequency.WEEKLY, done, total, date(2024, 2, 1))
    with pytest.raises(InvalidRequest):
        next_occurrence(date(2024, 1, 1), Frequency.WEEKLY, done, total)


@settings(max_examples=200, deadline=None)
@given(dates, st.sampled_from(Frequency), st.integers(min_value=0, max_value=600))
def test_occurrences_strictly_increase_and_keep_the_anchor_day(
    start: date, frequency: Frequency, index: int
) -> None:
    this = occurrence_date(start, frequency, index)
    following = occurrence_date(start, frequency, index + 1)
    assert this < following
    if frequency is Frequency.WEEKLY:
        assert following - this == timedelta(weeks=1)
    else:
        assert this.day == min(start.day, days_in_month(this.year, this.month))
        assert following.day == min(start.day, days_in_month(following.year, following.month))


@settings(max_examples=100, deadline=None)
@given(
    start=dates,
    frequency=st.sampled_from(Frequency),
    total=st.none() | st.integers(min_value=0, max_value=12),
    first_done=st.integers(min_value=0, max_value=3),
    offset=st.integers(min_value=-30, max_value=400),
    span=st.integers(min_value=0, max_value=90),
)
def test_a_daily_scheduler_issues_each_occurrence_once_on_its_day(
    start: date,
    frequency: Frequency,
    total: int | None,
    first_done: int,
    offset: int,
    span: int,
) -> None:
    first_day = start + timedelta(days=offset)
    done = first_done
    issued: list[int] = []
    for day in (first_day + timedelta(days=n) for n in range(span + 1)):
        due = occurrences_due(start, frequency, done, total, day)
        assert due == list(range(done, done + len(due)))
        for index in due:
            when = occurrence_date(start, frequency, index)
            assert when <= day
            # After the first (catch-up) run, each occurrence is issued on its own date.
            assert day == first_day or when == day
        issued += due
        done += len(due)
    assert len(issued) == len(set(issued))
    # Nothing due by the last day was left behind.
    last_day = first_day + timedelta(days=span)
    upcoming = next_occurrence(start, frequency, done, total)
    assert upcoming is None or upcoming > last_day
    assert occurrences_due(start, frequency, done, total, last_day) == []


# -- automatic billing runs -----------------------------------------------------------------


def test_daily_runs_every_day() -> None:
    runs = RunCalendar(RunCycle.DAILY)
    assert runs.latest_on_or_before(date(2024, 2, 29)) == date(2024, 2, 29)
    assert runs.next_after(date(2024, 2, 29)) == date(2024, 3, 1)
    assert runs.next_after(date(2024, 12, 31)) == date(2025, 1, 1)


def test_weekly_runs_on_its_weekday() -> None:
    mondays = RunCalendar(RunCycle.WEEKLY)  # 2024-06-03 is a Monday
    assert mondays.latest_on_or_before(date(2024, 6, 3)) == date(2024, 6, 3)
    assert mondays.next_after(date(2024, 6, 3)) == date(2024, 6, 10)
    assert mondays.latest_on_or_before(date(2024, 6, 9)) == date(2024, 6, 3)
    assert mondays.next_after(date(2024, 6, 9)) == date(2024, 6, 10)

    fridays = RunCalendar(RunCycle.WEEKLY, weekday=4)
    assert fridays.latest_on_or_before(date(2024, 6, 3)) == date(2024, 5, 31)
    assert fridays.next_after(date(2024, 6, 3)) == date(2024, 6, 7)
    assert fridays.next_after(date(2024, 6, 7)) == date(2024, 6, 14)

    sundays = RunCalendar(RunCycle.WEEKLY, weekday=6)
    assert sundays.latest_on_or_before(date(2024, 12, 31)) == date(2024, 12, 29)
    assert sundays.next_after(date(2024, 12, 31)) == date(2025, 1, 5)


def test_monthly_runs_clamp_to_short_months() -> None:
    month_end = RunCalendar(RunCycle.MONTHLY, month_day=31)
    assert month_end.latest_on_or_before(date(2024, 2, 28)) == date(2024, 1, 31)
    assert month_end.next_after(date(2024, 2, 28)) == date(2024, 2, 29)
    assert month_end.latest_on_or_before(date(2024, 2, 29)) == date(2024, 2, 29)
    assert month_end.next_after(date(2024, 2, 29)) == date(2024, 3, 31)
    assert month_end.latest_on_or_before(date(2023, 3, 30)) == date(2023, 2, 28)
    assert month_end.next_after(date(2023, 4, 29)) == date(2023, 4, 30)

    thirtieth = RunCalendar(RunCycle.MONTHLY, month_day=30)
    assert thirtieth.next_after(date(2023, 1, 30)) == date(2023, 2, 28)
    assert thirtieth.next_after(date(2023, 2, 28)) == date(2023, 3, 30)


def test_monthly_runs_cross_the_year() -> None:
    fifteenth = RunCalendar(RunCycle.MONTHLY, month_day=15)
    assert fifteenth.latest_on_or_before(date(2024, 1, 10)) == date(2023, 12, 15)
    assert fifteenth.next_after(date(2024, 12, 20)) == date(2025, 1, 15)
    assert fifteenth.latest_on_or_before(date(2024, 1, 15)) == date(2024, 1, 15)
    assert fifteenth.next_after(date(2024, 1, 14)) == date(2024, 1, 15)

    first = RunCalendar(RunCycle.MONTHLY)
    assert first.latest_on_or_before(date(2024, 3, 31)) == date(2024, 3, 1)
    assert first.next_after(date(2024, 12, 1)) == date(2025, 1, 1)


def test_cycle_accepts_its_string_value() -> None:
    runs = RunCalendar("monthly", month_day=31)  # type: ignore[arg-type]
    assert runs.cycle is RunCycle.MONTHLY
    assert runs.next_after(date(2024, 4, 1)) == date(2024, 4, 30)


@pytest.mark.parametrize(
    ("cycle", "weekday", "month_day"),
    [
        (RunCycle.WEEKLY, 7, 1),
        (RunCycle.WEEKLY, -1, 1),
        (RunCycle.MONTHLY, 0, 0),
        (RunCycle.MONTHLY, 0, 32),
        ("hourly", 0, 1),
    ],
)
def test_bad_run_calendars_are_invalid_requests(
    cycle: RunCycle, weekday: int, month_day: int
) -> None:
    with pytest.raises(InvalidRequest):
        RunCalendar(cycle, weekday=weekday, month_day=month_day)


run_calendars = st.builds(
    RunCalendar,
    cycle=st.sampled_from(RunCycle),
    weekday=st.integers(min_value=0, max_value=6),
    month_day=st.integers(min_value=1, max_value=31),
)


def _is_run_date(runs: RunCalendar, day: date) -> bool:
    if runs.cycle is RunCycle.WEEKLY:
        return day.weekday() == runs.weekday
    if runs.cycle is RunCycle.MONTHLY:
        return day.day == min(runs.month_day, days_in_month(day.year, day.month))
    return True


@settings(max_examples=300, deadline=None)
@given(run_calendars, dates)
def test_run_dates_bracket_today_and_skip_nothing(runs: RunCalendar, today: date) -> None:
    latest = runs.latest_on_or_before(today)
    following = runs.next_after(today)
    assert latest <= today < following
    assert runs.latest_on_or_before(following) == following
    assert _is_run_date(runs, latest)
    assert _is_run_date(runs, following)
    # No run date lies strictly between the two.
    assert runs.next_after(latest) == following
    assert runs.latest_on_or_before(following - ONE_DAY) == latest
