"""A firm's billing settings row: read with defaults, and its gap-free document numbering."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.errors import InvalidRequest
from billing.models import BillingSettings
from mailer.store import repository
from mailer.store.models import TemplateSetting

NumberKind = Literal["invoice", "estimate", "credit_note"]


async def firm_settings(session: AsyncSession, tenant: str, now: datetime) -> BillingSettings:
    """The tenant's billing settings, created with the defaults on first use."""
    found = await _find(session, tenant)
    if found is not None:
        return found
    row = BillingSettings(tenant=tenant, company_name=tenant, updated_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another transaction created it first
        found = await _find(session, tenant)
        if found is None:
            raise
        return found
    return row


async def _find(session: AsyncSession, tenant: str) -> BillingSettings | None:
    query = select(BillingSettings).where(BillingSettings.tenant == tenant)
    return (await session.execute(query)).scalar_one_or_none()


async def next_number(session: AsyncSession, tenant: str, kind: NumberKind, now: datetime) -> str:
    """The next number of `kind` for `tenant`, e.g. INV-0007.

    One UPDATE ... RETURNING takes it, so two transactions never get the same number, and a
    transaction that rolls back gives its number back: issued numbers have no gaps."""
    await firm_settings(session, tenant, now)
    counter = getattr(BillingSettings, f"next_{kind}_number")
    prefix = getattr(BillingSettings, f"{kind}_prefix")
    taken = await session.execute(
        update(BillingSettings)
        .where(BillingSettings.tenant == tenant)
        .values({counter: counter + 1})
        .returning(counter, prefix)
    )
    following, prefix_value = taken.one()
    return f"{prefix_value}{following - 1:04d}"


def firm_zone(settings: BillingSettings) -> ZoneInfo:
    """The firm's time zone (what "today" and "on its issue date" mean)."""
    try:
        return ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(f"unknown time zone {settings.timezone!r}") from exc


async def switch_template(session: AsyncSession, tenant: str, template: str, on: bool) -> None:
    """Make the mailer's per-tenant switch of `template` follow a billing trigger.

    Emails the catalog leaves off by default (thank-you, payment plan onboarding) are the
    ones a firm turns on through its billing settings: one switch, not two."""
    setting = await repository.template_setting(session, tenant, template)
    if setting is None:
        setting = TemplateSetting(tenant=tenant, template=template)
        session.add(setting)
    setting.enabled = on
