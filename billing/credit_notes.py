"""Customer credit: credit notes that give it (emailed on request or automatically) and its use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import autosend
from billing.calendar import local_day
from billing.customers import credit_balance, get_customer
from billing.documents import (
    company_context,
    customer_context,
    invoice_context,
    lines_context,
    links_context,
    money_text,
    request_id,
)
from billing.events import BillingEvent, BillingEventType, CreditFacts
from billing.firm import firm_settings, firm_zone, next_number
from billing.invoicing import get_invoice, settle
from billing.ledger import check_credit_application, split_credit_note
from billing.models import (
    Application,
    BillingSettings,
    CreditEntry,
    CreditNote,
    Customer,
    Invoice,
    Notification,
)
from billing.money import ZERO, money_sum, round_money
from billing.notify import Channel, notify
from billing.outbox import record_event
from billing.payment_schemas import CreditNoteInput
from billing.payments import lock_customer, lock_invoice, require_open
from billing.pricing import price_lines, stored_line
from billing.records import get_owned, list_owned
from mailer.events import TemplateName

CREDIT_NOTE: Final = "credit_note"
NEW_CREDIT_NOTE = TemplateName.CREDIT_NOTE_NEW.value


@dataclass(frozen=True, slots=True)
class CreditApplied:
    """Credit put on an invoice: the invoice after it, the amount, and the credit left."""

    invoice: Invoice
    amount: Decimal
    credit_balance: Decimal


async def apply_credit(
    session: AsyncSession, tenant: str, invoice_id: int, amount: Decimal, now: datetime
) -> CreditApplied:
    """Pay (part of) an open invoice with the customer's credit, for staff or the customer."""
    found = await get_invoice(session, tenant, invoice_id)
    settings = await firm_settings(session, tenant, now)
    customer = await lock_customer(session, tenant, found.customer_id)
    invoice = await lock_invoice(session, tenant, invoice_id)
    currency = invoice.currency
    require_open(invoice, customer.id, currency)
    credit = await credit_balance(session, tenant, customer.id, currency)
    value = check_credit_application(
        amount,
        currency,
        credit_balance=credit,
        invoice_balance=round_money(invoice.balance, currency),
    )
    today = local_day(now, firm_zone(settings))
    session.add(
        _credit_entry(customer, currency, -value, "applied", today, now, invoice_id=invoice.id)
    )
    session.add(_application(invoice, "credit", value, today, now))
    invoice.amount_paid += value
    await settle(session, settings, invoice, now)
    left = credit - value
    facts = CreditFacts(
        customer_id=customer.id,
        invoice_id=invoice.id,
        number=invoice.number or "",
        amount=value,
        currency=currency,
        credit_balance=left,
    )
    record_event(session, BillingEvent.new(BillingEventType.CREDIT_APPLIED, tenant, now, facts))
    return CreditApplied(invoice, value, left)


async def credit_movements(
    session: AsyncSession, tenant: str, customer_id: int
) -> Sequence[CreditEntry]:
    """Every movement of the customer's credit, oldest first; NotFound for unknown customers."""
    await get_customer(session, tenant, customer_id)
    query = select(CreditEntry).where(
        CreditEntry.tenant == tenant, CreditEntry.customer_id == customer_id
    )
    return (await session.execute(query.order_by(CreditEntry.id))).scalars().all()


def credit_balances(movements: Sequence[CreditEntry]) -> dict[str, Decimal]:
    """The credit per currency that `movements` leave."""
    currencies = sorted({entry.currency for entry in movements})
    return {
        currency: round_money(
            money_sum([entry.amount for entry in movements if entry.currency == currency]),
            currency,
        )
        for currency in currencies
    }


async def create_credit_note(
    session: AsyncSession, tenant: str, body: CreditNoteInput, now: datetime
) -> CreditNote:
    """A numbered credit note: it pays its invoice's balance first, the rest becomes credit.

    With the firm's credit-note trigger on, its email goes out after the grace delay."""
    settings = await firm_settings(session, tenant, now)
    customer = await lock_customer(session, tenant, body.customer_id)
    invoice: Invoice | None = None
    currency = body.currency or customer.currency
    if body.invoice_id is not None:
        invoice = await lock_invoice(session, tenant, body.invoice_id)
        currency = body.currency or invoice.currency
        require_open(invoice, customer.id, currency)
    totals = price_lines(currency, body.lines, subtotal=body.total, tax_rate=body.tax_rate)
    balance = round_money(invoice.balance, currency) if invoice is not None else None
    split = split_credit_note(totals.total, currency, balance)
    issue_date = body.issue_date or local_day(now, firm_zone(settings))
    note = CreditNote(
        tenant=tenant,
        customer_id=customer.id,
        number=await next_number(session, tenant, CREDIT_NOTE, now),
        invoice_id=invoice.id if invoice is not None else None,
        currency=currency,
        issue_date=issue_date,
        lines=[stored_line(line) for line in totals.lines],
        total=totals.total,
        to_invoice=split.to_invoice,
        to_credit=split.to_credit,
        reason=body.reason,
        version=1,
        created_at=now,
    )
    session.add(note)
    await session.flush()
    if invoice is not None and split.to_invoice > ZERO:
        application = _application(invoice, "credit_note", split.to_invoice, issue_date, now)
        application.credit_note_id = note.id
        session.add(application)
        invoice.amount_paid += split.to_invoice
        await settle(session, settings, invoice, now)
    if split.to_credit > ZERO:
        entry = _credit_entry(customer, currency, split.to_credit, "credit_note", issue_date, now)
        entry.credit_note_id, entry.invoice_id = note.id, note.invoice_id
        session.add(entry)
    if settings.auto_send_credit_note:
        due = now + timedelta(seconds=settings.auto_send_grace_seconds)
        await autosend.schedule(session, tenant, CREDIT_NOTE, note.id, NEW_CREDIT_NOTE, due)
    return note


