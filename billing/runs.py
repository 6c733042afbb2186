"""Automatic billing runs (seed 003): each customer's due charges become one draft, one sent
invoice or one payment link, once per firm and run date."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing import invoicing
from billing.api_support import Clock, Sessions
from billing.calendar import RunCalendar, RunCycle, local_day
from billing.charges import PAYMENT_LINK, claim_charges, create_payment_link, payment_request_data
from billing.customers import get_customer
from billing.documents import request_id as make_request_id
from billing.errors import BillingError, Conflict, InvalidRequest
from billing.firm import firm_settings, firm_zone
from billing.ledger import InvoiceState
from billing.models import (
    BillingRun,
    BillingSettings,
    Charge,
    Customer,
    Invoice,
    Notification,
    RunItem,
)
from billing.notify import Channel, NotifyBy, notify
from billing.reports import find_run, finish_run, start_run
from billing.run_schemas import RunKind, RunMode, RunReport, RunSettingsInput, RunSettingsView
from billing.schemas import InvoiceInput, LineIn
from mailer.events import TemplateName

logger = logging.getLogger(__name__)

MAX_LINES = 500  # an invoice's line limit: more charges make several invoices


# Settings


async def configure_runs(
    session: AsyncSession, tenant: str, body: RunSettingsInput, now: datetime
) -> BillingSettings:
    """Set the firm's automatic runs; switching them on counts from today (no back-billing)."""
    settings = await firm_settings(session, tenant, now)
    if body.enabled and not settings.run_enabled:
        settings.run_enabled_on = local_day(now, firm_zone(settings))
    if not body.enabled:
        settings.run_enabled_on = None
    settings.run_enabled = body.enabled
    settings.run_cycle, settings.run_mode = body.cycle.value, body.mode.value
    settings.run_weekday, settings.run_month_day = body.weekday, body.month_day
    settings.run_notify = body.notify.value
    settings.updated_at = now
    return settings


async def run_settings(session: AsyncSession, tenant: str, now: datetime) -> RunSettingsView:
    """The firm's run settings and the date of its next automatic run."""
    settings = await firm_settings(session, tenant, now)
    if not settings.run_enabled:
        return RunSettingsView.of(settings, None)
    today = local_day(now, firm_zone(settings))
    due = due_run_date(settings, today)
    if due is not None and await find_run(session, tenant, RunKind.AUTOMATIC, due) is None:
        return RunSettingsView.of(settings, due)
    return RunSettingsView.of(settings, _calendar(settings).next_after(today))


def _calendar(settings: BillingSettings) -> RunCalendar:
    return RunCalendar(RunCycle(settings.run_cycle), settings.run_weekday, settings.run_month_day)


def due_run_date(settings: BillingSettings, today: date) -> date | None:
    """The run date the firm's calendar has reached by `today`, if runs were on by then."""
    if not settings.run_enabled or settings.run_enabled_on is None:
        return None
    latest = _calendar(settings).latest_on_or_before(today)
    return latest if latest >= settings.run_enabled_on else None


# Running


async def run_now(session: AsyncSession, tenant: str, now: datetime) -> RunReport:
    """A run started by staff now, with the firm's mode and notification settings."""
    settings = await firm_settings(session, tenant, now)
    run = await start_run(
        session, tenant, RunKind.MANUAL, None, now,
        mode=settings.run_mode, notify_by=settings.run_notify,
    )  # fmt: skip
    return await bill_due_charges(session, settings, run, local_day(now, firm_zone(settings)), now)


async def bill_due_charges(
    session: AsyncSession, settings: BillingSettings, run: BillingRun, run_on: date, now: datetime
) -> RunReport:
    """Bill every customer's unbilled charges dated up to `run_on`: one document per customer
    and currency; customers with nothing due get nothing."""
    query = (
        select(Charge)
        .where(Charge.tenant == run.tenant, Charge.billed.is_(False), Charge.charge_date <= run_on)
        .order_by(Charge.customer_id, Charge.currency, Charge.charge_date, Charge.id)
    )
    charges = (await session.execute(query)).scalars().all()
    billing = _Billing(session, settings, run, run_on, now)
    for (customer_id, _currency), group in groupby(charges, lambda c: (c.customer_id, c.currency)):
        customer = await get_customer(session, run.tenant, customer_id)
        due = list(group)
        for start in range(0, len(due), MAX_LINES):
            chunk = due[start : start + MAX_LINES]
            if billing.mode is RunMode.SEND_PAYMENT_LINK:
                await _request_payment(billing, customer, chunk)
            else:
                await _invoice_charges(billing, customer, chunk)
    return await finish_run(session, run, now)


@dataclass(frozen=True)
class _Billing:
    """One run at work: where it writes, for whom, and how it tells customers."""

    session: AsyncSession
    settings: BillingSettings
    run: BillingRun
    run_on: date
    now: datetime

    @property
    def mode(self) -> RunMode:
        return RunMode(self.settings.run_mode)

    @property
    def channels(self) -> tuple[Channel, ...]:
        return NotifyBy(self.settings.run_notify).channels


