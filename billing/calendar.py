"""Pure date rules for billing: recurrences, run calendars, auto-send times and reminders."""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from billing.errors import InvalidRequest

__all__ = [
    "Frequency",
    "ReminderKind",
    "ReminderStep",
    "RunCalendar",
    "RunCycle",
    "auto_send_at",
    "local_day",
    "next_occurrence",
    "occurrence_date",
    "occurrences_due",
    "previous_month",
    "reminder_due",
    "reminder_steps",
    "start_of_day",
]

MAX_REMINDER_DAYS = 365


class Frequency(enum.StrEnum):
    """How often a recurring invoice repeats."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


_MONTHS_PER_STEP = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.YEARLY: 12}


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


def _add_months(start: date, months: int) -> date:
    """`start` moved by `months`, its day clamped to the target month's length."""
    serial = start.year * 12 + (start.month - 1) + months
    year, month_index = divmod(serial, 12)
    if not date.min.year <= year <= date.max.year:
        raise InvalidRequest(f"{start.isoformat()} plus {months} months is beyond the calendar")
    month = month_index + 1
    return date(year, month, min(start.day, _days_in_month(year, month)))


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError as exc:
        raise InvalidRequest(f"{day.isoformat()} plus {days} days is beyond the calendar") from exc


def _as_frequency(value: str) -> Frequency:
    try:
        return Frequency(value)
    except ValueError as exc:
        choices = ", ".join(Frequency)
        raise InvalidRequest(f"unknown frequency {value!r} (use {choices})") from exc


def occurrence_date(start: date, frequency: Frequency, index: int) -> date:
    """The date of occurrence `index` (0 is `start`), always counted from the anchor `start`.

    Counting from the anchor rather than the previous occurrence keeps month-end schedules on
    the month's end: Jan 31 monthly gives Feb 28 (29), Mar 31, Apr 30, not Mar 28.
    """
    if index < 0:
        raise InvalidRequest(f"occurrence index must be 0 or more, not {index}")
    frequency = _as_frequency(frequency)
    if frequency is Frequency.WEEKLY:
        return _shift(start, 7 * index)
    return _add_months(start, _MONTHS_PER_STEP[frequency] * index)


def _check_progress(done: int, total: int | None) -> None:
    if done < 0:
        raise InvalidRequest(f"the number of occurrences done must be 0 or more, not {done}")
    if total is not None and total < 0:
        raise InvalidRequest(f"the total number of occurrences must be 0 or more, not {total}")


def occurrences_due(
    start: date, frequency: Frequency, done: int, total: int | None, today: date
) -> list[int]:
    """The not yet done occurrence indexes dated on or before `today`, ascending.

    A scheduler that was down catches up each missed occurrence exactly once.
    """
    _check_progress(done, total)
    frequency = _as_frequency(frequency)
    due: list[int] = []
    index = done
    while total is None or index < total:
        try:
            when = occurrence_date(start, frequency, index)
        except InvalidRequest:  # past the end of the calendar, so certainly after today
            break
        if when > today:
            break
        due.append(index)
        index += 1
    return due


def next_occurrence(start: date, frequency: Frequency, done: int, total: int | None) -> date | None:
    """The date of the next occurrence to issue (index `done`), or None once `total` is reached."""
    _check_progress(done, total)
    if total is not None and done >= total:
        return None
    return occurrence_date(start, frequency, done)