async def send_credit_note(
    session: AsyncSession, tenant: str, credit_note_id: int, now: datetime, by: str = "staff"
) -> Notification:
    """Email the credit note to its customer now; a pending automatic send is dropped.

    `by` "staff" may send again (each time a new email); any other sender sends once."""
    note = await get_credit_note(session, tenant, credit_note_id)
    settings = await firm_settings(session, tenant, now)
    customer = await get_customer(session, tenant, note.customer_id)
    invoice = None
    if note.invoice_id is not None:
        invoice = await get_invoice(session, tenant, note.invoice_id)
    first_key = request_id(tenant, CREDIT_NOTE, note.id, NEW_CREDIT_NOTE)
    if by == "staff":
        earlier = await _sends_so_far(session, tenant, first_key)
        key = request_id(
            tenant, CREDIT_NOTE, note.id, NEW_CREDIT_NOTE, f"v{note.version}", earlier + 1
        )
    else:
        key = f"{first_key}.{by}"
    notification = await notify(
        session,
        channel=Channel.EMAIL,
        tenant=tenant,
        request_id=key,
        template=NEW_CREDIT_NOTE,
        customer=customer,
        data=credit_note_mail_data(settings, customer, note, invoice),
        now=now,
        invoice_id=note.invoice_id,
    )
    await autosend.cancel(session, CREDIT_NOTE, note.id, now, "sent by " + by)
    if note.sent_at is None:
        note.sent_at = now
    return notification


async def get_credit_note(session: AsyncSession, tenant: str, credit_note_id: int) -> CreditNote:
    """The tenant's credit note, or NotFound."""
    return await get_owned(session, CreditNote, tenant, credit_note_id, "credit note")


async def list_credit_notes(
    session: AsyncSession,
    tenant: str,
    *,
    customer_id: int | None = None,
    invoice_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[CreditNote]:
    """The tenant's credit notes, newest first."""
    return await list_owned(
        session,
        CreditNote,
        tenant,
        customer_id=customer_id,
        invoice_id=invoice_id,
        limit=limit,
        offset=offset,
    )


def credit_note_mail_data(
    settings: BillingSettings, customer: Customer, note: CreditNote, invoice: Invoice | None
) -> dict[str, Any]:
    """The context of `credit_note.new` (and of its PDF)."""
    currency = note.currency
    credit_note = {
        "number": note.number,
        "date": note.issue_date.isoformat(),
        "currency": currency,
        "total": money_text(note.total, currency),
        "lines": lines_context(note.lines, currency),
        "invoice_number": invoice.number if invoice is not None else None,
        "reason": note.reason,
    }
    data: dict[str, Any] = {
        "company": company_context(settings),
        "customer": customer_context(customer),
        "credit_note": {key: value for key, value in credit_note.items() if value is not None},
        "links": links_context(settings, f"credit-notes/{note.number}"),
    }
    if invoice is not None:
        data["invoice"] = invoice_context(invoice)
    return data


async def _sends_so_far(session: AsyncSession, tenant: str, first_key: str) -> int:
    query = select(func.count(Notification.id)).where(
        Notification.tenant == tenant,
        Notification.request_id.startswith(first_key + ".", autoescape=True),
    )
    return int((await session.execute(query)).scalar_one())


def _application(
    invoice: Invoice, source: str, amount: Decimal, on: date, now: datetime
) -> Application:
    return Application(
        tenant=invoice.tenant,
        invoice_id=invoice.id,
        source=source,
        amount=amount,
        applied_on=on,
        created_at=now,
    )


def _credit_entry(
    customer: Customer,
    currency: str,
    amount: Decimal,
    kind: str,
    on: date,
    now: datetime,
    *,
    invoice_id: int | None = None,
) -> CreditEntry:
    return CreditEntry(
        tenant=customer.tenant,
        customer_id=customer.id,
        currency=currency,
        amount=amount,
        kind=kind,
        invoice_id=invoice_id,
        on=on,
        created_at=now,
    )