async def _invoice_charges(billing: _Billing, customer: Customer, charges: list[Charge]) -> None:
    session, run, now = billing.session, billing.run, billing.now
    lines = [LineIn(description=charge.description, unit_price=charge.amount) for charge in charges]
    body = InvoiceInput(customer_id=customer.id, currency=charges[0].currency, lines=lines)
    invoice = await invoicing.create_invoice(
        session, run.tenant, body, now, source="run", run_id=run.id
    )
    await claim_charges(session, run, charges, invoice_id=invoice.id)
    outcome = "draft_created"
    if billing.mode is RunMode.SEND_INVOICE:
        await invoicing.issue_invoice(session, run.tenant, invoice.id, now, auto_send=False)
        for channel in billing.channels:
            await invoicing.send_invoice(
                session, run.tenant, invoice.id, now, by="run", run_id=run.id, channel=channel
            )
        outcome = "invoice_sent"
    session.add(_item(run, customer, now, outcome, invoice_id=invoice.id))


async def _request_payment(billing: _Billing, customer: Customer, charges: list[Charge]) -> None:
    session, run, now = billing.session, billing.run, billing.now
    link = await create_payment_link(session, run, customer, charges, now)
    template = TemplateName.PAYMENT_LINK.value
    key = make_request_id(run.tenant, PAYMENT_LINK, link.id, template)
    data = payment_request_data(billing.settings, customer, link, charges, billing.run_on)
    for channel in billing.channels:
        await notify(
            session,
            channel=channel,
            tenant=run.tenant,
            request_id=key + (".sms" if channel is Channel.SMS else ""),
            template=template,
            customer=customer,
            data=data,
            now=now,
            run_id=run.id,
        )
    session.add(_item(run, customer, now, "payment_link_sent", payment_link_id=link.id))


def _item(run: BillingRun, customer: Customer, now: datetime, outcome: str, **made: int) -> RunItem:
    return RunItem(
        tenant=run.tenant,
        run_id=run.id,
        customer_id=customer.id,
        outcome=outcome,
        created_at=now,
        **made,
    )


class BillingRunner:
    """Starts each firm's automatic run when its calendar reaches a run date, exactly once.

    The run row is inserted first, in the run's own transaction: of two runners racing for
    the same firm and date, the unique key lets one commit and the other roll back."""

    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def run_due(self) -> int:
        """Run what is due now; the number of runs performed."""
        now = self._clock()
        performed = 0
        for tenant, day in await self._due(now):
            performed += await self._run(tenant, day, now)
        return performed

    async def _due(self, now: datetime) -> list[tuple[str, date]]:
        async with self._sessions() as session:
            query = select(BillingSettings).where(BillingSettings.run_enabled.is_(True))
            firms = (await session.execute(query.order_by(BillingSettings.tenant))).scalars()
            due = []
            for settings in firms:
                day = _due_today(settings, now)
                if day is not None and not await find_run(
                    session, settings.tenant, RunKind.AUTOMATIC, day
                ):
                    due.append((settings.tenant, day))
            return due

    async def _run(self, tenant: str, day: date, now: datetime) -> int:
        try:
            async with self._sessions() as session, session.begin():
                settings = await firm_settings(session, tenant, now)
                if _due_today(settings, now) != day:  # settings changed meanwhile
                    return 0
                run = await start_run(
                    session, tenant, RunKind.AUTOMATIC, day, now,
                    mode=settings.run_mode, notify_by=settings.run_notify,
                )  # fmt: skip
                await bill_due_charges(session, settings, run, day, now)
        except IntegrityError:
            logger.info("tenant %s: the billing run of %s was made by another runner", tenant, day)
            return 0
        except BillingError as refused:
            logger.warning("tenant %s: billing run of %s not made: %s", tenant, day, refused)
            return 0
        return 1


def _due_today(settings: BillingSettings, now: datetime) -> date | None:
    try:
        return due_run_date(settings, local_day(now, firm_zone(settings)))
    except InvalidRequest as broken:  # e.g. an unknown time zone: the firm must fix it
        logger.warning("tenant %s: billing runs skipped: %s", settings.tenant, broken)
        return None


# Drafts


async def list_drafts(
    session: AsyncSession, tenant: str, *, limit: int = 100, offset: int = 0
) -> Sequence[Invoice]:
    """The drafts billing runs made that staff have not confirmed yet."""
    query = (
        select(Invoice)
        .where(
            Invoice.tenant == tenant,
            Invoice.state == InvoiceState.DRAFT.value,
            Invoice.run_id.is_not(None),
        )
        .order_by(Invoice.id)
        .limit(limit)
        .offset(offset)
    )
    return (await session.execute(query)).scalars().all()


async def confirm_draft(
    session: AsyncSession, tenant: str, invoice_id: int, now: datetime
) -> tuple[Invoice, list[Notification]]:
    """Issue a run's draft and notify the customer as the firm's run settings say."""
    invoice = await invoicing.get_invoice(session, tenant, invoice_id)
    if invoice.run_id is None:
        raise Conflict(f"invoice {invoice.number or invoice.id} was not made by a billing run")
    settings = await firm_settings(session, tenant, now)
    await invoicing.issue_invoice(session, tenant, invoice.id, now, auto_send=False)
    notes = [
        await invoicing.send_invoice(
            session, tenant, invoice.id, now, by="run", run_id=invoice.run_id, channel=channel
        )
        for channel in NotifyBy(settings.run_notify).channels
    ]
    await session.flush()
    return invoice, notes
