"""Tests for local days, auto-send times, reminders and previous_month in billing.calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.calendar import (
    ReminderKind,
    ReminderStep,
    auto_send_at,
    local_day,
    previous_month,
    reminder_due,
    reminder_steps,
    start_of_day,
)
from billing.errors import InvalidRequest
from tests.billing.calendar_cases import (
    CPH,
    FALL_BACK,
    FIVE_MINUTES,
    ONE_DAY,
    SPRING_FORWARD,
    utc,
)


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
