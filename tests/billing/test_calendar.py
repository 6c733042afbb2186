"""Recurrence dates, billing run calendars, auto-send times, reminders and month ranges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.calendar import (
    Frequency,
    ReminderKind,
    ReminderStep,
    RunCalendar,
    RunCycle,
    auto_send_at,
    local_day,
    next_occurrence,
    occurrence_date,
    occurrences_due,
    previous_month,
    reminder_due,
    reminder_steps,
    start_of_day,
)
from billing.errors import InvalidRequest

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


# -- days and instants in the firm's time zone ----------------------------------------------


def test_local_day_is_the_day_in_the_firms_time_zone() -> None:
    assert local_day(utc(2025, 3, 29, 22, 59), CPH) == date(2025, 3, 29)
    assert local_day(utc(2025, 3, 29, 23, 0), CPH) == date(2025, 3, 30)
    assert local_day(utc(2025, 7, 1, 21, 59), CPH) == date(2025, 7, 1)
    assert local_day(utc(2025, 7, 1, 22, 0), CPH) == date(2025, 7, 2)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        local_day(datetime(2025, 1, 1, 12, 0), CPH)
    with pytest.raises(ValueError, match="aware"):
        auto_send_at(datetime(2025, 1, 1, 12, 0), date(2025, 1, 1), FIVE_MINUTES, CPH)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 1, 15), utc(2025, 1, 14, 23, 0)),
        (SPRING_FORWARD, utc(2025, 3, 29, 23, 0)),
        (SPRING_FORWARD + ONE_DAY, utc(2025, 3, 30, 22, 0)),
        (FALL_BACK, utc(2025, 10, 25, 22, 0)),
        (FALL_BACK + ONE_DAY, utc(2025, 10, 26, 23, 0)),
    ],
)
def test_start_of_day_in_copenhagen(day: date, expected: datetime) -> None:
    got = start_of_day(day, CPH)
    assert got == expected
    assert got.utcoffset() == timedelta(0)


def test_dst_switch_days_are_23_and_25_hours_long() -> None:
    def length(day: date) -> timedelta:
        return start_of_day(day + ONE_DAY, CPH) - start_of_day(day, CPH)

    assert length(SPRING_FORWARD) == timedelta(hours=23)
    assert length(FALL_BACK) == timedelta(hours=25)
    assert length(date(2025, 6, 1)) == timedelta(hours=24)


def test_start_of_day_when_dst_skips_or_repeats_midnight() -> None:
    # Santiago skips 00:00-01:00 on 2024-09-08: the day starts at 01:00 -03.
    assert start_of_day(date(2024, 9, 8), ZoneInfo("America/Santiago")) == utc(2024, 9, 8, 4, 0)
    # Tunis repeated 00:00-01:00 on 1990-09-30: the day starts at the first midnight.
    assert start_of_day(date(1990, 9, 30), ZoneInfo("Africa/Tunis")) == utc(1990, 9, 29, 22, 0)
    # Samoa skipped 2011-12-30 altogether: it "starts" when the 31st does.
    assert start_of_day(date(2011, 12, 30), ZoneInfo("Pacific/Apia")) == utc(2011, 12, 30, 10, 0)
    assert start_of_day(date(2011, 12, 31), ZoneInfo("Pacific/Apia")) == utc(2011, 12, 30, 10, 0)


DST_ZONES = [
    "Europe/Copenhagen",
    "America/Santiago",
    "America/Havana",
    "America/New_York",
    "Africa/Tunis",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
]


@settings(max_examples=200, deadline=None)
@given(
    st.dates(min_value=date(1970, 1, 2), max_value=date(2037, 12, 31)),
    st.sampled_from(DST_ZONES),
)
def test_start_of_day_is_the_first_instant_of_the_local_day(day: date, zone: str) -> None:
    tz = ZoneInfo(zone)
    begins = start_of_day(day, tz)
    assert begins.tzinfo is UTC
    assert local_day(begins, tz) == day
    assert local_day(begins - timedelta(microseconds=1), tz) == day - ONE_DAY


# -- auto-send ------------------------------------------------------------------------------


def test_an_invoice_issued_now_is_sent_after_the_grace_delay() -> None:
    issued = utc(2025, 5, 6, 9, 30)
    assert auto_send_at(issued, date(2025, 5, 6), FIVE_MINUTES, CPH) == utc(2025, 5, 6, 9, 35)


def test_a_backdated_invoice_is_sent_after_the_grace_delay() -> None:
    issued = utc(2025, 5, 6, 9, 30)
    assert auto_send_at(issued, date(2025, 4, 1), FIVE_MINUTES, CPH) == utc(2025, 5, 6, 9, 35)


def test_a_future_dated_invoice_is_sent_at_the_start_of_its_issue_date() -> None:
    issued = utc(2025, 3, 20, 14, 0)
    assert auto_send_at(issued, SPRING_FORWARD, FIVE_MINUTES, CPH) == utc(2025, 3, 29, 23, 0)
    assert auto_send_at(issued, SPRING_FORWARD + ONE_DAY, FIVE_MINUTES, CPH) == utc(
        2025, 3, 30, 22, 0
    )
    assert auto_send_at(issued, FALL_BACK + ONE_DAY, FIVE_MINUTES, CPH) == utc(2025, 10, 26, 23, 0)


def test_the_grace_delay_wins_when_issued_just_before_the_issue_date() -> None:
    # 23:58 local on 2025-03-29, dated the 30th which starts two minutes later.
    issued = datetime(2025, 3, 29, 23, 58, tzinfo=CPH)
    sent = auto_send_at(issued, SPRING_FORWARD, FIVE_MINUTES, CPH)
    assert sent == utc(2025, 3, 29, 23, 3)
    assert sent.tzinfo is UTC


def test_the_grace_delay_is_elapsed_time_across_a_dst_switch() -> None:
    # 02:58 CEST (the first of the two) is 00:58 UTC; wall-clock arithmetic on the local
    # datetime would land on 03:03 CET, an hour too late.
    issued = datetime(2025, 10, 26, 2, 58, tzinfo=CPH)
    assert issued.utcoffset() == timedelta(hours=2)
    assert auto_send_at(issued, FALL_BACK, FIVE_MINUTES, CPH) == utc(2025, 10, 26, 1, 3)
    assert auto_send_at(issued, FALL_BACK, ONE_DAY, CPH) == utc(2025, 10, 27, 0, 58)


def test_a_negative_grace_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        auto_send_at(utc(2025, 5, 6, 9, 30), date(2025, 5, 6), -FIVE_MINUTES, CPH)


# -- reminders ------------------------------------------------------------------------------

DUE = date(2024, 3, 15)
EMAILED = date(2024, 3, 1)
STEPS = reminder_steps(before_days=[3, 7], after_days=[14, 1, 7])


def before(days: int) -> ReminderStep:
    return ReminderStep(ReminderKind.BEFORE_DUE, days)


def after(days: int) -> ReminderStep:
    return ReminderStep(ReminderKind.AFTER_DUE, days)


def test_reminder_steps_come_in_due_date_order() -> None:
    steps = reminder_steps(before_days=[3, 7], after_days=[14, 1, 7])
    assert steps == (before(7), before(3), after(1), after(7), after(14))
    assert [step.due_on(DUE).isoformat() for step in STEPS] == [
        "2024-03-08",
        "2024-03-12",
        "2024-03-16",
        "2024-03-22",
        "2024-03-29",
    ]
    assert reminder_steps([], []) == ()
    # The same count before and after the due date is two different reminders.
    assert reminder_steps([3], [3]) == (before(3), after(3))


def test_reminder_due_dates_cross_month_ends() -> None:
    assert before(3).due_on(date(2024, 3, 1)) == date(2024, 2, 27)
    assert before(3).due_on(date(2023, 3, 1)) == date(2023, 2, 26)
    assert after(1).due_on(date(2024, 12, 31)) == date(2025, 1, 1)


@pytest.mark.parametrize(
    ("before_days", "after_days"),
    [([0], []), ([], [366]), ([-3], []), ([3, 3], []), ([], [1, 7, 1])],
)
def test_bad_reminder_schedules_are_invalid_requests(
    before_days: list[int], after_days: list[int]
) -> None:
    with pytest.raises(InvalidRequest):
        reminder_steps(before_days, after_days)


def test_bad_reminder_steps_are_invalid_requests() -> None:
    with pytest.raises(InvalidRequest):
        ReminderStep(ReminderKind.AFTER_DUE, 0)
    with pytest.raises(InvalidRequest):
        ReminderStep("nag", 3)  # type: ignore[arg-type]
    assert ReminderStep("late_reminder", 3) == after(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("today", "already_sent", "expected"),
    [
        (date(2024, 3, 7), [], None),
        (date(2024, 3, 8), [], before(7)),
        (date(2024, 3, 8), [before(7)], None),
        (date(2024, 3, 11), [before(7)], None),
        (date(2024, 3, 12), [before(7)], before(3)),
        (date(2024, 3, 15), [before(7), before(3)], None),
        (date(2024, 3, 16), [before(7), before(3)], after(1)),
    ],
)
def test_reminders_follow_the_schedule(
    today: date, already_sent: list[ReminderStep], expected: ReminderStep | None
) -> None:
    assert reminder_due(DUE, EMAILED, today, STEPS, already_sent) == expected


def test_a_scheduler_that_was_down_sends_only_the_latest_reminder() -> None:
    # Down from the 9th to the 25th: before(3), after(1) and after(7) all fell due.
    assert reminder_due(DUE, EMAILED, date(2024, 3, 25), STEPS, [before(7)]) == after(7)
    assert reminder_due(DUE, EMAILED, date(2024, 3, 25), STEPS, [before(7), after(7)]) is None
    assert reminder_due(DUE, EMAILED, date(2024, 4, 30), STEPS, []) == after(14)
    # The order the steps come in does not matter.
    assert reminder_due(DUE, EMAILED, date(2024, 3, 25), STEPS[::-1], []) == after(7)


def test_reminders_never_go_backwards() -> None:
    # A late reminder 7 days after was sent; the schedule then changed to 1 and 3 days after.
    changed = reminder_steps([], [1, 3])
    assert reminder_due(DUE, EMAILED, date(2024, 3, 25), changed, [after(7)]) is None
    assert reminder_due(DUE, EMAILED, date(2024, 3, 25), changed, [after(1)]) == after(3)


def test_no_reminder_on_or_before_the_day_the_invoice_was_emailed() -> None:
    emailed_late = date(2024, 3, 12)  # the day before(3) falls due
    assert reminder_due(DUE, emailed_late, date(2024, 3, 12), STEPS, []) is None
    assert reminder_due(DUE, emailed_late, date(2024, 3, 15), STEPS, []) is None
    assert reminder_due(DUE, emailed_late, date(2024, 3, 16), STEPS, []) == after(1)
    assert reminder_due(DUE, date(2024, 4, 1), date(2024, 4, 1), STEPS, []) is None


# -- report periods -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "first", "last"),
    [
        (date(2024, 3, 15), date(2024, 2, 1), date(2024, 2, 29)),
        (date(2023, 3, 31), date(2023, 2, 1), date(2023, 2, 28)),
        (date(2024, 1, 1), date(2023, 12, 1), date(2023, 12, 31)),
        (date(2024, 5, 31), date(2024, 4, 1), date(2024, 4, 30)),
    ],
)
def test_previous_month(today: date, first: date, last: date) -> None:
    assert previous_month(today) == (first, last)
