"""Reminders: the cadence before and after the due date, once per step, paused and stopped."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import invoicing
from billing.customers import create_customer
from billing.document_schemas import ReminderSettingsInput
from billing.errors import InvalidRequest
from billing.firm import firm_settings
from billing.models import Customer, Invoice, ReminderSent
from billing.reminders import ReminderScheduler, configure_reminders, remind_invoice
from billing.schemas import CustomerInput, InvoiceInput, LineIn
from mailer.events import SEND_SUBJECT, SendEvent
from mailer.render import EmailRenderer, default_templates_dir
from tests.billing.conftest import TENANT, FakeClock, queued

Sessions = async_sessionmaker[AsyncSession]
DUE = date(2026, 11, 10)


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer(default_templates_dir())


async def cadence(
    sessions: Sessions,
    clock: FakeClock,
    before: list[int],
    after: list[int],
    timezone: str = "UTC",
) -> None:
    async with sessions() as session, session.begin():
        await configure_reminders(
            session, TENANT, ReminderSettingsInput(days_before=before, days_after=after), clock()
        )
        settings = await firm_settings(session, TENANT, clock())
        settings.company_name = "Acme Bookkeeping"
        settings.company_email = "billing@acme.example"
        settings.portal_url = "https://portal.acme.example"
        settings.timezone = timezone


async def sent_invoice(
    sessions: Sessions, clock: FakeClock, *, send: bool = True, email: str = "c1@example.org"
) -> Invoice:
    """An issued invoice of 540.00 EUR due on DUE, emailed to its customer now."""
    async with sessions() as session, session.begin():
        customer = await create_customer(
            session, TENANT, CustomerInput(name="Customer 1", email=email, currency="EUR"), clock()
        )
        body = InvoiceInput(
            customer_id=customer.id,
            lines=[LineIn(description="Bookkeeping", quantity=Decimal(3), unit_price=Decimal(150))],
            tax_rate=Decimal(20),
            due_date=DUE,
        )
        invoice = await invoicing.create_invoice(session, TENANT, body, clock())
        await invoicing.issue_invoice(session, TENANT, invoice.id, clock())
        if send:
            await invoicing.send_invoice(session, TENANT, invoice.id, clock())
        return invoice


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def reminders(sessions: Sessions) -> list[SendEvent]:
    emails = [SendEvent.model_validate(raw) for raw in await queued(sessions, SEND_SUBJECT)]
    return [email for email in emails if email.template != "invoice.new"]


async def test_reminders_follow_the_cadence_before_and_after_the_due_date(
    sessions: Sessions, clock: FakeClock, renderer: EmailRenderer
) -> None:
    await cadence(sessions, clock, before=[3], after=[1, 7])
    invoice = await sent_invoice(sessions, clock)
    scheduler = ReminderScheduler(sessions, clock)

    clock.now = at(date(2026, 11, 6))
    assert await scheduler.run_due() == 0
    clock.now = at(date(2026, 11, 7))
    assert await scheduler.run_due() == 1
    assert await scheduler.run_due() == 0  # same day again: nothing new
    clock.now = at(date(2026, 11, 10))
    assert await scheduler.run_due() == 0  # due today: no step on the due date itself
    clock.now = at(date(2026, 11, 11))
    assert await scheduler.run_due() == 1
    clock.now = at(date(2026, 11, 17))
    assert await scheduler.run_due() == 1
    clock.now = at(date(2026, 12, 17))
    assert await scheduler.run_due() == 0

    before, late, later = await reminders(sessions)
    assert [email.template for email in (before, late, later)] == [
        "invoice.reminder",
        "invoice.late_reminder",
        "invoice.late_reminder",
    ]
    assert before.id == f"billing.{TENANT}.invoice{invoice.id}.invoice.reminder.3"
    assert later.id == f"billing.{TENANT}.invoice{invoice.id}.invoice.late_reminder.7"
    assert before.data.invoice is not None and before.data.invoice.balance == Decimal("540.00")
    for email in (before, late):
        rendered = renderer.render(email)
        assert invoice.number is not None and invoice.number in rendered.subject
        assert "540.00" in rendered.text


async def test_reminders_stop_once_the_invoice_is_paid(
    sessions: Sessions, clock: FakeClock
) -> None:
    await cadence(sessions, clock, before=[3], after=[1])
    invoice = await sent_invoice(sessions, clock)
    scheduler = ReminderScheduler(sessions, clock)
    clock.now = at(date(2026, 11, 7))
    assert await scheduler.run_due() == 1

    async with sessions() as session, session.begin():
        settings = await firm_settings(session, TENANT, clock())
        paid = await invoicing.get_invoice(session, TENANT, invoice.id)
        paid.amount_paid = paid.total
        await invoicing.settle(session, settings, paid, clock())
    clock.now = at(date(2026, 11, 20))

    assert await scheduler.run_due() == 0
    assert [email.template for email in await reminders(sessions)] == ["invoice.reminder"]


async def test_no_reminder_for_an_undeliverable_address_until_it_is_fixed(
    sessions: Sessions, clock: FakeClock
) -> None:
    await cadence(sessions, clock, before=[3], after=[1])
    invoice = await sent_invoice(sessions, clock)
    async with sessions() as session, session.begin():
        customer = await session.get(Customer, invoice.customer_id)
        assert customer is not None
        customer.email_undeliverable = True
    scheduler = ReminderScheduler(sessions, clock)

    clock.now = at(date(2026, 11, 7))
    assert await scheduler.run_due() == 0
    clock.now = at(date(2026, 11, 11))
    assert await scheduler.run_due() == 0

    async with sessions() as session, session.begin():
        customer = await session.get(Customer, invoice.customer_id)
        assert customer is not None
        customer.email, customer.email_undeliverable = "fixed@example.org", False
    assert await scheduler.run_due() == 1
    [late] = await reminders(sessions)
    assert (late.template, late.to[0].email) == ("invoice.late_reminder", "fixed@example.org")


async def test_no_reminder_through_another_firm_or_to_an_address_flagged_meanwhile(
    sessions: Sessions, clock: FakeClock
) -> None:
    await cadence(sessions, clock, before=[3], after=[1])
    invoice = await sent_invoice(sessions, clock)
    clock.now = at(date(2026, 11, 7))
    async with sessions() as session, session.begin():
        other_firm = ReminderSettingsInput(days_before=[3], days_after=[1])
        await configure_reminders(session, "other", other_firm, clock())
        assert await remind_invoice(session, "other", invoice.id, clock()) is None
        customer = await session.get(Customer, invoice.customer_id)
        assert customer is not None
        customer.email_undeliverable = True  # after the scheduler listed the invoice

    async with sessions() as session, session.begin():
        assert await remind_invoice(session, TENANT, invoice.id, clock()) is None
    assert await reminders(sessions) == []


async def test_an_invoice_never_emailed_gets_no_reminder(
    sessions: Sessions, clock: FakeClock
) -> None:
    await cadence(sessions, clock, before=[3], after=[1])
    await sent_invoice(sessions, clock, send=False)
    clock.now = at(date(2026, 11, 11))

    assert await ReminderScheduler(sessions, clock).run_due() == 0


async def test_after_downtime_only_the_latest_step_is_sent_not_a_burst(
    sessions: Sessions, clock: FakeClock
) -> None:
    await cadence(sessions, clock, before=[5, 3], after=[1, 7, 14])
    await sent_invoice(sessions, clock)
    scheduler = ReminderScheduler(sessions, clock)

    clock.now = at(date(2026, 11, 20))  # the scheduler was down since before the first step
    assert await scheduler.run_due() == 1
    clock.now = at(date(2026, 11, 23))
    assert await scheduler.run_due() == 0
    clock.now = at(date(2026, 11, 24))
    assert await scheduler.run_due() == 1

    assert [email.id.rsplit(".", 2)[1:] for email in await reminders(sessions)] == [
        ["late_reminder", "7"],
        ["late_reminder", "14"],
    ]


async def test_steps_before_the_invoice_was_emailed_are_skipped(
    sessions: Sessions, clock: FakeClock
) -> None:
    await cadence(sessions, clock, before=[10, 3], after=[])
    await sent_invoice(sessions, clock)  # emailed on Nov 2, after the 10-days-before step (Oct 31)
    scheduler = ReminderScheduler(sessions, clock)

    assert await scheduler.run_due() == 0
    clock.now = at(date(2026, 11, 7))
    assert await scheduler.run_due() == 1


async def test_the_day_is_the_firms_local_day(sessions: Sessions, clock: FakeClock) -> None:
    await cadence(sessions, clock, before=[3], after=[], timezone="Pacific/Auckland")
    await sent_invoice(sessions, clock)
    scheduler = ReminderScheduler(sessions, clock)

    clock.now = datetime(2026, 11, 6, 10, 59, tzinfo=UTC)  # Nov 6, 23:59 in Auckland
    assert await scheduler.run_due() == 0
    clock.now = datetime(2026, 11, 6, 11, 0, tzinfo=UTC)  # Nov 7, 00:00 in Auckland
    assert await scheduler.run_due() == 1


async def test_two_schedulers_send_each_reminder_once(sessions: Sessions, clock: FakeClock) -> None:
    await cadence(sessions, clock, before=[3], after=[])
    for number in range(3):
        await sent_invoice(sessions, clock, email=f"c{number}@example.org")
    clock.now = at(date(2026, 11, 7))

    counts = await asyncio.gather(
        ReminderScheduler(sessions, clock).run_due(), ReminderScheduler(sessions, clock).run_due()
    )

    assert sum(counts) == 3
    assert len(await reminders(sessions)) == 3
    async with sessions() as session:
        rows = (await session.execute(select(ReminderSent))).scalars().all()
    assert sorted((row.kind, row.days) for row in rows) == [("reminder", 3)] * 3


async def test_a_firm_without_a_cadence_sends_no_reminders(
    sessions: Sessions, clock: FakeClock
) -> None:
    await cadence(sessions, clock, before=[], after=[])
    await sent_invoice(sessions, clock)
    clock.now = at(date(2026, 11, 30))

    assert await ReminderScheduler(sessions, clock).run_due() == 0


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ([3, 3], [], "lists 3 twice"),
        ([0], [], "must each be 1 to 365"),
        ([], [400], "must each be 1 to 365"),
    ],
)
async def test_a_broken_cadence_is_refused_and_nothing_changes(
    sessions: Sessions, clock: FakeClock, before: list[int], after: list[int], message: str
) -> None:
    await cadence(sessions, clock, before=[3], after=[1])
    with pytest.raises(InvalidRequest, match=message):
        async with sessions() as session, session.begin():
            await configure_reminders(
                session,
                TENANT,
                ReminderSettingsInput(
                    days_before=before, days_after=after, monthly_statements=True
                ),
                clock(),
            )
    async with sessions() as session:
        settings = await firm_settings(session, TENANT, clock())
        assert (settings.reminder_days_before, settings.reminder_days_after) == ([3], [1])
        assert settings.monthly_statements is False


async def test_a_scheduler_that_read_too_early_loses_the_race_and_sends_nothing(
    sessions: Sessions, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await cadence(sessions, clock, before=[3], after=[])
    await sent_invoice(sessions, clock)
    clock.now = at(date(2026, 11, 7))
    assert await ReminderScheduler(sessions, clock).run_due() == 1

    async def nothing_sent_yet(_session: AsyncSession, _invoice_id: int) -> set[object]:
        return set()  # what a scheduler that read before the other one committed sees

    monkeypatch.setattr("billing.reminders._steps_sent", nothing_sent_yet)

    assert await ReminderScheduler(sessions, clock).run_due() == 0
    assert len(await reminders(sessions)) == 1


@pytest.mark.integration
async def test_on_postgresql_two_schedulers_send_each_reminder_once(
    pg_sessions: Sessions, clock: FakeClock
) -> None:
    await cadence(pg_sessions, clock, before=[3], after=[])
    for number in range(3):
        await sent_invoice(pg_sessions, clock, email=f"c{number}@example.org")
    clock.now = at(date(2026, 11, 7))

    counts = await asyncio.gather(
        *(ReminderScheduler(pg_sessions, clock).run_due() for _ in range(3))
    )

    assert sum(counts) == 3
    assert len(await reminders(pg_sessions)) == 3
