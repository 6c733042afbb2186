"""Payment plans: an open invoice's balance split into dated installments the customer approves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import autosend
from billing.document_schemas import InstallmentIn
from billing.documents import invoice_template_data, links_context, money_text, request_id
from billing.errors import Conflict, InvalidRequest, NotFound
from billing.firm import firm_settings
from billing.invoicing import OPEN_STATES, get_invoice
from billing.ledger import InvoiceState
from billing.models import BillingSettings, Invoice, Notification, PaymentPlan
from billing.money import ZERO, exact_money, money_sum
from billing.notify import Channel, notify
from billing.records import get_owned
from mailer.events import TemplateName

PAYMENT_PLAN: Final = "payment_plan"
TEMPLATE: Final = TemplateName.PAYMENT_PLAN_ONBOARDING.value


def check_installments(
    installments: Sequence[InstallmentIn], currency: str, balance: Decimal, issue_date: date
) -> list[dict[str, str]]:
    """The installments as stored, once they pay exactly `balance` in date order, none dated
    before the invoice; InvalidRequest saying which one is wrong otherwise."""
    if not installments:
        raise InvalidRequest("a payment plan needs at least one installment")
    stored: list[dict[str, str]] = []
    amounts: list[Decimal] = []
    previous: date | None = None
    for number, item in enumerate(installments, start=1):
        what = f"installment {number}"
        amount = exact_money(item.amount, currency, f"{what}: amount")
        if amount <= ZERO:
            raise InvalidRequest(f"{what}: the amount must be more than zero, not {amount}")
        if item.date < issue_date:
            raise InvalidRequest(
                f"{what} is dated {item.date}, before the invoice's issue date {issue_date}"
            )
        if previous is not None and item.date <= previous:
            raise InvalidRequest(
                f"{what} is dated {item.date}, not after installment {number - 1} on {previous}: "
                "give the installments in date order, one per day at most"
            )
        previous = item.date
        amounts.append(amount)
        stored.append({"date": item.date.isoformat(), "amount": str(amount)})
    total = money_sum(amounts)
    if total != balance:
        raise InvalidRequest(
            f"the installments add up to {money_text(total, currency)} {currency}, but the "
            f"invoice's balance is {money_text(balance, currency)} {currency}; they must be equal"
        )
    return stored


async def create_payment_plan(
    session: AsyncSession,
    tenant: str,
    invoice_id: int,
    installments: Sequence[InstallmentIn],
    now: datetime,
) -> PaymentPlan:
    """A plan for an open invoice; with the payment plan trigger on, it is emailed after the
    grace delay."""
    invoice = await get_invoice(session, tenant, invoice_id)
    _require_open(invoice)
    existing = await _plan_of_invoice(session, tenant, invoice.id)
    if existing is not None:
        raise Conflict(f"invoice {invoice.number} already has a payment plan ({existing.id})")
    stored = check_installments(installments, invoice.currency, invoice.balance, invoice.issue_date)
    plan = PaymentPlan(tenant=tenant, invoice_id=invoice.id, installments=stored, created_at=now)
    session.add(plan)
    await session.flush()
    settings = await firm_settings(session, tenant, now)
    if settings.auto_send_payment_plan:
        due = now + timedelta(seconds=settings.auto_send_grace_seconds)
        await autosend.schedule(session, tenant, PAYMENT_PLAN, plan.id, TEMPLATE, due)
    return plan


async def get_payment_plan(session: AsyncSession, tenant: str, plan_id: int) -> PaymentPlan:
    """The tenant's payment plan, or NotFound."""
    return await get_owned(session, PaymentPlan, tenant, plan_id, "payment plan")


async def payment_plan_of_invoice(
    session: AsyncSession, tenant: str, invoice_id: int
) -> tuple[PaymentPlan, Invoice]:
    """The invoice's payment plan, or NotFound (for a missing invoice too)."""
    invoice = await get_invoice(session, tenant, invoice_id)
    plan = await _plan_of_invoice(session, tenant, invoice.id)
    if plan is None:
        raise NotFound(f"invoice {invoice.number or invoice.id} has no payment plan")
    return plan, invoice


async def send_payment_plan(
    session: AsyncSession, tenant: str, plan_id: int, now: datetime, by: str = "staff"
) -> Notification:
    """Email the plan for approval now; a pending automatic send is dropped. Staff may send it
    again (each time a new email); any other sender (`auto`) sends it once."""
    plan = await get_payment_plan(session, tenant, plan_id)
    invoice = await get_invoice(session, tenant, plan.invoice_id)
    _require_open(invoice)
    settings = await firm_settings(session, tenant, now)
    if by == "staff":
        nth = await _sends_so_far(session, tenant, invoice.id) + 1
        key = request_id(tenant, PAYMENT_PLAN, plan.id, TEMPLATE, nth)
    else:
        key = request_id(tenant, PAYMENT_PLAN, plan.id, TEMPLATE, by)
    notification = await notify(
        session,
        channel=Channel.EMAIL,
        tenant=tenant,
        request_id=key,
        template=TEMPLATE,
        customer=invoice.customer,
        data=payment_plan_template_data(settings, invoice, plan),
        now=now,
        invoice_id=invoice.id,
    )
    await autosend.cancel(session, PAYMENT_PLAN, plan.id, now, "sent by " + by)
    if plan.sent_at is None:
        plan.sent_at = now
    return notification


def payment_plan_template_data(
    settings: BillingSettings, invoice: Invoice, plan: PaymentPlan
) -> dict[str, Any]:
    """The invoice's email context, its view link on the plan, and the installments under the
    extra `payment_plan` key."""
    data = invoice_template_data(settings, invoice.customer, invoice)
    number = invoice.number or f"draft-{invoice.id}"
    data["links"] = {
        **data["links"],
        **links_context(settings, f"invoices/{number}/payment-plan"),
    }
    currency = invoice.currency
    data["payment_plan"] = {
        "currency": currency,
        "installments": [
            {"date": item["date"], "amount": money_text(Decimal(item["amount"]), currency)}
            for item in plan.installments
        ],
    }
    return data


def _require_open(invoice: Invoice) -> None:
    if invoice.state in OPEN_STATES:
        return
    if invoice.state == InvoiceState.DRAFT.value:
        raise Conflict("the invoice is a draft: issue it before planning its payment")
    raise Conflict(f"invoice {invoice.number} is {invoice.state}: there is nothing left to plan")


async def _plan_of_invoice(
    session: AsyncSession, tenant: str, invoice_id: int
) -> PaymentPlan | None:
    query = select(PaymentPlan).where(
        PaymentPlan.tenant == tenant, PaymentPlan.invoice_id == invoice_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _sends_so_far(session: AsyncSession, tenant: str, invoice_id: int) -> int:
    query = select(func.count(Notification.id)).where(
        Notification.tenant == tenant,
        Notification.invoice_id == invoice_id,
        Notification.template == TEMPLATE,
    )
    return int((await session.execute(query)).scalar_one())
