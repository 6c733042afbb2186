"""Estimates (quotes): drafted, issued, sent (by staff or automatically), accepted or declined."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import autosend
from billing.calendar import auto_send_at, local_day
from billing.customers import get_customer
from billing.document_schemas import EstimateInput, EstimateUpdate
from billing.documents import (
    company_context,
    customer_context,
    lines_context,
    links_context,
    money_text,
    quantity_text,
    request_id,
)
from billing.errors import Conflict
from billing.firm import firm_settings, firm_zone, next_number
from billing.invoicing import create_invoice
from billing.models import BillingSettings, Customer, Estimate, Invoice, Notification
from billing.notify import Channel, notify
from billing.pricing import check_dates, lines_in, price_lines, set_totals, stored_line
from billing.records import get_owned, list_owned
from billing.schemas import AmountsIn, InvoiceInput
from mailer.events import TemplateName

ESTIMATE: Final = "estimate"
TEMPLATE: Final = TemplateName.ESTIMATE_NEW.value


class EstimateState(enum.StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    ACCEPTED = "accepted"
    DECLINED = "declined"


async def create_estimate(
    session: AsyncSession, tenant: str, body: EstimateInput, now: datetime
) -> Estimate:
    """A draft estimate for one of the tenant's customers, priced like an invoice."""
    settings = await firm_settings(session, tenant, now)
    customer = await get_customer(session, tenant, body.customer_id)
    estimate = Estimate(
        tenant=tenant,
        customer_id=customer.id,
        number=None,
        state=EstimateState.DRAFT.value,
        currency=body.currency or customer.currency,
        issue_date=body.issue_date or local_day(now, firm_zone(settings)),
        expiry_date=body.expiry_date,
        notes=body.notes,
        version=1,
        created_at=now,
    )
    check_dates(estimate.issue_date, estimate.expiry_date, "expiry")
    _price(estimate, body)
    session.add(estimate)
    await session.flush()
    return estimate


async def update_estimate(
    session: AsyncSession, tenant: str, estimate_id: int, body: EstimateUpdate, now: datetime
) -> Estimate:
    """Replace a draft's content; once issued an estimate no longer changes."""
    estimate = await get_estimate(session, tenant, estimate_id)
    if estimate.state != EstimateState.DRAFT.value:
        raise Conflict(f"{_named(estimate)} is {estimate.state}: only drafts can be edited")
    if body.issue_date is not None:
        estimate.issue_date = body.issue_date
    if "expiry_date" in body.model_fields_set:
        estimate.expiry_date = body.expiry_date
    if "notes" in body.model_fields_set:
        estimate.notes = body.notes
    check_dates(estimate.issue_date, estimate.expiry_date, "expiry")
    _price(estimate, body)
    estimate.version += 1
    return estimate


async def get_estimate(session: AsyncSession, tenant: str, estimate_id: int) -> Estimate:
    """The tenant's estimate, or NotFound."""
    return await get_owned(session, Estimate, tenant, estimate_id, "estimate")


async def list_estimates(
    session: AsyncSession,
    tenant: str,
    *,
    state: str | None = None,
    customer_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Estimate]:
    """The tenant's estimates, newest first."""
    return await list_owned(
        session, Estimate, tenant, state=state, customer_id=customer_id, limit=limit, offset=offset
    )


async def issue_estimate(
    session: AsyncSession, tenant: str, estimate_id: int, now: datetime
) -> Estimate:
    """Number the draft; with the estimate trigger on, it is emailed after the grace delay."""
    estimate = await get_estimate(session, tenant, estimate_id)
    if estimate.state != EstimateState.DRAFT.value:
        raise Conflict(f"{_named(estimate)} is already {estimate.state}")
    settings = await firm_settings(session, tenant, now)
    estimate.number = await next_number(session, tenant, ESTIMATE, now)
    estimate.state = EstimateState.ISSUED.value
    estimate.issued_at = now
    estimate.version += 1
    if settings.auto_send_estimate:
        grace = timedelta(seconds=settings.auto_send_grace_seconds)
        zone = firm_zone(settings)
        due = now + grace
        if estimate.issue_date > local_day(now, zone):  # dated ahead: sent on that day
            due = auto_send_at(now, estimate.issue_date, grace, zone)
        await autosend.schedule(session, tenant, ESTIMATE, estimate.id, TEMPLATE, due)
    return estimate


