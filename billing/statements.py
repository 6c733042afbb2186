"""Statements of account: a customer's ledger from the store, on request or monthly by email."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.calendar import local_day
from billing.customers import get_customer
from billing.documents import company_context, customer_context, links_context, money_text
from billing.documents import request_id as make_request_id
from billing.firm import firm_settings, firm_zone
from billing.ledger import InvoiceState, LedgerEntry, StatementFigures, statement_figures
from billing.models import (
    BillingSettings,
    CreditNote,
    Customer,
    Invoice,
    Notification,
    Payment,
    Refund,
    StatementRecord,
)
from billing.money import minor_units
from billing.notify import Channel, notify
from mailer.events import TemplateName

STATEMENT: Final = "statement"
ON_REQUEST: Final = "request"
MONTHLY: Final = "monthly"
# Payments whose money never arrived do not move the account.
NOT_RECEIVED = ("pending", "failed", "cancelled", "canceled")


@dataclass(frozen=True, slots=True)
class Statement:
    """A customer's statement: its record (not yet stored), figures and template context."""

    customer: Customer
    record: StatementRecord
    figures: StatementFigures
    data: dict[str, Any]


async def customer_ledger(
    session: AsyncSession, tenant: str, customer_id: int, currency: str
) -> list[LedgerEntry]:
    """Every movement of the customer's account in `currency`, by day (see statement_figures)."""
    zone = await _zone_of(session, tenant)
    # (day, rank, id, entry): on one day, invoices, credit notes, payments, refunds, then voids.
    ranked: list[tuple[date, int, int, LedgerEntry]] = []
    invoices = await session.execute(
        select(
            Invoice.id, Invoice.number, Invoice.issue_date, Invoice.total, Invoice.voided_at
        ).where(
            Invoice.tenant == tenant,
            Invoice.customer_id == customer_id,
            Invoice.currency == currency,
            Invoice.state != InvoiceState.DRAFT.value,
        )
    )
    for invoice_id, number, issued_on, total, voided_at in invoices.all():
        ranked.append(
            (issued_on, 0, invoice_id, LedgerEntry(issued_on, f"Invoice {number}", total))
        )
        if voided_at is not None:
            # Never before the invoice itself, for one voided ahead of its future issue date.
            on = max(issued_on, local_day(voided_at, zone))
            ranked.append((on, 4, invoice_id, LedgerEntry(on, f"Invoice {number} voided", -total)))
    notes = await session.execute(
        select(CreditNote.id, CreditNote.number, CreditNote.issue_date, CreditNote.total).where(
            CreditNote.tenant == tenant,
            CreditNote.customer_id == customer_id,
            CreditNote.currency == currency,
        )
    )
    for note_id, number, on, total in notes.all():
        ranked.append((on, 1, note_id, LedgerEntry(on, f"Credit note {number}", -total)))
    payments = await session.execute(
        select(
            Payment.id, Payment.received_on, Payment.amount, Payment.reference, Payment.method
        ).where(
            Payment.tenant == tenant,
            Payment.customer_id == customer_id,
            Payment.currency == currency,
            Payment.status.not_in(NOT_RECEIVED),
        )
    )
    for payment_id, on, amount, reference, method in payments.all():
        label = f"Payment {reference or method}"
        ranked.append((on, 2, payment_id, LedgerEntry(on, label, -amount)))
    refunds = await session.execute(
        select(Refund.id, Refund.refunded_on, Refund.amount, Payment.reference, Payment.method)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(
            Refund.tenant == tenant,
            Payment.tenant == tenant,
            Payment.customer_id == customer_id,
            Payment.currency == currency,
        )
    )
    for refund_id, on, amount, reference, method in refunds.all():
        label = f"Refund of payment {reference or method}"
        ranked.append((on, 3, refund_id, LedgerEntry(on, label, amount)))
    ranked.sort(key=lambda item: item[:3])
    return [entry for *_, entry in ranked]


