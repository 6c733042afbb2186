"""Payments on record: found, searched, and given back (refunds that reopen invoices)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.calendar import local_day
from billing.customers import credit_balance
from billing.documents import request_id
from billing.errors import Conflict, InvalidRequest
from billing.firm import firm_settings, firm_zone
from billing.invoicing import OPEN_STATES, settle
from billing.ledger import InvoiceState, plan_refund
from billing.models import Application, Invoice, Payment, Refund
from billing.money import ZERO, round_money
from billing.payment_schemas import PaymentStatus
from billing.payments import (
    FROM_PAYMENT,
    PAYMENT,
    REFUND,
    email_about_payment,
    lock_customer,
    lock_invoice,
    payment_application,
    payment_credit_entry,
    payment_mail_data,
)
from billing.records import get_owned


async def refund_payment(
    session: AsyncSession,
    tenant: str,
    payment_id: int,
    amount: Decimal | None,
    reason: str | None,
    now: datetime,
) -> Refund:
    """Give back (part of) a payment, by default all that is left: first from the credit it
    left, then off the invoices it paid, latest first; those invoices reopen."""
    found = await get_payment(session, tenant, payment_id)
    settings = await firm_settings(session, tenant, now)
    customer = await lock_customer(session, tenant, found.customer_id)
    payment = await get_payment(session, tenant, payment_id, lock=True)
    currency = payment.currency
    refundable = round_money(payment.amount - payment.refunded, currency)
    if refundable <= ZERO:
        raise Conflict(f"payment {payment.id} has already been refunded in full")
    plan = plan_refund(
        refundable if amount is None else amount,
        currency,
        refundable=refundable,
        unapplied=round_money(payment.unapplied, currency),
        credit_balance=await credit_balance(session, tenant, customer.id, currency),
        allocations=await _standing_applications(session, tenant, payment.id, currency),
    )
    reversed_ = [
        (await lock_invoice(session, tenant, invoice_id), taken)
        for invoice_id, taken in plan.reversals
    ]
    for invoice, _ in reversed_:
        if invoice.state not in (*OPEN_STATES, InvoiceState.PAID.value):
            raise Conflict(
                f"invoice {invoice.number} is {invoice.state}: the money on it cannot be taken back"
            )
    today = local_day(now, firm_zone(settings))
    refund = Refund(
        tenant=tenant,
        payment_id=payment.id,
        amount=plan.total,
        from_credit=plan.from_credit,
        reason=reason,
        refunded_on=today,
        created_at=now,
    )
    session.add(refund)
    await session.flush()
    if plan.from_credit > ZERO:
        session.add(
            payment_credit_entry(payment, -plan.from_credit, "refund", today, now, refund.id)
        )
        payment.unapplied -= plan.from_credit
    for invoice, taken in reversed_:
        session.add(payment_application(payment, invoice, -taken, today, now))
        invoice.amount_paid -= taken
        await settle(session, settings, invoice, now)
    payment.refunded += plan.total
    fully = payment.refunded >= payment.amount
    payment.status = (PaymentStatus.REFUNDED if fully else PaymentStatus.PARTIALLY_REFUNDED).value
    if settings.receipts_enabled:
        key = request_id(tenant, PAYMENT, payment.id, REFUND, f"refund{refund.id}")
        data = payment_mail_data(settings, customer, payment, plan.total, today, reversed_)
        await email_about_payment(session, customer, key, REFUND, data, reversed_, now)
    return refund


async def get_payment(
    session: AsyncSession, tenant: str, payment_id: int, *, lock: bool = False
) -> Payment:
    """The tenant's payment, or NotFound; `lock` holds it until the transaction ends."""
    return await get_owned(session, Payment, tenant, payment_id, "payment", lock=lock)


async def search_payments(
    session: AsyncSession,
    tenant: str,
    *,
    customer_id: int | None = None,
    invoice_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    method: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Payment]:
    """The tenant's payments matching every filter given, latest received first."""
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidRequest(f"date_from {date_from} is after date_to {date_to}")
    query = select(Payment).where(Payment.tenant == tenant)
    if customer_id is not None:
        query = query.where(Payment.customer_id == customer_id)
    if invoice_id is not None:
        on_invoice = select(Application.payment_id).where(
            Application.tenant == tenant, Application.invoice_id == invoice_id
        )
        query = query.where(Payment.id.in_(on_invoice))
    if date_from is not None:
        query = query.where(Payment.received_on >= date_from)
    if date_to is not None:
        query = query.where(Payment.received_on <= date_to)
    if method is not None:
        query = query.where(Payment.method == method)
    if status is not None:
        query = query.where(Payment.status == status)
    query = query.order_by(Payment.received_on.desc(), Payment.id.desc())
    return (await session.execute(query.limit(limit).offset(offset))).scalars().all()


async def payment_applications(
    session: AsyncSession, tenant: str, payment_id: int
) -> list[tuple[Application, str | None]]:
    """What the payment put on invoices (and refunds took back), with the invoice numbers."""
    query = (
        select(Application, Invoice.number)
        .join(Invoice, Invoice.id == Application.invoice_id)
        .where(Application.tenant == tenant, Application.payment_id == payment_id)
        .order_by(Application.id)
    )
    return [(row, number) for row, number in (await session.execute(query)).all()]


async def payment_refunds(session: AsyncSession, tenant: str, payment_id: int) -> Sequence[Refund]:
    query = select(Refund).where(Refund.tenant == tenant, Refund.payment_id == payment_id)
    return (await session.execute(query.order_by(Refund.id))).scalars().all()


async def _standing_applications(
    session: AsyncSession, tenant: str, payment_id: int, currency: str
) -> list[tuple[int, Decimal]]:
    """What the payment still has on each invoice (applications less reversals), oldest first."""
    query = (
        select(Application.invoice_id, Application.amount)
        .where(
            Application.tenant == tenant,
            Application.payment_id == payment_id,
            Application.source == FROM_PAYMENT,
        )
        .order_by(Application.id)
    )
    standing: dict[int, Decimal] = {}
    for invoice_id, amount in (await session.execute(query)).all():
        standing[invoice_id] = standing.get(invoice_id, ZERO) + amount
    return [
        (invoice_id, round_money(amount, currency))
        for invoice_id, amount in standing.items()
        if amount > ZERO
    ]