async def send_estimate(
    session: AsyncSession, tenant: str, estimate_id: int, now: datetime, by: str = "staff"
) -> Notification:
    """Email the estimate now; a pending automatic send is dropped. Staff may send it again
    (each time a new email); any other sender (`auto`) sends it once."""
    estimate = await get_estimate(session, tenant, estimate_id)
    if estimate.state == EstimateState.DRAFT.value:
        raise Conflict("the estimate is a draft: issue it first")
    if estimate.state != EstimateState.ISSUED.value:
        raise Conflict(f"{_named(estimate)} is {estimate.state}: it is not sent any more")
    settings = await firm_settings(session, tenant, now)
    customer = await get_customer(session, tenant, estimate.customer_id)
    if by == "staff":
        nth = await _staff_sends(session, tenant, estimate.id) + 1
        key = request_id(tenant, ESTIMATE, estimate.id, TEMPLATE, f"v{estimate.version}", nth)
    else:
        key = request_id(tenant, ESTIMATE, estimate.id, TEMPLATE, by)
    notification = await notify(
        session,
        channel=Channel.EMAIL,
        tenant=tenant,
        request_id=key,
        template=TEMPLATE,
        customer=customer,
        data=estimate_template_data(settings, customer, estimate),
        now=now,
    )
    await autosend.cancel(session, ESTIMATE, estimate.id, now, "sent by " + by)
    if estimate.sent_at is None:
        estimate.sent_at = now
    return notification


async def accept_estimate(
    session: AsyncSession, tenant: str, estimate_id: int, now: datetime
) -> tuple[Estimate, Invoice]:
    """The customer said yes: a draft invoice with the estimate's lines, for staff to issue."""
    estimate = await _answerable(session, tenant, estimate_id, now)
    lines = lines_in(estimate.lines)
    body = InvoiceInput(
        customer_id=estimate.customer_id,
        currency=estimate.currency,
        lines=lines,
        subtotal=None if lines else estimate.subtotal,
        discount=estimate.discount,
        tax_rate=estimate.tax_rate,
        notes=estimate.notes,
    )
    invoice = await create_invoice(session, tenant, body, now, source=ESTIMATE)
    estimate.state = EstimateState.ACCEPTED.value
    estimate.invoice_id = invoice.id
    await autosend.cancel(session, ESTIMATE, estimate.id, now, "accepted")
    return estimate, invoice


async def decline_estimate(
    session: AsyncSession, tenant: str, estimate_id: int, now: datetime
) -> Estimate:
    """The customer said no."""
    estimate = await _answerable(session, tenant, estimate_id, now)
    estimate.state = EstimateState.DECLINED.value
    await autosend.cancel(session, ESTIMATE, estimate.id, now, "declined")
    return estimate


def estimate_template_data(
    settings: BillingSettings, customer: Customer, estimate: Estimate
) -> dict[str, Any]:
    """The `estimate.new` context: the estimate travels in the `invoice` object, its expiry
    date as the due date (shown as "valid until"); a draft is numbered "DRAFT"."""
    currency = estimate.currency
    view = f"estimates/{estimate.number}" if estimate.number else None  # a draft is not online
    invoice: dict[str, Any] = {
        "number": estimate.number or "DRAFT",
        "issue_date": estimate.issue_date.isoformat(),
        "currency": currency,
        "lines": lines_context(estimate.lines, currency),
        "subtotal": money_text(estimate.subtotal, currency),
        "discount": money_text(estimate.discount, currency),
        "tax": money_text(estimate.tax, currency),
        "total": money_text(estimate.total, currency),
        "amount_paid": money_text(Decimal(0), currency),
        "balance": money_text(estimate.total, currency),
    }
    if estimate.expiry_date is not None:
        invoice["due_date"] = estimate.expiry_date.isoformat()
    if estimate.notes:
        invoice["notes"] = estimate.notes
    return {
        "company": company_context(settings),
        "customer": customer_context(customer),
        "invoice": invoice,
        "links": links_context(settings, view),
    }


async def _answerable(
    session: AsyncSession, tenant: str, estimate_id: int, now: datetime
) -> Estimate:
    """An issued estimate the customer can still answer (not past its expiry date)."""
    estimate = await get_estimate(session, tenant, estimate_id)
    if estimate.state == EstimateState.DRAFT.value:
        raise Conflict("the estimate is a draft: issue it first")
    if estimate.state != EstimateState.ISSUED.value:
        raise Conflict(f"{_named(estimate)} is already {estimate.state}")
    today = local_day(now, firm_zone(await firm_settings(session, tenant, now)))
    if estimate.expiry_date is not None and today > estimate.expiry_date:
        raise Conflict(f"{_named(estimate)} expired on {estimate.expiry_date.isoformat()}")
    return estimate


async def _staff_sends(session: AsyncSession, tenant: str, estimate_id: int) -> int:
    """How many times staff have sent this estimate so far."""
    prefix = request_id(tenant, ESTIMATE, estimate_id, TEMPLATE, "v")
    query = select(func.count(Notification.id)).where(
        Notification.tenant == tenant,
        Notification.request_id.startswith(prefix, autoescape=True),
    )
    return int((await session.execute(query)).scalar_one())


def _named(estimate: Estimate) -> str:
    """The estimate as messages name it: by number once issued, by id while a draft."""
    return f"estimate {estimate.number or estimate.id}"


def _price(estimate: Estimate, body: AmountsIn) -> None:
    totals = price_lines(
        estimate.currency,
        body.lines,
        subtotal=body.subtotal,
        discount=body.discount,
        tax_rate=body.tax_rate,
    )
    estimate.lines = [stored_line(line, quantity_text) for line in totals.lines]
    set_totals(estimate, totals, body.tax_rate)