async def build_statement(
    session: AsyncSession,
    tenant: str,
    customer_id: int,
    start: date,
    end: date,
    now: datetime,
    *,
    currency: str | None = None,
) -> Statement:
    """The customer's statement for `start`..`end` (inclusive); nothing is stored or sent."""
    customer = await get_customer(session, tenant, customer_id)
    settings = await firm_settings(session, tenant, now)
    code = (currency or customer.currency).upper()
    minor_units(code)  # refuses unknown currencies
    figures = statement_figures(
        await customer_ledger(session, tenant, customer.id, code), start, end
    )
    record = StatementRecord(
        tenant=tenant,
        customer_id=customer.id,
        currency=code,
        period_start=start,
        period_end=end,
        source=ON_REQUEST,
        sequence=0,
        opening_balance=figures.opening_balance,
        closing_balance=figures.closing_balance,
        created_at=now,
    )
    data = statement_template_data(settings, customer, record, figures)
    return Statement(customer, record, figures, data)


def statement_template_data(
    settings: BillingSettings,
    customer: Customer,
    record: StatementRecord,
    figures: StatementFigures,
) -> dict[str, Any]:
    """The context of the `statement` email and its PDF."""
    currency = record.currency
    start, end = record.period_start.isoformat(), record.period_end.isoformat()
    return {
        "company": company_context(settings),
        "customer": customer_context(customer),
        "statement": {
            "period_start": start,
            "period_end": end,
            "currency": currency,
            "opening_balance": money_text(figures.opening_balance, currency),
            "closing_balance": money_text(figures.closing_balance, currency),
            "entries": [
                {
                    "date": line.on.isoformat(),
                    "description": line.description,
                    "amount": money_text(line.amount, currency),
                    "balance": money_text(line.balance, currency),
                }
                for line in figures.lines
            ],
        },
        "links": links_context(settings, f"statements/{customer.id}/{start}/{end}"),
    }


async def send_statement(
    session: AsyncSession,
    tenant: str,
    customer_id: int,
    start: date,
    end: date,
    now: datetime,
    *,
    currency: str | None = None,
    source: str = ON_REQUEST,
) -> tuple[Statement, Notification]:
    """Record the statement and email it. On request every call is a new statement (sequence
    0, 1, ...); a monthly one is sequence 0, so a second one for the period is an IntegrityError."""
    statement = await build_statement(
        session, tenant, customer_id, start, end, now, currency=currency
    )
    return statement, await deliver_statement(session, statement, source, now)


async def list_statements(
    session: AsyncSession, tenant: str, customer_id: int
) -> Sequence[StatementRecord]:
    """The statements emailed to the customer, newest first."""
    customer = await get_customer(session, tenant, customer_id)
    query = (
        select(StatementRecord)
        .where(StatementRecord.tenant == tenant, StatementRecord.customer_id == customer.id)
        .order_by(StatementRecord.period_end.desc(), StatementRecord.id.desc())
    )
    return (await session.execute(query)).scalars().all()


async def deliver_statement(
    session: AsyncSession, statement: Statement, source: str, now: datetime
) -> Notification:
    """Record a built statement under `source` and email it."""
    record = statement.record
    record.source = source
    record.sequence = 0 if source == MONTHLY else await _next_sequence(session, record)
    session.add(record)
    await session.flush()
    template = TemplateName.STATEMENT.value
    return await notify(
        session,
        channel=Channel.EMAIL,
        tenant=record.tenant,
        request_id=make_request_id(record.tenant, STATEMENT, record.id, template),
        template=template,
        customer=statement.customer,
        data=statement.data,
        now=now,
    )


async def _next_sequence(session: AsyncSession, record: StatementRecord) -> int:
    query = select(func.max(StatementRecord.sequence)).where(
        StatementRecord.tenant == record.tenant,
        StatementRecord.customer_id == record.customer_id,
        StatementRecord.currency == record.currency,
        StatementRecord.period_start == record.period_start,
        StatementRecord.period_end == record.period_end,
        StatementRecord.source == record.source,
    )
    latest = (await session.execute(query)).scalar_one_or_none()
    return 0 if latest is None else latest + 1


async def _zone_of(session: AsyncSession, tenant: str) -> ZoneInfo:
    query = select(BillingSettings).where(BillingSettings.tenant == tenant)
    settings = (await session.execute(query)).scalar_one_or_none()
    return ZoneInfo("UTC") if settings is None else firm_zone(settings)
