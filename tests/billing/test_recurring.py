"""Recurring invoices: the first at creation, the next on schedule, catch-up, completion, and
exactly once with two schedulers racing on the same database."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import recurring
from billing.customers import create_customer
from billing.errors import Conflict, InvalidRequest, NotFound
from billing.firm import firm_settings
from billing.models import BillingRun, Invoice, Notification, RunItem, Schedule
from billing.recurring import RecurringScheduler
from billing.run_schemas import ScheduleInput
from billing.schemas import CustomerInput
from mailer.events import SEND_SUBJECT, SendEvent
from tests.billing.conftest import TENANT, FakeClock, queued

Sessions = async_sessionmaker[AsyncSession]


async def new_customer(sessions: Sessions, clock: FakeClock, name: str = "Customer 1") -> int:
    async with sessions() as session, session.begin():
        settings = await firm_settings(session, TENANT, clock())
        settings.company_name = "Acme Bookkeeping"
        email = f"{name.lower().replace(' ', '')}@example.org"
        body = CustomerInput(name=name, email=email, currency="EUR")
        return (await create_customer(session, TENANT, body, clock())).id


async def new_schedule(
    sessions: Sessions, clock: FakeClock, customer_id: int, **fields: Any
) -> Schedule:
    body = ScheduleInput.model_validate(
        {"customer_id": customer_id, "name": "Monthly bookkeeping", "subtotal": "150.00",
         "tax_rate": "20", **fields}
    )  # fmt: skip
    async with sessions() as session, session.begin():
        return await recurring.create_schedule(session, TENANT, body, clock())


async def invoices_of(sessions: Sessions, schedule_id: int) -> list[Invoice]:
    async with sessions() as session:
        query = (
            select(Invoice)
            .where(Invoice.schedule_id == schedule_id)
            .order_by(Invoice.schedule_index)
        )
        return list((await session.execute(query)).scalars())


async def current(sessions: Sessions, schedule_id: int) -> Schedule:
    async with sessions() as session:
        return await recurring.get_schedule(session, TENANT, schedule_id)


async def test_the_first_invoice_is_issued_and_emailed_at_creation(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)

    schedule = await new_schedule(sessions, clock, customer_id, notes="Thank you!")

    [invoice] = await invoices_of(sessions, schedule.id)
    assert (invoice.number, invoice.state, invoice.schedule_index) == ("INV-0001", "issued", 0)
    assert invoice.total == Decimal("180.00")
    assert invoice.issue_date == date(2026, 11, 2)
    assert invoice.notes == "Monthly bookkeeping\n\nThank you!"
    assert (schedule.done, schedule.next_run_on, schedule.state) == (1, date(2026, 12, 2), "active")
    [email] = await queued(sessions, SEND_SUBJECT)
    event = SendEvent.model_validate(email)
    assert event.template == "invoice.new"
    assert event.to[0].email == "customer1@example.org"
    assert event.data.invoice is not None and event.data.invoice.number == "INV-0001"


async def test_the_next_invoices_go_out_on_their_dates_once(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)
    schedule = await new_schedule(sessions, clock, customer_id)
    scheduler = RecurringScheduler(sessions, clock)

    assert await scheduler.run_due() == 0
    clock.advance(days=29)  # 1 December
    assert await scheduler.run_due() == 0
    clock.advance(days=1)  # 2 December
    assert await scheduler.run_due() == 1
    assert await scheduler.run_due() == 0

    invoices = await invoices_of(sessions, schedule.id)
    assert [i.issue_date for i in invoices] == [date(2026, 11, 2), date(2026, 12, 2)]
    assert [i.number for i in invoices] == ["INV-0001", "INV-0002"]
    assert len(await queued(sessions, SEND_SUBJECT)) == 2
    assert (await current(sessions, schedule.id)).next_run_on == date(2027, 1, 2)


async def test_a_future_start_waits_for_its_day(sessions: Sessions, clock: FakeClock) -> None:
    customer_id = await new_customer(sessions, clock)
    schedule = await new_schedule(sessions, clock, customer_id, start_date="2026-11-09")
    scheduler = RecurringScheduler(sessions, clock)

    assert await invoices_of(sessions, schedule.id) == []
    assert (schedule.done, schedule.next_run_on) == (0, date(2026, 11, 9))
    clock.advance(days=6)
    assert await scheduler.run_due() == 0
    clock.advance(days=1)
    assert await scheduler.run_due() == 1
    [invoice] = await invoices_of(sessions, schedule.id)
    assert (invoice.schedule_index, invoice.issue_date) == (0, date(2026, 11, 9))


async def test_a_scheduler_that_was_down_catches_up_each_missed_occurrence(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)
    schedule = await new_schedule(sessions, clock, customer_id, frequency="weekly")

    clock.advance(days=22)
    assert await RecurringScheduler(sessions, clock).run_due() == 3

    invoices = await invoices_of(sessions, schedule.id)
    assert [i.schedule_index for i in invoices] == [0, 1, 2, 3]
    assert [i.issue_date.day for i in invoices] == [2, 9, 16, 23]
    assert len(await queued(sessions, SEND_SUBJECT)) == 4
    assert (await current(sessions, schedule.id)).next_run_on == date(2026, 11, 30)


async def test_a_schedule_completes_after_its_occurrences(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)
    schedule = await new_schedule(sessions, clock, customer_id, frequency="weekly", occurrences=3)
    scheduler = RecurringScheduler(sessions, clock)

    clock.advance(weeks=5)
    assert await scheduler.run_due() == 2
    clock.advance(weeks=5)
    assert await scheduler.run_due() == 0

    finished = await current(sessions, schedule.id)
    assert (finished.done, finished.state, finished.next_run_on) == (3, "completed", None)
    assert len(await invoices_of(sessions, schedule.id)) == 3


async def test_an_open_ended_schedule_keeps_going(sessions: Sessions, clock: FakeClock) -> None:
    customer_id = await new_customer(sessions, clock)
    schedule = await new_schedule(sessions, clock, customer_id, frequency="quarterly")

    clock.advance(days=366)
    assert await RecurringScheduler(sessions, clock).run_due() == 4

    later = await current(sessions, schedule.id)
    assert (later.done, later.state, later.next_run_on) == (5, "active", date(2028, 2, 2))


async def test_a_single_occurrence_schedule_is_complete_once_created(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)

    schedule = await new_schedule(sessions, clock, customer_id, occurrences=1)

    assert (schedule.state, schedule.next_run_on) == ("completed", None)


async def test_each_pass_is_a_recurring_run_with_its_items_and_event(
    sessions: Sessions, clock: FakeClock
) -> None:
    first, second = await new_customer(sessions, clock), await new_customer(sessions, clock, "B")
    await new_schedule(sessions, clock, first, frequency="weekly")
    await new_schedule(sessions, clock, second, frequency="weekly")

    clock.advance(weeks=1)
    assert await RecurringScheduler(sessions, clock).run_due() == 2

    async with sessions() as session:
        [run] = (await session.execute(select(BillingRun))).scalars().all()
        items = (await session.execute(select(RunItem))).scalars().all()
        run_notes = (
            await session.execute(select(Notification).where(Notification.run_id == run.id))
        ).scalars()
    assert (run.kind, run.scheduled_on, run.state) == ("recurring", date(2026, 11, 9), "completed")
    assert sorted(item.customer_id for item in items) == sorted([first, second])
    assert len(list(run_notes)) == 2
    [completed] = await queued(sessions, "billing.run.completed")
    assert completed["data"]["run_id"] == run.id
    assert completed["data"]["invoices_created"] == 2


async def test_pause_stops_and_resume_skips_the_paused_dates(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)
    schedule = await new_schedule(sessions, clock, customer_id, frequency="weekly")
    scheduler = RecurringScheduler(sessions, clock)
    async with sessions() as session, session.begin():
        await recurring.pause_schedule(session, TENANT, schedule.id, clock())

    clock.advance(weeks=2, days=1)
    assert await scheduler.run_due() == 0
    async with sessions() as session, session.begin():
        resumed = await recurring.resume_schedule(session, TENANT, schedule.id, clock())

    assert (resumed.state, resumed.done, resumed.next_run_on) == ("active", 3, date(2026, 11, 23))
    assert await scheduler.run_due() == 0
    clock.advance(days=6)
    assert await scheduler.run_due() == 1
    assert [i.schedule_index for i in await invoices_of(sessions, schedule.id)] == [0, 3]


async def test_a_cancelled_schedule_issues_nothing_more(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)
    schedule = await new_schedule(sessions, clock, customer_id, frequency="weekly")
    async with sessions() as session, session.begin():
        cancelled = await recurring.cancel_schedule(session, TENANT, schedule.id, clock())
    assert (cancelled.state, cancelled.next_run_on) == ("cancelled", None)

    clock.advance(weeks=3)
    assert await RecurringScheduler(sessions, clock).run_due() == 0
    with pytest.raises(Conflict, match="cancelled"):
        async with sessions() as session, session.begin():
            await recurring.resume_schedule(session, TENANT, schedule.id, clock())


async def test_amounts_and_customer_are_checked_before_anything_is_made(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)

    with pytest.raises(InvalidRequest, match="either line items or a plain subtotal"):
        await new_schedule(
            sessions, clock, customer_id, lines=[{"description": "x", "unit_price": "1"}]
        )
    with pytest.raises(InvalidRequest, match="more decimals"):
        await new_schedule(sessions, clock, customer_id, subtotal="10.005")
    with pytest.raises(NotFound):
        await new_schedule(sessions, clock, customer_id + 1000)
    async with sessions() as session:
        assert (await session.execute(select(Schedule))).first() is None


async def many_due_schedules(sessions: Sessions, clock: FakeClock) -> list[int]:
    """Five weekly schedules of three customers, each with three occurrences due now."""
    customers = [await new_customer(sessions, clock, f"C{n}") for n in range(3)]
    ids = [
        (await new_schedule(sessions, clock, customers[n % 3], frequency="weekly")).id
        for n in range(5)
    ]
    clock.advance(weeks=3)
    return ids


async def assert_each_occurrence_once(sessions: Sessions, schedule_ids: list[int]) -> None:
    async with sessions() as session:
        rows = (await session.execute(select(Invoice.schedule_id, Invoice.schedule_index))).all()
    assert Counter(rows) == Counter((s, i) for s in schedule_ids for i in range(4))
    emails = await queued(sessions, SEND_SUBJECT)
    assert len(emails) == 20
    assert len({email["id"] for email in emails}) == 20


async def test_two_schedulers_at_once_invoice_each_occurrence_exactly_once(
    sessions: Sessions, clock: FakeClock
) -> None:
    ids = await many_due_schedules(sessions, clock)

    issued = await asyncio.gather(
        RecurringScheduler(sessions, clock).run_due(),
        RecurringScheduler(sessions, clock).run_due(),
    )

    assert sum(issued) == 15
    await assert_each_occurrence_once(sessions, ids)


async def test_a_scheduler_working_from_a_stale_list_bills_nothing_twice(
    sessions: Sessions, clock: FakeClock
) -> None:
    ids = await many_due_schedules(sessions, clock)
    slow, fast = RecurringScheduler(sessions, clock), RecurringScheduler(sessions, clock)

    stale = await slow.due_schedules(clock())
    assert await fast.run_due() == 15
    assert [await slow.run_schedule(schedule_id, clock()) for schedule_id in stale] == [None] * 5

    await assert_each_occurrence_once(sessions, ids)


async def test_a_claim_from_a_stale_read_loses(sessions: Sessions, clock: FakeClock) -> None:
    ids = await many_due_schedules(sessions, clock)
    async with sessions() as session:
        stale = await recurring.get_schedule(session, TENANT, ids[0])
        await RecurringScheduler(sessions, clock).run_due()

        assert await recurring.claim_occurrences(session, stale, 3, clock()) is False
        await session.rollback()
    await assert_each_occurrence_once(sessions, ids)
