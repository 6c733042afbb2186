"""Recurring invoices (seed 000): the first invoice at creation, the next ones on schedule,
each occurrence invoiced exactly once however many schedulers run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing import invoicing
from billing.api_support import Clock, Sessions
from billing.calendar import (
    Frequency,
    local_day,
    next_occurrence,
    occurrence_date,
    occurrences_due,
)
from billing.customers import get_customer
from billing.errors import BillingError, Conflict
from billing.firm import firm_settings, firm_zone
from billing.ledger import InvoiceTotals
from billing.models import BillingRun, RunItem, Schedule
from billing.pricing import lines_in, price_lines, stored_line
from billing.records import get_owned, list_owned
from billing.reports import day_run, finish_run
from billing.run_schemas import RunKind, RunMode, ScheduleInput, ScheduleState
from billing.schemas import InvoiceInput, LineIn, RecurringPaymentMethod

logger = logging.getLogger(__name__)

ACTIVE: Final = ScheduleState.ACTIVE.value
PAUSED: Final = ScheduleState.PAUSED.value
DEFAULT_BATCH = 200


class LostRace(Exception):
    """Another scheduler billed this schedule's occurrences first; this transaction rolls back."""


@dataclass(frozen=True, slots=True)
class Billed:
    """What one scheduler transaction invoiced for one schedule."""

    tenant: str
    run_id: int
    invoice_ids: tuple[int, ...]


# Schedules


async def create_schedule(
    session: AsyncSession, tenant: str, body: ScheduleInput, now: datetime
) -> Schedule:
    """A recurring invoice; unless it starts later, its first invoice is issued and sent now."""
    settings = await firm_settings(session, tenant, now)
    customer = await get_customer(session, tenant, body.customer_id)
    currency = body.currency or customer.currency
    totals = price_lines(
        currency,
        body.lines,
        subtotal=body.subtotal,
        discount=body.discount,
        tax_rate=body.tax_rate,
    )
    today = local_day(now, firm_zone(settings))
    start = body.start_date or today
    terms = body.payment_terms_days
    schedule = Schedule(
        tenant=tenant,
        customer_id=customer.id,
        name=body.name,
        frequency=body.frequency.value,
        start_date=start,
        total_occurrences=body.occurrences,
        done=0,
        next_run_on=start,
        state=ACTIVE,
        currency=currency,
        lines=[stored_line(line, amount=False) for line in totals.lines],
        subtotal=totals.subtotal if body.subtotal is not None else None,
        discount=totals.discount,
        tax_rate=body.tax_rate,
        payment_terms_days=settings.payment_terms_days if terms is None else terms,
        payment_method=body.payment_method.value,
        notes=body.notes,
        created_at=now,
        updated_at=now,
    )
    session.add(schedule)
    await session.flush()
    if start <= today:
        await bill_occurrence(session, schedule, 0, now, run_id=None)
        schedule.done = 1
        schedule.next_run_on, schedule.state = _progress(schedule, 1)
    return schedule


def schedule_totals(schedule: Schedule) -> InvoiceTotals:
    """The figures of each of the schedule's invoices."""
    return price_lines(
        schedule.currency,
        _lines(schedule),
        subtotal=schedule.subtotal,
        discount=schedule.discount,
        tax_rate=schedule.tax_rate,
    )


async def get_schedule(session: AsyncSession, tenant: str, schedule_id: int) -> Schedule:
    """The tenant's recurring schedule, or NotFound."""
    return await get_owned(session, Schedule, tenant, schedule_id, "recurring schedule")


async def list_schedules(
    session: AsyncSession,
    tenant: str,
    *,
    state: str | None = None,
    customer_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Schedule]:
    """The tenant's schedules, the next to run first (finished ones last)."""
    order = (Schedule.next_run_on.is_(None), Schedule.next_run_on, Schedule.id)
    return await list_owned(
        session,
        Schedule,
        tenant,
        order_by=order,
        state=state,
        customer_id=customer_id,
        limit=limit,
        offset=offset,
    )


async def pause_schedule(
    session: AsyncSession, tenant: str, schedule_id: int, now: datetime
) -> Schedule:
    """Stop issuing invoices until resumed."""
    schedule = await get_schedule(session, tenant, schedule_id)
    return await _change(session, schedule, (ACTIVE,), now, state=PAUSED)


