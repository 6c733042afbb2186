"""An invoice's life: draft, issue, send (now, automatically, or marked sent), void, settle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import autosend
from billing.calendar import auto_send_at, local_day
from billing.customers import get_customer
from billing.documents import invoice_template_data, request_id
from billing.errors import Conflict
from billing.events import BillingEvent, BillingEventType, InvoiceFacts
from billing.firm import firm_settings, firm_zone, next_number
from billing.ledger import InvoiceState, invoice_state
from billing.models import BillingSettings, Invoice, InvoiceLine, Notification
from billing.money import exact_money, round_money
from billing.notify import Channel, notify
from billing.outbox import record_event
from billing.pricing import check_dates, price_lines, set_totals
from billing.records import get_owned, list_owned
from billing.schemas import AmountsIn, InvoiceInput, InvoiceUpdate
from mailer.events import TemplateName

INVOICE: Final = "invoice"
OPEN_STATES = (InvoiceState.ISSUED.value, InvoiceState.PARTIALLY_PAID.value)


async def create_invoice(
    session: AsyncSession,
    tenant: str,
    body: InvoiceInput,
    now: datetime,
    *,
    source: str = "manual",
    run_id: int | None = None,
    schedule_id: int | None = None,
    schedule_index: int | None = None,
) -> Invoice:
    """A draft invoice for one of the tenant's customers, its totals computed and checked."""
    settings = await firm_settings(session, tenant, now)
    customer = await get_customer(session, tenant, body.customer_id)
    currency = body.currency or customer.currency
    issue_date = body.issue_date or local_day(now, firm_zone(settings))
    terms = (
        settings.payment_terms_days if body.payment_terms_days is None else body.payment_terms_days
    )
    invoice = Invoice(
        tenant=tenant,
        customer_id=customer.id,
        customer=customer,
        state=InvoiceState.DRAFT.value,
        currency=currency,
        issue_date=issue_date,
        due_date=body.due_date or issue_date + timedelta(days=terms),
        notes=body.notes,
        payment_method=body.payment_method.value if body.payment_method else None,
        source=source,
        run_id=run_id,
        schedule_id=schedule_id,
        schedule_index=schedule_index,
        amount_paid=exact_money(0, currency),
        version=1,
        created_at=now,
    )
    check_dates(invoice.issue_date, invoice.due_date, "due")
    _price(invoice, body)
    session.add(invoice)
    await session.flush()
    return invoice


async def update_draft(
    session: AsyncSession, tenant: str, invoice_id: int, body: InvoiceUpdate, now: datetime
) -> Invoice:
    """Replace a draft's content; issued invoices are changed with credit notes instead."""
    invoice = await get_invoice(session, tenant, invoice_id)
    if invoice.state != InvoiceState.DRAFT.value:
        raise Conflict(f"invoice {invoice.number} is {invoice.state}: only drafts can be edited")
    if body.issue_date is not None:
        invoice.issue_date = body.issue_date
    if body.due_date is not None:
        invoice.due_date = body.due_date
    if "notes" in body.model_fields_set:
        invoice.notes = body.notes
    check_dates(invoice.issue_date, invoice.due_date, "due")
    invoice.lines.clear()
    await session.flush()
    _price(invoice, body)
    invoice.version += 1
    return invoice


async def delete_draft(session: AsyncSession, tenant: str, invoice_id: int) -> None:
    invoice = await get_invoice(session, tenant, invoice_id)
    if invoice.state != InvoiceState.DRAFT.value:
        raise Conflict(f"invoice {invoice.number} is {invoice.state}: void it instead")
    await session.delete(invoice)


async def get_invoice(session: AsyncSession, tenant: str, invoice_id: int) -> Invoice:
    """The tenant's invoice, or NotFound."""
    return await get_owned(session, Invoice, tenant, invoice_id, "invoice")


