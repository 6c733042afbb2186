"""Customers of a firm: created, changed, found, and their credit balance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.firm import firm_settings
from billing.models import CreditEntry, Customer
from billing.money import minor_units, money_sum
from billing.records import get_owned, list_owned
from billing.schemas import CustomerInput, CustomerUpdate


async def create_customer(
    session: AsyncSession, tenant: str, body: CustomerInput, now: datetime
) -> Customer:
    """A new customer; its currency defaults to the firm's."""
    settings = await firm_settings(session, tenant, now)
    currency = body.currency or settings.default_currency
    minor_units(currency)  # refuses unknown currencies
    customer = Customer(
        tenant=tenant,
        name=body.name,
        email=body.email,
        cc_emails=list(body.cc_emails),
        mobile_phone=body.mobile_phone,
        locale=body.locale,
        currency=currency,
        address=body.address,
        email_undeliverable=False,
        created_at=now,
        updated_at=now,
    )
    session.add(customer)
    await session.flush()
    return customer


async def update_customer(
    session: AsyncSession, tenant: str, customer_id: int, body: CustomerUpdate, now: datetime
) -> Customer:
    """Apply the given fields; a changed email is assumed deliverable again."""
    customer = await get_customer(session, tenant, customer_id)
    changes = body.model_dump(exclude_unset=True)
    if "email" in changes and changes["email"] != customer.email:
        customer.email_undeliverable = False
        customer.email_undeliverable_reason = None
        customer.email_undeliverable_at = None
    for name, value in changes.items():
        setattr(customer, name, list(value) if name == "cc_emails" else value)
    customer.updated_at = now
    return customer


async def get_customer(session: AsyncSession, tenant: str, customer_id: int) -> Customer:
    """The tenant's customer, or NotFound (another tenant's customer is not found either)."""
    return await get_owned(session, Customer, tenant, customer_id, "customer")


async def list_customers(
    session: AsyncSession, tenant: str, *, limit: int = 100, offset: int = 0
) -> Sequence[Customer]:
    return await list_owned(
        session, Customer, tenant, order_by=(Customer.id,), limit=limit, offset=offset
    )


async def credit_balance(
    session: AsyncSession, tenant: str, customer_id: int, currency: str
) -> Decimal:
    """The customer's credit in `currency`: the sum of its credit movements."""
    query = select(CreditEntry.amount).where(
        CreditEntry.tenant == tenant,
        CreditEntry.customer_id == customer_id,
        CreditEntry.currency == currency,
    )
    amounts = list((await session.execute(query)).scalars())
    return money_sum(amounts).quantize(Decimal(1).scaleb(-minor_units(currency)))