async def resume_schedule(
    session: AsyncSession, tenant: str, schedule_id: int, now: datetime
) -> Schedule:
    """Issue invoices again. Occurrences dated while paused (before today) are skipped, not
    caught up: pausing is the firm's choice, unlike a scheduler's downtime."""
    schedule = await get_schedule(session, tenant, schedule_id)
    settings = await firm_settings(session, tenant, now)
    yesterday = local_day(now, firm_zone(settings)) - timedelta(days=1)
    frequency = Frequency(schedule.frequency)
    skipped = occurrences_due(
        schedule.start_date, frequency, schedule.done, schedule.total_occurrences, yesterday
    )
    done = schedule.done + len(skipped)
    next_run_on, state = _progress(schedule, done)
    return await _change(
        session, schedule, (PAUSED,), now, state=state, done=done, next_run_on=next_run_on
    )


async def cancel_schedule(
    session: AsyncSession, tenant: str, schedule_id: int, now: datetime
) -> Schedule:
    """End the schedule for good; the invoices already issued stay."""
    schedule = await get_schedule(session, tenant, schedule_id)
    return await _change(
        session, schedule, (ACTIVE, PAUSED), now,
        state=ScheduleState.CANCELLED.value, next_run_on=None,
    )  # fmt: skip


async def _change(
    session: AsyncSession,
    schedule: Schedule,
    allowed: tuple[str, ...],
    now: datetime,
    **values: Any,
) -> Schedule:
    """Move the schedule on, provided no one (a scheduler) moved it first."""
    if schedule.state not in allowed:
        raise Conflict(f"schedule {schedule.id} is {schedule.state}")
    changed = await session.execute(
        update(Schedule)
        .where(Schedule.id == schedule.id, Schedule.state == schedule.state)
        .where(Schedule.done == schedule.done)
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if not getattr(changed, "rowcount", 0):
        raise Conflict(f"schedule {schedule.id} changed meanwhile; try again")
    await session.refresh(schedule)
    return schedule


def _progress(schedule: Schedule, done: int) -> tuple[date | None, str]:
    """The next run date and the state once `done` occurrences are issued."""
    frequency = Frequency(schedule.frequency)
    following = next_occurrence(schedule.start_date, frequency, done, schedule.total_occurrences)
    if following is None:
        return None, ScheduleState.COMPLETED.value
    return following, ACTIVE


def _lines(schedule: Schedule) -> list[LineIn]:
    return lines_in(schedule.lines)


# Occurrences


async def bill_occurrence(
    session: AsyncSession, schedule: Schedule, index: int, now: datetime, *, run_id: int | None
) -> int:
    """Issue and email occurrence `index`; a second invoice for it breaks the unique key."""
    issue_on = occurrence_date(schedule.start_date, Frequency(schedule.frequency), index)
    notes = schedule.name + (f"\n\n{schedule.notes}" if schedule.notes else "")
    body = InvoiceInput(
        customer_id=schedule.customer_id,
        currency=schedule.currency,
        lines=_lines(schedule),
        subtotal=schedule.subtotal,
        discount=schedule.discount,
        tax_rate=schedule.tax_rate,
        issue_date=issue_on,
        payment_terms_days=schedule.payment_terms_days,
        notes=notes,
        payment_method=RecurringPaymentMethod(schedule.payment_method),
    )
    invoice = await invoicing.create_invoice(
        session, schedule.tenant, body, now,
        source="schedule", run_id=run_id, schedule_id=schedule.id, schedule_index=index,
    )  # fmt: skip
    await invoicing.issue_invoice(session, schedule.tenant, invoice.id, now, auto_send=False)
    await invoicing.send_invoice(
        session, schedule.tenant, invoice.id, now, by="schedule", run_id=run_id
    )
    return invoice.id


async def claim_occurrences(
    session: AsyncSession, schedule: Schedule, count: int, now: datetime
) -> bool:
    """Advance the schedule by `count` occurrences, only from the `done` this transaction read.

    False means another scheduler advanced it first: the caller must roll back."""
    done = schedule.done + count
    next_run_on, state = _progress(schedule, done)
    claimed = await session.execute(
        update(Schedule)
        .where(Schedule.id == schedule.id, Schedule.done == schedule.done, Schedule.state == ACTIVE)
        .values(done=done, next_run_on=next_run_on, state=state, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(claimed, "rowcount", 0))


async def bill_due_occurrences(
    session: AsyncSession, schedule_id: int, now: datetime
) -> Billed | None:
    """Invoice every occurrence of the schedule due by today (catching up missed ones) into
    the firm's recurring run of the day; None when nothing is due or it is locked elsewhere."""
    query = select(Schedule).where(Schedule.id == schedule_id, Schedule.state == ACTIVE)
    if session.get_bind().dialect.name == "postgresql":  # skip, rather than wait for, a rival
        query = query.with_for_update(skip_locked=True)
    schedule = (await session.execute(query)).scalar_one_or_none()
    if schedule is None:
        return None
    settings = await firm_settings(session, schedule.tenant, now)
    today = local_day(now, firm_zone(settings))
    due = occurrences_due(
        schedule.start_date,
        Frequency(schedule.frequency),
        schedule.done,
        schedule.total_occurrences,
        today,
    )
    if not due:
        return None
    if not await claim_occurrences(session, schedule, len(due), now):
        raise LostRace(f"schedule {schedule.id} was advanced by another scheduler")
    run = await day_run(
        session, schedule.tenant, RunKind.RECURRING, today, now,
        mode=RunMode.SEND_INVOICE.value, notify_by="email",
    )  # fmt: skip
    invoice_ids = []
    for index in due:
        invoice_id = await bill_occurrence(session, schedule, index, now, run_id=run.id)
        session.add(
            RunItem(
                tenant=schedule.tenant,
                run_id=run.id,
                customer_id=schedule.customer_id,
                invoice_id=invoice_id,
                outcome="invoice_sent",
                created_at=now,
            )
        )
        invoice_ids.append(invoice_id)
    return Billed(schedule.tenant, run.id, tuple(invoice_ids))


class RecurringScheduler:
    """Issues the recurring invoices that are due, one schedule per transaction.

    Exactly once comes from the database, not from timing: a conditional UPDATE of the
    schedule's `done` count and the unique (schedule, occurrence) key on invoices make a
    second scheduler's transaction roll back; on PostgreSQL, SKIP LOCKED spares it the work."""

    def __init__(self, sessions: Sessions, clock: Clock, *, batch: int = DEFAULT_BATCH) -> None:
        self._sessions = sessions
        self._clock = clock
        self._batch = batch

    async def run_due(self) -> int:
        """Issue what is due now; the number of invoices issued."""
        now = self._clock()
        issued = 0
        runs: dict[int, str] = {}
        for schedule_id in await self.due_schedules(now):
            billed = await self.run_schedule(schedule_id, now)
            if billed is not None:
                issued += len(billed.invoice_ids)
                runs[billed.run_id] = billed.tenant
        for run_id, tenant in runs.items():
            await self._finish(tenant, run_id, now)
        return issued

    async def due_schedules(self, now: datetime) -> list[int]:
        """Active schedules that may be due: firms' days differ, so one day past UTC's is read
        and each schedule is checked against its own firm's day."""
        horizon = now.astimezone(UTC).date() + timedelta(days=1)
        query = (
            select(Schedule.id)
            .where(Schedule.state == ACTIVE, Schedule.next_run_on <= horizon)
            .order_by(Schedule.next_run_on, Schedule.id)
            .limit(self._batch)
        )
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def run_schedule(self, schedule_id: int, now: datetime) -> Billed | None:
        """Bill one schedule's due occurrences in one transaction; None if nothing was billed."""
        try:
            async with self._sessions() as session, session.begin():
                return await bill_due_occurrences(session, schedule_id, now)
        except (LostRace, IntegrityError):
            logger.info("schedule %s was billed by another scheduler", schedule_id)
        except BillingError as refused:
            logger.warning("schedule %s not billed: %s", schedule_id, refused)
        return None

    async def _finish(self, tenant: str, run_id: int, now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            query = select(BillingRun).where(BillingRun.tenant == tenant, BillingRun.id == run_id)
            run = (await session.execute(query)).scalar_one()
            await finish_run(session, run, now)