async def list_invoices(
    session: AsyncSession,
    tenant: str,
    *,
    state: str | None = None,
    customer_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Invoice]:
    """The tenant's invoices, newest first."""
    return await list_owned(
        session, Invoice, tenant, state=state, customer_id=customer_id, limit=limit, offset=offset
    )


async def issue_invoice(
    session: AsyncSession, tenant: str, invoice_id: int, now: datetime, *, auto_send: bool = True
) -> Invoice:
    """Give the draft its number and make it owed; with the new-invoice trigger on, its email
    is queued for after the grace delay (or its issue date, if later)."""
    invoice = await get_invoice(session, tenant, invoice_id)
    if invoice.state != InvoiceState.DRAFT.value:
        raise Conflict(f"invoice {invoice.number} is already {invoice.state}")
    settings = await firm_settings(session, tenant, now)
    invoice.number = await next_number(session, tenant, INVOICE, now)
    invoice.issued_at = now
    invoice.state = invoice_state(
        invoice.total, invoice.amount_paid, issued=True, voided=False
    ).value
    if invoice.state == InvoiceState.PAID.value:
        invoice.paid_at = now
    invoice.version += 1
    _announce(session, BillingEventType.INVOICE_ISSUED, invoice, now)
    if auto_send and settings.auto_send_invoice and invoice.state in OPEN_STATES:
        due = auto_send_at(
            now,
            invoice.issue_date,
            timedelta(seconds=settings.auto_send_grace_seconds),
            firm_zone(settings),
        )
        await autosend.schedule(
            session, tenant, INVOICE, invoice.id, TemplateName.INVOICE_NEW.value, due
        )
    return invoice


async def send_invoice(
    session: AsyncSession,
    tenant: str,
    invoice_id: int,
    now: datetime,
    *,
    by: str = "staff",
    run_id: int | None = None,
    channel: Channel = Channel.EMAIL,
) -> Notification:
    """Email (or text) the invoice to its customer now; a pending automatic send is dropped.

    `by` is who sends: "auto", "schedule" and "run" send once per invoice; staff may send
    again, each time a new email."""
    invoice = await get_invoice(session, tenant, invoice_id)
    if invoice.state not in (*OPEN_STATES, InvoiceState.PAID.value):
        raise Conflict(f"invoice {invoice.number or invoice.id} is {invoice.state}: issue it first")
    settings = await firm_settings(session, tenant, now)
    template = TemplateName.INVOICE_NEW.value
    if by == "staff":
        earlier = await _sends_so_far(session, tenant, invoice.id, template)
        key = request_id(tenant, INVOICE, invoice.id, template, f"v{invoice.version}", earlier + 1)
    else:
        key = request_id(tenant, INVOICE, invoice.id, template, by)
    if channel is Channel.SMS:
        key += ".sms"
    notification = await notify(
        session,
        channel=channel,
        tenant=tenant,
        request_id=key,
        template=template,
        customer=invoice.customer,
        data=invoice_template_data(settings, invoice.customer, invoice),
        now=now,
        invoice_id=invoice.id,
        run_id=run_id,
    )
    await autosend.cancel(session, INVOICE, invoice.id, now, "sent by " + by)
    if invoice.sent_at is None:
        invoice.sent_at, invoice.sent_by = now, by
    return notification


async def mark_sent(session: AsyncSession, tenant: str, invoice_id: int, now: datetime) -> Invoice:
    """Record that staff delivered the invoice themselves: no automatic email follows."""
    invoice = await get_invoice(session, tenant, invoice_id)
    if invoice.state in (InvoiceState.DRAFT.value, InvoiceState.VOID.value):
        raise Conflict(f"invoice {invoice.number or invoice.id} is {invoice.state}")
    await autosend.cancel(session, INVOICE, invoice.id, now, "marked sent")
    if invoice.sent_at is None:
        invoice.sent_at, invoice.sent_by = now, "marked"
    return invoice


