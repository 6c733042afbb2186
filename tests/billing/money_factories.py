"""Factories of the payment and credit tests: a firm's settings, customers, issued invoices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import invoicing
from billing.customers import create_customer
from billing.firm import firm_settings
from billing.models import Invoice, Payment
from billing.schemas import CustomerInput, InvoiceInput
from tests.billing.conftest import TENANT

Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")


async def act(sessions: Sessions, operation: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `operation` in one transaction, committed unless it raises."""
    async with sessions() as session, session.begin():
        return await operation(session)


async def set_firm(sessions: Sessions, now: datetime, tenant: str = TENANT, **fields: Any) -> None:
    """The firm's billing settings, with a company identity and the given changes."""

    async def change(session: AsyncSession) -> None:
        settings = await firm_settings(session, tenant, now)
        settings.company_name = "Acme Bookkeeping"
        settings.company_email = "billing@acme.example"
        for name, value in fields.items():
            setattr(settings, name, value)

    await act(sessions, change)


async def new_customer(
    sessions: Sessions,
    now: datetime,
    *,
    tenant: str = TENANT,
    name: str = "Customer 7",
    email: str | None = "customer7@example.org",
    currency: str = "EUR",
) -> int:
    body = CustomerInput(name=name, email=email, currency=currency)
    customer = await act(sessions, lambda s: create_customer(s, tenant, body, now))
    return customer.id


async def new_invoice(
    sessions: Sessions,
    now: datetime,
    customer_id: int,
    subtotal: str,
    *,
    tenant: str = TENANT,
    issue: bool = True,
    issue_date: date | None = None,
    due_date: date | None = None,
) -> int:
    """An invoice for a plain subtotal (no tax), issued unless told otherwise."""
    body = InvoiceInput(
        customer_id=customer_id,
        subtotal=Decimal(subtotal),
        issue_date=issue_date,
        due_date=due_date,
    )

    async def make(session: AsyncSession) -> int:
        invoice = await invoicing.create_invoice(session, tenant, body, now)
        if issue:
            await invoicing.issue_invoice(session, tenant, invoice.id, now)
        return invoice.id

    return await act(sessions, make)


async def invoice_row(sessions: Sessions, invoice_id: int) -> Invoice:
    async with sessions() as session:
        found = await session.execute(select(Invoice).where(Invoice.id == invoice_id))
        return found.scalar_one()


async def payment_row(sessions: Sessions, payment_id: int) -> Payment:
    async with sessions() as session:
        found = await session.execute(select(Payment).where(Payment.id == payment_id))
        return found.scalar_one()
