"""Charges owed until a billing run bills them, and the payment links that collect them."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.calendar import local_day
from billing.customers import get_customer
from billing.documents import company_context, customer_context, links_context, money_text
from billing.errors import Conflict, InvalidRequest
from billing.firm import firm_settings, firm_zone
from billing.models import BillingRun, BillingSettings, Charge, Customer, PaymentLink
from billing.money import ZERO, money_sum, positive_money
from billing.run_schemas import ChargeInput

PAYMENT_LINK: Final = "payment_link"


async def add_charge(
    session: AsyncSession, tenant: str, body: ChargeInput, now: datetime
) -> Charge:
    """Record something the customer owes; the next billing run collects it."""
    customer = await get_customer(session, tenant, body.customer_id)
    currency = body.currency or customer.currency
    settings = await firm_settings(session, tenant, now)
    charge_date = body.charge_date or local_day(now, firm_zone(settings))
    if body.due_on is not None and body.due_on < charge_date:
        raise InvalidRequest(f"due date {body.due_on} is before the charge date {charge_date}")
    charge = Charge(
        tenant=tenant,
        customer_id=customer.id,
        description=body.description,
        amount=positive_money(body.amount, currency),
        currency=currency,
        charge_date=charge_date,
        due_on=body.due_on,
        billed=False,
        created_at=now,
    )
    session.add(charge)
    await session.flush()
    return charge


async def list_charges(
    session: AsyncSession,
    tenant: str,
    *,
    billed: bool | None = None,
    customer_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Charge]:
    query = select(Charge).where(Charge.tenant == tenant)
    if billed is not None:
        query = query.where(Charge.billed.is_(billed))
    if customer_id is not None:
        query = query.where(Charge.customer_id == customer_id)
    query = query.order_by(Charge.charge_date, Charge.id).limit(limit).offset(offset)
    return (await session.execute(query)).scalars().all()


async def claim_charges(
    session: AsyncSession, run: BillingRun, charges: Sequence[Charge], **billed_to: int
) -> None:
    """Mark the charges billed, unless another run billed one of them meanwhile."""
    claimed = await session.execute(
        update(Charge)
        .where(
            Charge.tenant == run.tenant,
            Charge.id.in_([charge.id for charge in charges]),
            Charge.billed.is_(False),
        )
        .values(billed=True, **billed_to)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(claimed, "rowcount", 0) or 0) != len(charges):
        raise Conflict("another billing run billed some of these charges meanwhile; run again")


async def create_payment_link(
    session: AsyncSession,
    run: BillingRun,
    customer: Customer,
    charges: Sequence[Charge],
    now: datetime,
) -> PaymentLink:
    """A link to pay the charges' total online, the charges claimed by it."""
    link = PaymentLink(
        tenant=run.tenant,
        customer_id=customer.id,
        run_id=run.id,
        token=secrets.token_urlsafe(24),
        amount=money_sum([charge.amount for charge in charges]),
        currency=charges[0].currency,
        created_at=now,
    )
    session.add(link)
    await session.flush()
    await claim_charges(session, run, charges, payment_link_id=link.id)
    return link


def payment_request_number(link: PaymentLink) -> str:
    """The reference a payment request is shown (and threaded) under."""
    return f"PR-{link.id:05d}"


def payment_request_data(
    settings: BillingSettings,
    customer: Customer,
    link: PaymentLink,
    charges: Sequence[Charge],
    day: date,
) -> dict[str, Any]:
    """The `payment.link` context: the request shaped as the invoice the template expects."""
    currency = link.currency
    total = money_text(link.amount, currency)
    lines = [
        {
            "description": charge.description,
            "quantity": "1",
            "unit_price": money_text(charge.amount, currency),
            "amount": money_text(charge.amount, currency),
        }
        for charge in charges
    ]
    request = {
        "number": payment_request_number(link),
        "issue_date": day.isoformat(),
        "due_date": day.isoformat(),
        "currency": currency,
        "lines": lines,
        "subtotal": total,
        "total": total,
        "amount_paid": money_text(ZERO, currency),
        "balance": total,
    }
    return {
        "company": company_context(settings),
        "customer": customer_context(customer),
        "invoice": request,
        "links": links_context(settings, None, f"pay/{link.token}"),
    }