async def void_invoice(
    session: AsyncSession, tenant: str, invoice_id: int, now: datetime
) -> Invoice:
    """Cancel an issued invoice that nothing was paid on; its pending email is dropped."""
    invoice = await get_invoice(session, tenant, invoice_id)
    if invoice.state == InvoiceState.VOID.value:
        raise Conflict(f"invoice {invoice.number} is already void")
    if invoice.state == InvoiceState.DRAFT.value:
        raise Conflict("a draft is deleted, not voided")
    if invoice.amount_paid != 0:
        raise Conflict(
            f"invoice {invoice.number} has {round_money(invoice.amount_paid, invoice.currency)} "
            f"{invoice.currency} paid on it: refund or move those payments before voiding it"
        )
    invoice.state = InvoiceState.VOID.value
    invoice.voided_at = now
    invoice.version += 1
    await autosend.cancel(session, INVOICE, invoice.id, now, "voided")
    _announce(session, BillingEventType.INVOICE_VOIDED, invoice, now)
    return invoice


async def settle(
    session: AsyncSession, settings: BillingSettings, invoice: Invoice, now: datetime
) -> None:
    """Bring the state in line with `amount_paid` after money moved; a newly paid invoice is
    announced and, when the firm wants it, thanked for."""
    before = invoice.state
    state = invoice_state(invoice.total, invoice.amount_paid, issued=True, voided=False)
    invoice.state = state.value
    invoice.version += 1
    if state is not InvoiceState.PAID:
        invoice.paid_at = None
        return
    if before == InvoiceState.PAID.value:
        return
    invoice.paid_at = now
    _announce(session, BillingEventType.INVOICE_PAID, invoice, now)
    if settings.thank_you_enabled:
        template = TemplateName.INVOICE_THANK_YOU.value
        await notify(
            session,
            channel=Channel.EMAIL,
            tenant=invoice.tenant,
            request_id=request_id(
                invoice.tenant, INVOICE, invoice.id, template, f"v{invoice.version}"
            ),
            template=template,
            customer=invoice.customer,
            data=invoice_template_data(settings, invoice.customer, invoice),
            now=now,
            invoice_id=invoice.id,
        )


def invoice_facts(invoice: Invoice) -> InvoiceFacts:
    currency = invoice.currency
    return InvoiceFacts(
        invoice_id=invoice.id,
        number=invoice.number or "",
        customer_id=invoice.customer_id,
        state=invoice.state,
        currency=currency,
        total=round_money(invoice.total, currency),
        amount_paid=round_money(invoice.amount_paid, currency),
        balance=round_money(invoice.balance, currency),
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        version=invoice.version,
    )


async def invoice_document(
    session: AsyncSession, tenant: str, invoice_id: int, now: datetime
) -> tuple[Invoice, dict[str, Any]]:
    """The invoice and the template context its email would carry now (what its PDF shows)."""
    invoice = await get_invoice(session, tenant, invoice_id)
    settings = await firm_settings(session, tenant, now)
    return invoice, invoice_template_data(settings, invoice.customer, invoice)


def _announce(
    session: AsyncSession, type_: BillingEventType, invoice: Invoice, now: datetime
) -> None:
    record_event(session, BillingEvent.new(type_, invoice.tenant, now, invoice_facts(invoice)))


async def _sends_so_far(session: AsyncSession, tenant: str, invoice_id: int, template: str) -> int:
    query = select(func.count(Notification.id)).where(
        Notification.tenant == tenant,
        Notification.invoice_id == invoice_id,
        Notification.template == template,
    )
    return int((await session.execute(query)).scalar_one())


def _price(invoice: Invoice, body: AmountsIn) -> None:
    totals = price_lines(
        invoice.currency,
        body.lines,
        subtotal=body.subtotal,
        discount=body.discount,
        tax_rate=body.tax_rate,
    )
    invoice.lines = [
        InvoiceLine(
            position=position,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
        )
        for position, line in enumerate(totals.lines, start=1)
    ]
    set_totals(invoice, totals, body.tax_rate)
