"""Recurring schedulers and billing runners racing on a real PostgreSQL: exactly once each."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import recurring, runs
from billing.calendar import Frequency
from billing.charges import add_charge
from billing.customers import create_customer
from billing.errors import Conflict
from billing.firm import firm_settings
from billing.models import BillingRun, Charge, Invoice, OutboxEvent
from billing.recurring import RecurringScheduler
from billing.run_schemas import ChargeInput, RunMode, RunSettingsInput, ScheduleInput
from billing.runs import BillingRunner
from billing.schemas import CustomerInput
from mailer.events import SEND_SUBJECT
from mailer.store.database import create_engine, migrate, session_factory
from tests.billing.conftest import TENANT, FakeClock
from tests.support.databases import temporary_database

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
SCHEDULES, CUSTOMERS, RIVALS = 8, 4, 4


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    async with temporary_database("postgresql", tmp_path) as url:
        engine = create_engine(url)
        try:
            await migrate(engine)
            yield session_factory(engine)
        finally:
            await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def customers(sessions: Sessions, clock: FakeClock) -> list[int]:
    async with sessions() as session, session.begin():
        await firm_settings(session, TENANT, clock())
        made = []
        for n in range(CUSTOMERS):
            body = CustomerInput(name=f"C{n}", email=f"c{n}@example.org", currency="EUR")
            made.append((await create_customer(session, TENANT, body, clock())).id)
        return made


async def weekly_schedules(sessions: Sessions, clock: FakeClock) -> list[int]:
    owners = await customers(sessions, clock)
    ids = []
    for n in range(SCHEDULES):
        body = ScheduleInput(
            customer_id=owners[n % CUSTOMERS],
            name=f"Plan {n}",
            frequency=Frequency.WEEKLY,
            subtotal=Decimal("99.90"),
        )
        async with sessions() as session, session.begin():
            ids.append((await recurring.create_schedule(session, TENANT, body, clock())).id)
    return ids


async def occurrences(sessions: Sessions) -> Counter[tuple[int | None, int | None]]:
    async with sessions() as session:
        rows = await session.execute(select(Invoice.schedule_id, Invoice.schedule_index))
        return Counter((schedule_id, index) for schedule_id, index in rows)


async def emails(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        query = select(OutboxEvent.event_id).where(OutboxEvent.subject == SEND_SUBJECT)
        return list((await session.execute(query)).scalars())


async def test_racing_recurring_schedulers_invoice_each_occurrence_once(
    sessions: Sessions, clock: FakeClock
) -> None:
    ids = await weekly_schedules(sessions, clock)
    clock.advance(weeks=3)

    issued = await asyncio.gather(
        *(RecurringScheduler(sessions, clock).run_due() for _ in range(RIVALS))
    )
    clock.advance(weeks=1)
    again = await asyncio.gather(
        *(RecurringScheduler(sessions, clock).run_due() for _ in range(RIVALS))
    )

    assert (sum(issued), sum(again)) == (SCHEDULES * 3, SCHEDULES)
    assert await occurrences(sessions) == Counter((s, i) for s in ids for i in range(5))
    sent = await emails(sessions)
    assert len(sent) == len(set(sent)) == SCHEDULES * 5
    async with sessions() as session:
        run_days = (await session.execute(select(BillingRun.scheduled_on))).scalars().all()
    assert len(run_days) == len(set(run_days)) == 2


async def test_a_stale_scheduler_loses_every_claim(sessions: Sessions, clock: FakeClock) -> None:
    ids = await weekly_schedules(sessions, clock)
    clock.advance(weeks=2)
    slow, fast = RecurringScheduler(sessions, clock), RecurringScheduler(sessions, clock)

    stale = await slow.due_schedules(clock())
    async with sessions() as session:
        snapshot = await recurring.get_schedule(session, TENANT, ids[0])
        assert await fast.run_due() == SCHEDULES * 2
        assert await recurring.claim_occurrences(session, snapshot, 2, clock()) is False
        await session.rollback()
    assert [await slow.run_schedule(schedule_id, clock()) for schedule_id in stale] == [
        None
    ] * SCHEDULES

    assert await occurrences(sessions) == Counter((s, i) for s in ids for i in range(3))


async def due_charges(sessions: Sessions, clock: FakeClock) -> None:
    owners = await customers(sessions, clock)
    async with sessions() as session, session.begin():
        body = RunSettingsInput(enabled=True, mode=RunMode.SEND_INVOICE)
        await runs.configure_runs(session, TENANT, body, clock())
        for owner in owners:
            for amount in ("10.00", "2.50"):
                charge = ChargeInput(customer_id=owner, description="Visit", amount=amount)
                await add_charge(session, TENANT, charge, clock())


async def test_racing_billing_runners_make_one_run_per_date(
    sessions: Sessions, clock: FakeClock
) -> None:
    await due_charges(sessions, clock)
    clock.advance(days=29)  # 1 December, the monthly run date

    performed = await asyncio.gather(
        *(BillingRunner(sessions, clock).run_due() for _ in range(RIVALS))
    )

    assert sum(performed) == 1
    async with sessions() as session:
        [run] = (await session.execute(select(BillingRun))).scalars().all()
        invoices = (await session.execute(select(Invoice.customer_id))).scalars().all()
        unbilled = await session.execute(select(func.count()).where(Charge.billed.is_(False)))
    assert (run.kind, run.scheduled_on.isoformat() if run.scheduled_on else None) == (
        "automatic", "2026-12-01",
    )  # fmt: skip
    assert sorted(invoices) == sorted(set(invoices)) and len(invoices) == CUSTOMERS
    assert unbilled.scalar_one() == 0
    sent = await emails(sessions)
    assert len(sent) == len(set(sent)) == CUSTOMERS


async def test_a_manual_run_racing_the_runner_bills_each_charge_once(
    sessions: Sessions, clock: FakeClock
) -> None:
    await due_charges(sessions, clock)
    clock.advance(days=29)

    async def manual() -> int:
        async with sessions() as session, session.begin():
            return (await runs.run_now(session, TENANT, clock())).invoices_created

    outcomes = await asyncio.gather(
        manual(), BillingRunner(sessions, clock).run_due(), return_exceptions=True
    )

    assert all(isinstance(o, int | Conflict) for o in outcomes), outcomes
    async with sessions() as session:
        invoices = (await session.execute(select(Invoice.customer_id))).scalars().all()
    assert sorted(invoices) == sorted(set(invoices)) and len(invoices) == CUSTOMERS
    assert len(await emails(sessions)) == CUSTOMERS
