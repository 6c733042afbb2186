"""Money coming in: payments on invoices and prepayments, with their receipts and events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.calendar import local_day
from billing.documents import (
    company_context,
    customer_context,
    invoice_context,
    links_context,
    money_text,
    request_id,
)
from billing.errors import Conflict, InvalidRequest
from billing.events import AppliedAmount, BillingEvent, BillingEventType, PaymentFacts
from billing.firm import firm_settings, firm_zone
from billing.invoicing import OPEN_STATES, get_invoice, settle
from billing.ledger import OpenInvoice, allocate_payment
from billing.models import (
    Application,
    BillingSettings,
    CreditEntry,
    Customer,
    Invoice,
    Payment,
)
from billing.money import ZERO, round_money
from billing.notify import Channel, notify
from billing.outbox import record_event
from billing.payment_schemas import (
    InvoicePaymentInput,
    PaymentInput,
    PaymentStatus,
    PrepaymentInput,
)
from billing.records import get_owned
from billing.schemas import PaymentMethod
from mailer.events import TemplateName
from mailer.store.tenant_models import TenantPayments

PAYMENT: Final = "payment"
FROM_PAYMENT: Final = "payment"  # Application.source of money put on an invoice by a payment
RECEIPT = TemplateName.PAYMENT_RECEIPT.value
REFUND = TemplateName.PAYMENT_REFUND.value


@dataclass(frozen=True, slots=True)
class _Incoming:
    amount: Decimal
    currency: str
    method: PaymentMethod
    received_on: date
    reference: str | None
    prepayment: bool


async def record_payment(
    session: AsyncSession, tenant: str, body: PaymentInput, now: datetime
) -> Payment:
    """A customer's payment, put on the invoices it names or on the oldest due first; what is
    left becomes credit when the firm takes prepayments, and is refused otherwise."""
    settings = await firm_settings(session, tenant, now)
    customer = await lock_customer(session, tenant, body.customer_id)
    currency = body.currency or customer.currency
    await check_method(session, tenant, body.method)
    invoices = await open_invoices(session, tenant, customer.id, currency)
    requested: dict[int, Decimal] | None = None
    if body.allocations is not None:
        chosen = [entry.invoice_id for entry in body.allocations]
        await _check_payable(session, tenant, customer.id, currency, chosen)
        requested = {entry.invoice_id: entry.amount for entry in body.allocations}
    elif body.invoice_ids is not None:
        await _check_payable(session, tenant, customer.id, currency, body.invoice_ids)
        invoices = [invoice for invoice in invoices if invoice.id in set(body.invoice_ids)]
    day = body.received_on or local_day(now, firm_zone(settings))
    incoming = _Incoming(body.amount, currency, body.method, day, body.reference, False)
    return await _receive(session, settings, customer, incoming, invoices, requested, now)


async def pay_invoice(
    session: AsyncSession, tenant: str, invoice_id: int, body: InvoicePaymentInput, now: datetime
) -> Payment:
    """A payment for one invoice, by default its whole balance; more than the balance goes to
    the customer's credit when the firm takes prepayments."""
    found = await get_invoice(session, tenant, invoice_id)
    settings = await firm_settings(session, tenant, now)
    customer = await lock_customer(session, tenant, found.customer_id)
    [invoice] = await _check_payable(session, tenant, customer.id, found.currency, [invoice_id])
    await check_method(session, tenant, body.method)
    currency = invoice.currency
    balance = round_money(invoice.balance, currency)
    amount = balance if body.amount is None else body.amount
    day = body.received_on or local_day(now, firm_zone(settings))
    incoming = _Incoming(amount, currency, body.method, day, body.reference, False)
    requested = {invoice.id: min(amount, balance)}
    return await _receive(session, settings, customer, incoming, [invoice], requested, now)


