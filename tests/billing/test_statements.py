"""Statements: the ledger from the store, figures that add up, and monthly statements once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import invoicing
from billing.customers import create_customer
from billing.errors import InvalidRequest, NotFound
from billing.firm import firm_settings
from billing.models import CreditNote, Customer, Payment, Refund, StatementRecord
from billing.schemas import CustomerInput, InvoiceInput
from billing.statement_schedule import StatementScheduler
from billing.statements import MONTHLY, build_statement, customer_ledger, send_statement
from mailer.events import SEND_SUBJECT, SendEvent, Statement
from mailer.render import EmailRenderer, default_templates_dir
from tests.billing.conftest import TENANT, FakeClock, queued

Sessions = async_sessionmaker[AsyncSession]
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer(default_templates_dir())


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def firm(sessions: Sessions, clock: FakeClock, *, monthly: bool = False) -> None:
    async with sessions() as session, session.begin():
        settings = await firm_settings(session, TENANT, clock())
        settings.company_name = "Acme Bookkeeping"
        settings.company_email = "billing@acme.example"
        settings.portal_url = "https://portal.acme.example"
        settings.monthly_statements = monthly


async def new_customer(
    sessions: Sessions, clock: FakeClock, name: str = "Customer 10", tenant: str = TENANT
) -> int:
    async with sessions() as session, session.begin():
        email = f"{name.lower().replace(' ', '')}@example.org"
        body = CustomerInput(name=name, email=email, currency="EUR")
        return (await create_customer(session, tenant, body, clock())).id


async def invoice(
    sessions: Sessions,
    clock: FakeClock,
    customer_id: int,
    on: date,
    amount: str,
    *,
    currency: str = "EUR",
    issue: bool = True,
    tenant: str = TENANT,
) -> int:
    clock.now = at(on)
    async with sessions() as session, session.begin():
        body = InvoiceInput(
            customer_id=customer_id, subtotal=Decimal(amount), issue_date=on, currency=currency
        )
        created = await invoicing.create_invoice(session, tenant, body, clock())
        if issue:
            await invoicing.issue_invoice(session, tenant, created.id, clock())
        return created.id


async def payment(
    sessions: Sessions,
    customer_id: int,
    on: date,
    amount: str,
    *,
    reference: str | None = None,
    status: str = "succeeded",
) -> int:
    async with sessions() as session, session.begin():
        row = Payment(
            tenant=TENANT,
            customer_id=customer_id,
            amount=Decimal(amount),
            currency="EUR",
            method="card" if reference else "offline",
            status=status,
            received_on=on,
            reference=reference,
            unapplied=Decimal(0),
            refunded=Decimal(0),
            created_at=at(on),
        )
        session.add(row)
        await session.flush()
        return row.id


async def refund(sessions: Sessions, payment_id: int, on: date, amount: str) -> None:
    async with sessions() as session, session.begin():
        session.add(
            Refund(
                tenant=TENANT,
                payment_id=payment_id,
                amount=Decimal(amount),
                from_credit=Decimal(0),
                refunded_on=on,
                created_at=at(on),
            )
        )


async def credit_note(sessions: Sessions, customer_id: int, on: date, amount: str) -> None:
    async with sessions() as session, session.begin():
        session.add(
            CreditNote(
                tenant=TENANT,
                customer_id=customer_id,
                number="CN-0001",
                currency="EUR",
                issue_date=on,
                lines=[],
                total=Decimal(amount),
                to_invoice=Decimal(0),
                to_credit=Decimal(amount),
                version=1,
                created_at=at(on),
            )
        )


async def busy_autumn(sessions: Sessions, clock: FakeClock) -> int:
    """October leaves 340.00 owed; November has every kind of movement, and noise around it."""
    customer = await new_customer(sessions, clock)
    await invoice(sessions, clock, customer, date(2026, 10, 5), "540.00")
    await payment(sessions, customer, date(2026, 10, 20), "200.00")
    await invoice(sessions, clock, customer, date(2026, 11, 3), "100.00")
    voided = await invoice(sessions, clock, customer, date(2026, 11, 4), "200.00")
    clock.now = at(date(2026, 11, 6))
    async with sessions() as session, session.begin():
        await invoicing.void_invoice(session, TENANT, voided, clock())
    card = await payment(sessions, customer, date(2026, 11, 10), "340.00", reference="ch_7")
    await refund(sessions, card, date(2026, 11, 12), "40.00")
    await credit_note(sessions, customer, date(2026, 11, 15), "50.00")
    await payment(sessions, customer, date(2026, 11, 20), "999.00", status="pending")
    await invoice(sessions, clock, customer, date(2026, 11, 21), "77.00", issue=False)
    await invoice(sessions, clock, customer, date(2026, 11, 22), "66.00", currency="USD")
    someone_else = await new_customer(sessions, clock, "Customer 11")
    await invoice(sessions, clock, someone_else, date(2026, 11, 23), "55.00")
    await invoice(sessions, clock, customer, date(2026, 12, 1), "10.00")
    return customer


async def test_the_statement_has_opening_balance_activity_and_closing_balance(
    sessions: Sessions, clock: FakeClock
) -> None:
    await firm(sessions, clock)
    customer = await busy_autumn(sessions, clock)

    async with sessions() as session, session.begin():
        statement = await build_statement(session, TENANT, customer, *NOVEMBER, clock())

    figures = statement.figures
    assert figures.opening_balance == Decimal("340.00")
    assert [
        (line.on.day, line.description, line.amount, line.balance) for line in figures.lines
    ] == [
        (3, "Invoice INV-0002", Decimal("100.00"), Decimal("440.00")),
        (4, "Invoice INV-0003", Decimal("200.00"), Decimal("640.00")),
        (6, "Invoice INV-0003 voided", Decimal("-200.00"), Decimal("440.00")),
        (10, "Payment ch_7", Decimal("-340.00"), Decimal("100.00")),
        (12, "Refund of payment ch_7", Decimal("40.00"), Decimal("140.00")),
        (15, "Credit note CN-0001", Decimal("-50.00"), Decimal("90.00")),
    ]
    assert figures.closing_balance == Decimal("90.00")
    checked = Statement.model_validate(statement.data["statement"])
    assert checked.closing_balance == Decimal("90.00")
    assert statement.data["statement"]["entries"][3]["amount"] == "-340.00"


async def test_consecutive_periods_chain_and_the_ledger_sums_to_the_last_closing_balance(
    sessions: Sessions, clock: FakeClock
) -> None:
    await firm(sessions, clock)
    customer = await busy_autumn(sessions, clock)

    async with sessions() as session, session.begin():
        october = await build_statement(
            session, TENANT, customer, date(2026, 10, 1), date(2026, 10, 31), clock()
        )
        november = await build_statement(session, TENANT, customer, *NOVEMBER, clock())
        ledger = await customer_ledger(session, TENANT, customer, "EUR")
        dollars = await build_statement(
            session, TENANT, customer, *NOVEMBER, clock(), currency="usd"
        )

    assert october.figures.opening_balance == Decimal(0)
    assert october.figures.closing_balance == november.figures.opening_balance
    assert sum(entry.amount for entry in ledger) == Decimal("100.00")  # 90 + December's 10
    assert dollars.figures.closing_balance == Decimal("66.00")
    assert dollars.record.currency == "USD"


async def test_statements_refuse_a_backwards_period_an_unknown_currency_or_customer(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock)
    other_firms = await new_customer(sessions, clock, tenant="other")
    async with sessions() as session:
        with pytest.raises(InvalidRequest, match="starts on 2026-11-30, after its end"):
            await build_statement(session, TENANT, customer, NOVEMBER[1], NOVEMBER[0], clock())
        with pytest.raises(InvalidRequest, match="unknown currency"):
            await build_statement(session, TENANT, customer, *NOVEMBER, clock(), currency="XQQ")
        with pytest.raises(NotFound):
            await build_statement(session, TENANT, other_firms, *NOVEMBER, clock())


async def test_a_sent_statement_is_recorded_and_its_email_validates_and_renders(
    sessions: Sessions, clock: FakeClock, renderer: EmailRenderer
) -> None:
    await firm(sessions, clock)
    customer = await busy_autumn(sessions, clock)

    for _ in range(2):
        async with sessions() as session, session.begin():
            statement, notification = await send_statement(
                session, TENANT, customer, *NOVEMBER, clock()
            )

    assert (statement.record.source, statement.record.sequence) == ("request", 1)
    assert notification.request_id == f"billing.{TENANT}.statement{statement.record.id}.statement"
    first, second = (SendEvent.model_validate(e) for e in await queued(sessions, SEND_SUBJECT))
    assert first.id != second.id
    assert second.template == "statement" and second.to[0].email == "customer10@example.org"
    assert second.data.statement is not None
    assert second.data.statement.closing_balance == Decimal("90.00")
    rendered = renderer.render(second)
    assert "Acme Bookkeeping" in rendered.subject
    assert "90.00" in rendered.text and "340.00" in rendered.text


async def test_monthly_statements_go_once_per_period_to_active_or_owing_customers(
    sessions: Sessions, clock: FakeClock
) -> None:
    await firm(sessions, clock, monthly=True)
    owing = await new_customer(sessions, clock, "Customer 1")
    await invoice(sessions, clock, owing, date(2026, 9, 3), "20.00")  # unpaid, nothing since
    settled = await new_customer(sessions, clock, "Customer 2")
    await invoice(sessions, clock, settled, date(2026, 10, 3), "30.00")
    await payment(sessions, settled, date(2026, 10, 9), "30.00")  # active in October, owes 0
    await new_customer(sessions, clock, "Customer 3")  # no activity ever
    quiet = await new_customer(sessions, clock, "Customer 4")
    await invoice(sessions, clock, quiet, date(2026, 9, 3), "40.00")
    await payment(sessions, quiet, date(2026, 9, 9), "40.00")  # settled before October
    bounced = await new_customer(sessions, clock, "Customer 5")
    await invoice(sessions, clock, bounced, date(2026, 10, 3), "50.00")
    async with sessions() as session, session.begin():
        flagged = await session.get(Customer, bounced)
        assert flagged is not None
        flagged.email_undeliverable = True
    scheduler = StatementScheduler(sessions, clock)

    clock.now = at(date(2026, 11, 1), hour=0)
    assert await scheduler.run_due() == 2
    clock.now = at(date(2026, 11, 20))
    assert await scheduler.run_due() == 0

    async with sessions() as session:
        records = (await session.execute(select(StatementRecord))).scalars().all()
    assert sorted((r.customer_id, r.source, r.sequence) for r in records) == [
        (owing, MONTHLY, 0),
        (settled, MONTHLY, 0),
    ]
    assert {(r.period_start, r.period_end) for r in records} == {
        (date(2026, 10, 1), date(2026, 10, 31))
    }
    emails = [SendEvent.model_validate(e) for e in await queued(sessions, SEND_SUBJECT)]
    assert sorted(email.to[0].email for email in emails) == [
        "customer1@example.org",
        "customer2@example.org",
    ]


async def test_a_firm_without_monthly_statements_gets_none(
    sessions: Sessions, clock: FakeClock
) -> None:
    await firm(sessions, clock, monthly=False)
    customer = await new_customer(sessions, clock)
    await invoice(sessions, clock, customer, date(2026, 10, 3), "30.00")
    clock.now = at(date(2026, 11, 2))

    assert await StatementScheduler(sessions, clock).run_due() == 0


async def test_two_monthly_schedulers_make_each_statement_once(
    sessions: Sessions, clock: FakeClock
) -> None:
    await firm(sessions, clock, monthly=True)
    for number in range(3):
        customer = await new_customer(sessions, clock, f"Customer {number}")
        await invoice(sessions, clock, customer, date(2026, 10, 3), "30.00")
    clock.now = at(date(2026, 11, 2))

    made = await asyncio.gather(
        StatementScheduler(sessions, clock).run_due(),
        StatementScheduler(sessions, clock).run_due(),
    )

    assert sum(made) == 3
    assert len(await queued(sessions, SEND_SUBJECT)) == 3


async def test_the_unique_period_key_refuses_a_second_monthly_statement(
    sessions: Sessions, clock: FakeClock
) -> None:
    await firm(sessions, clock)
    customer = await new_customer(sessions, clock)
    async with sessions() as session, session.begin():
        await send_statement(session, TENANT, customer, *NOVEMBER, clock(), source=MONTHLY)

    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            await send_statement(session, TENANT, customer, *NOVEMBER, clock(), source=MONTHLY)
    assert len(await queued(sessions, SEND_SUBJECT)) == 1


@pytest.mark.integration
async def test_on_postgresql_figures_keep_the_currency_scale_and_monthly_runs_once(
    pg_sessions: Sessions, clock: FakeClock
) -> None:
    await firm(pg_sessions, clock, monthly=True)
    await busy_autumn(pg_sessions, clock)
    clock.now = at(date(2026, 12, 1))

    made = await asyncio.gather(
        StatementScheduler(pg_sessions, clock).run_due(),
        StatementScheduler(pg_sessions, clock).run_due(),
    )

    assert sum(made) == 3  # the busy customer in EUR and USD, and the other customer
    emails = [SendEvent.model_validate(e) for e in await queued(pg_sessions, SEND_SUBJECT)]
    [euros] = [
        e.data.statement
        for e in emails
        if e.data.statement and e.data.statement.currency == "EUR" and e.to[0].name == "Customer 10"
    ]
    assert (str(euros.opening_balance), str(euros.closing_balance)) == ("340.00", "90.00")