class RunCycle(enum.StrEnum):
    """How often an automatic billing run happens."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class RunCalendar:
    """When automatic billing runs: every day, on one weekday, or on one day of the month."""

    cycle: RunCycle
    weekday: int = 0
    """0 = Monday .. 6 = Sunday; used by the weekly cycle."""
    month_day: int = 1
    """1..31; used by the monthly cycle, clamped to the month's length (31 -> Feb 28/29)."""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "cycle", RunCycle(self.cycle))
        except ValueError as exc:
            choices = ", ".join(RunCycle)
            raise InvalidRequest(f"unknown run cycle {self.cycle!r} (use {choices})") from exc
        if not 0 <= self.weekday <= 6:
            raise InvalidRequest(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday}")
        if not 1 <= self.month_day <= 31:
            raise InvalidRequest(f"day of the month must be 1 to 31, not {self.month_day}")

    def _run_day_in(self, year: int, month: int) -> date:
        return date(year, month, min(self.month_day, _days_in_month(year, month)))

    def latest_on_or_before(self, today: date) -> date:
        """The most recent scheduled run date on or before `today`."""
        if self.cycle is RunCycle.DAILY:
            return today
        if self.cycle is RunCycle.WEEKLY:
            return _shift(today, -((today.weekday() - self.weekday) % 7))
        this_month = self._run_day_in(today.year, today.month)
        if this_month <= today:
            return this_month
        last_month = _add_months(today.replace(day=1), -1)
        return self._run_day_in(last_month.year, last_month.month)

    def next_after(self, today: date) -> date:
        """The first scheduled run date strictly after `today`."""
        if self.cycle is RunCycle.DAILY:
            return _shift(today, 1)
        if self.cycle is RunCycle.WEEKLY:
            return _shift(today, (self.weekday - today.weekday() - 1) % 7 + 1)
        this_month = self._run_day_in(today.year, today.month)
        if this_month > today:
            return this_month
        next_month = _add_months(today.replace(day=1), 1)
        return self._run_day_in(next_month.year, next_month.month)


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a time zone aware datetime, got {moment!r}")


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar day `moment` falls on in `tz`."""
    _require_aware(moment, "moment")
    return moment.astimezone(tz).date()


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz`, in UTC.

    Usually local midnight. Local midnight with fold=0 is, by PEP 495, the earlier of a
    repeated midnight and, when a DST gap swallows midnight (America/Santiago), the instant
    the gap ends, which is when the day actually begins.
    """
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def auto_send_at(issued_at: datetime, issue_date: date, grace: timedelta, tz: ZoneInfo) -> datetime:
    """When an issued invoice is mailed automatically, in UTC.

    After the grace delay (time to correct a mistake), and for an invoice dated in the future
    not before the start of its issue date in the firm's time zone.
    """
    _require_aware(issued_at, "issued_at")
    if grace < timedelta(0):
        raise InvalidRequest(f"the auto-send grace delay must not be negative, not {grace}")
    # In UTC so that the grace is elapsed time, not wall-clock time across a DST switch.
    after_grace = issued_at.astimezone(UTC) + grace
    return max(after_grace, start_of_day(issue_date, tz))


class ReminderKind(enum.StrEnum):
    """A reminder before the due date, or a late reminder after it."""

    BEFORE_DUE = "reminder"
    AFTER_DUE = "late_reminder"


@dataclass(frozen=True, slots=True, order=True)
class ReminderStep:
    """One reminder of a schedule: `days` before (BEFORE_DUE) or after (AFTER_DUE) the due date."""

    kind: ReminderKind
    days: int

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", ReminderKind(self.kind))
        except ValueError as exc:
            choices = ", ".join(ReminderKind)
            raise InvalidRequest(f"unknown reminder kind {self.kind!r} (use {choices})") from exc
        if not 1 <= self.days <= MAX_REMINDER_DAYS:
            raise InvalidRequest(f"reminder days must be 1 to {MAX_REMINDER_DAYS}, not {self.days}")

    def due_on(self, due_date: date) -> date:
        """The day this reminder is due for an invoice due on `due_date`."""
        return _shift(due_date, _offset(self))


def _offset(step: ReminderStep) -> int:
    """Days from the due date to the step: negative before it, positive after it."""
    return -step.days if step.kind is ReminderKind.BEFORE_DUE else step.days


def _checked_days(days: Sequence[int], what: str) -> list[int]:
    seen: set[int] = set()
    for count in days:
        if not 1 <= count <= MAX_REMINDER_DAYS:
            raise InvalidRequest(f"{what} must each be 1 to {MAX_REMINDER_DAYS}, not {count}")
        if count in seen:
            raise InvalidRequest(f"{what} lists {count} twice")
        seen.add(count)
    return list(days)


def reminder_steps(
    before_days: Sequence[int], after_days: Sequence[int]
) -> tuple[ReminderStep, ...]:
    """A validated reminder schedule in due-date order (earliest reminder first)."""
    before = _checked_days(before_days, "days before the due date")
    after = _checked_days(after_days, "days after the due date")
    steps = [ReminderStep(ReminderKind.BEFORE_DUE, days) for days in before]
    steps += [ReminderStep(ReminderKind.AFTER_DUE, days) for days in after]
    return tuple(sorted(steps, key=_offset))


def reminder_due(
    due_date: date,
    sent_on: date,
    today: date,
    steps: Sequence[ReminderStep],
    already_sent: Collection[ReminderStep],
) -> ReminderStep | None:
    """The one reminder to send today, or None.

    Only steps due after the day the invoice was emailed and on or before today count, and of
    those only the latest: a scheduler that was down sends the most recent reminder rather than
    a burst, and never one older than a reminder already sent.
    """
    eligible = [step for step in steps if sent_on < step.due_on(due_date) <= today]
    if not eligible:
        return None
    latest = max(eligible, key=_offset)
    if latest in already_sent:
        return None
    if any(_offset(sent) > _offset(latest) for sent in already_sent):
        return None
    return latest


def previous_month(today: date) -> tuple[date, date]:
    """The first and last day of the month before `today`'s month."""
    last = _shift(today.replace(day=1), -1)
    return last.replace(day=1), last