async def record_prepayment(
    session: AsyncSession, tenant: str, body: PrepaymentInput, now: datetime
) -> Payment:
    """Money paid in advance, all kept as the customer's credit (seed 001): only when a firm
    admin has switched prepayments on, and by a method the firm accepts."""
    settings = await firm_settings(session, tenant, now)
    if not settings.prepayments_enabled:
        raise Conflict(
            "prepayments are off for this firm; a firm admin can switch them on "
            "in the billing settings (prepayments_enabled)"
        )
    customer = await lock_customer(session, tenant, body.customer_id)
    await check_method(session, tenant, body.method)
    currency = body.currency or customer.currency
    day = body.received_on or local_day(now, firm_zone(settings))
    incoming = _Incoming(body.amount, currency, body.method, day, body.reference, True)
    return await _receive(session, settings, customer, incoming, [], {}, now)


async def lock_customer(session: AsyncSession, tenant: str, customer_id: int) -> Customer:
    """The tenant's customer, locked: money moves for one customer one transaction at a time,
    so two payments or refunds never both spend the same credit."""
    return await get_owned(session, Customer, tenant, customer_id, "customer", lock=True)


async def lock_invoice(session: AsyncSession, tenant: str, invoice_id: int) -> Invoice:
    """The tenant's invoice, locked until the transaction ends."""
    return await get_owned(session, Invoice, tenant, invoice_id, "invoice", lock=True)


async def open_invoices(
    session: AsyncSession, tenant: str, customer_id: int, currency: str
) -> list[Invoice]:
    """The customer's invoices in `currency` that still take money (never drafts or void)."""
    query = (
        select(Invoice)
        .where(
            Invoice.tenant == tenant,
            Invoice.customer_id == customer_id,
            Invoice.currency == currency,
            Invoice.state.in_(OPEN_STATES),
        )
        .order_by(Invoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query)).scalars())


def require_open(invoice: Invoice, customer_id: int, currency: str) -> None:
    """Refuse money for an invoice that is not the customer's, in another currency, or closed."""
    label = invoice.number or f"draft {invoice.id}"
    if invoice.customer_id != customer_id:
        raise InvalidRequest(f"invoice {label} belongs to another customer")
    if invoice.currency != currency:
        raise InvalidRequest(f"invoice {label} is in {invoice.currency}, not {currency}")
    if invoice.state not in OPEN_STATES:
        raise Conflict(
            f"invoice {label} is {invoice.state}: only issued or partially paid invoices "
            "take payments and credit"
        )


async def check_method(session: AsyncSession, tenant: str, method: PaymentMethod) -> None:
    """Refuse a method the firm's payment settings leave out; offline is always allowed."""
    if method is PaymentMethod.OFFLINE:
        return
    query = select(TenantPayments.staff_methods).where(TenantPayments.tenant == tenant)
    accepted = (await session.execute(query)).scalar_one_or_none()
    if accepted and method.value not in accepted:
        raise Conflict(
            f"this firm does not take {method.value} payments; "
            f"it takes {', '.join([*accepted, 'offline'])}"
        )


def payment_mail_data(
    settings: BillingSettings,
    customer: Customer,
    payment: Payment,
    amount: Decimal,
    on: date,
    entries: Sequence[tuple[Invoice, Decimal]],
) -> dict[str, Any]:
    """The context of `payment.receipt` and `payment.refund`: the money, the invoices it went
    to or came back from, and those invoices in full for the PDF."""
    currency = payment.currency
    data: dict[str, Any] = {
        "company": company_context(settings),
        "customer": customer_context(customer),
        "payment": {
            "amount": money_text(amount, currency),
            "currency": currency,
            "date": on.isoformat(),
            "method": payment.method,
            "reference": payment.reference or f"PAY-{payment.id}",
            "invoices": [
                {"number": invoice.number or "", "amount": money_text(share, currency)}
                for invoice, share in entries
            ],
        },
        "invoices": [invoice_context(invoice) for invoice, _ in entries],
        "links": links_context(settings, f"payments/{payment.id}"),
    }
    if len(entries) == 1:
        data["invoice"] = invoice_context(entries[0][0])
    return data


async def _receive(
    session: AsyncSession,
    settings: BillingSettings,
    customer: Customer,
    incoming: _Incoming,
    invoices: Sequence[Invoice],
    requested: dict[int, Decimal] | None,
    now: datetime,
) -> Payment:
    currency = incoming.currency
    allocation = allocate_payment(
        incoming.amount,
        currency,
        [
            OpenInvoice(
                invoice.id,
                round_money(invoice.balance, currency),
                invoice.issue_date,
                invoice.due_date,
            )
            for invoice in invoices
        ],
        requested,
        allow_partial=settings.allow_partial_payments,
        allow_credit=settings.prepayments_enabled,
    )
    payment = Payment(
        tenant=customer.tenant,
        customer_id=customer.id,
        amount=allocation.total,
        currency=currency,
        method=incoming.method.value,
        status=PaymentStatus.SUCCEEDED.value,
        received_on=incoming.received_on,
        reference=incoming.reference,
        prepayment=incoming.prepayment,
        unapplied=allocation.to_credit,
        refunded=round_money(ZERO, currency),
        created_at=now,
    )
    session.add(payment)
    await session.flush()
    by_id = {invoice.id: invoice for invoice in invoices}
    paid: list[tuple[Invoice, Decimal]] = []
    for invoice_id, share in allocation.applied:
        invoice = by_id[invoice_id]
        session.add(payment_application(payment, invoice, share, incoming.received_on, now))
        invoice.amount_paid += share
        await settle(session, settings, invoice, now)
        paid.append((invoice, share))
    if allocation.to_credit > ZERO:
        kind = "prepayment" if incoming.prepayment or not paid else "overpayment"
        entry = payment_credit_entry(payment, allocation.to_credit, kind, incoming.received_on, now)
        session.add(entry)
    facts = PaymentFacts(
        payment_id=payment.id,
        customer_id=customer.id,
        amount=allocation.total,
        currency=currency,
        method=payment.method,
        received_on=payment.received_on,
        reference=payment.reference,
        applied=[
            AppliedAmount(invoice_id=invoice.id, number=invoice.number or "", amount=share)
            for invoice, share in paid
        ],
        to_credit=allocation.to_credit,
    )
    event = BillingEvent.new(BillingEventType.PAYMENT_RECEIVED, customer.tenant, now, facts)
    record_event(session, event)
    if settings.receipts_enabled:
        key = request_id(customer.tenant, PAYMENT, payment.id, RECEIPT)
        data = payment_mail_data(
            settings, customer, payment, payment.amount, payment.received_on, paid
        )
        await email_about_payment(session, customer, key, RECEIPT, data, paid, now)
    return payment


async def email_about_payment(
    session: AsyncSession,
    customer: Customer,
    key: str,
    template: str,
    data: dict[str, Any],
    entries: Sequence[tuple[Invoice, Decimal]],
    now: datetime,
) -> None:
    await notify(
        session,
        channel=Channel.EMAIL,
        tenant=customer.tenant,
        request_id=key,
        template=template,
        customer=customer,
        data=data,
        now=now,
        invoice_id=entries[0][0].id if len(entries) == 1 else None,
    )


async def _check_payable(
    session: AsyncSession, tenant: str, customer_id: int, currency: str, ids: Sequence[int]
) -> list[Invoice]:
    invoices = [await lock_invoice(session, tenant, invoice_id) for invoice_id in ids]
    for invoice in invoices:
        require_open(invoice, customer_id, currency)
    return invoices


def payment_application(
    payment: Payment, invoice: Invoice, amount: Decimal, on: date, now: datetime
) -> Application:
    return Application(
        tenant=payment.tenant,
        invoice_id=invoice.id,
        source=FROM_PAYMENT,
        payment_id=payment.id,
        amount=amount,
        applied_on=on,
        created_at=now,
    )


def payment_credit_entry(
    payment: Payment,
    amount: Decimal,
    kind: str,
    on: date,
    now: datetime,
    refund_id: int | None = None,
) -> CreditEntry:
    return CreditEntry(
        tenant=payment.tenant,
        customer_id=payment.customer_id,
        currency=payment.currency,
        amount=amount,
        kind=kind,
        payment_id=payment.id,
        refund_id=refund_id,
        on=on,
        created_at=now,
    )
