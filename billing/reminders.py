"""Invoice reminders before and after the due date: each step once, paused for bounced addresses."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.calendar import ReminderKind, ReminderStep, local_day, reminder_due, reminder_steps
from billing.document_schemas import ReminderSettingsInput
from billing.documents import invoice_template_data, request_id
from billing.errors import BillingError
from billing.firm import firm_settings, firm_zone, switch_template
from billing.invoicing import INVOICE, OPEN_STATES
from billing.models import BillingSettings, Customer, Invoice, Notification, ReminderSent
from billing.notify import Channel, notify
from mailer.events import TemplateName

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

TEMPLATE_OF_KIND = {
    ReminderKind.BEFORE_DUE: TemplateName.INVOICE_REMINDER,
    ReminderKind.AFTER_DUE: TemplateName.INVOICE_LATE_REMINDER,
}


async def configure_reminders(
    session: AsyncSession, tenant: str, body: ReminderSettingsInput, now: datetime
) -> BillingSettings:
    """Set the firm's reminder cadence and payment emails; a bad cadence is refused whole."""
    reminder_steps(body.days_before, body.days_after)
    settings = await firm_settings(session, tenant, now)
    settings.reminder_days_before = list(body.days_before)
    settings.reminder_days_after = list(body.days_after)
    settings.thank_you_enabled = body.thank_you_enabled
    await switch_template(
        session, tenant, TemplateName.INVOICE_THANK_YOU.value, body.thank_you_enabled
    )
    settings.receipts_enabled = body.receipts_enabled
    settings.monthly_statements = body.monthly_statements
    settings.updated_at = now
    return settings


def firm_reminder_steps(settings: BillingSettings) -> tuple[ReminderStep, ...]:
    return reminder_steps(settings.reminder_days_before, settings.reminder_days_after)


async def remind_invoice(
    session: AsyncSession, tenant: str, invoice_id: int, now: datetime
) -> Notification | None:
    """Send the one reminder the invoice is due today, if any, recording its step.

    Two schedulers reminding the same invoice collide on the step's unique key: the loser's
    flush raises IntegrityError and its transaction (email included) must be rolled back."""
    settings = await firm_settings(session, tenant, now)
    steps = firm_reminder_steps(settings)
    found = await session.execute(
        select(Invoice).where(Invoice.tenant == tenant, Invoice.id == invoice_id)
    )
    invoice = found.scalar_one_or_none()
    if invoice is None or invoice.state not in OPEN_STATES or invoice.customer.email_undeliverable:
        return None
    if invoice.sent_at is None or invoice.due_date is None:
        return None
    zone = firm_zone(settings)
    step = reminder_due(
        invoice.due_date,
        sent_on=local_day(invoice.sent_at, zone),
        today=local_day(now, zone),
        steps=steps,
        already_sent=await _steps_sent(session, invoice.id),
    )
    if step is None:
        return None
    session.add(
        ReminderSent(
            tenant=tenant, invoice_id=invoice.id, kind=step.kind.value, days=step.days, sent_at=now
        )
    )
    await session.flush()
    template = TEMPLATE_OF_KIND[step.kind].value
    return await notify(
        session,
        channel=Channel.EMAIL,
        tenant=tenant,
        request_id=request_id(tenant, INVOICE, invoice.id, template, step.days),
        template=template,
        customer=invoice.customer,
        data=invoice_template_data(settings, invoice.customer, invoice),
        now=now,
        invoice_id=invoice.id,
    )


async def _steps_sent(session: AsyncSession, invoice_id: int) -> set[ReminderStep]:
    rows = await session.execute(
        select(ReminderSent.kind, ReminderSent.days).where(ReminderSent.invoice_id == invoice_id)
    )
    return {ReminderStep(ReminderKind(kind), days) for kind, days in rows.all()}


def _days_from_due(step: ReminderStep) -> int:
    return -step.days if step.kind is ReminderKind.BEFORE_DUE else step.days


async def _candidates(
    session: AsyncSession, tenant: str, today: date, steps: Sequence[ReminderStep]
) -> list[int]:
    """Open, emailed invoices that could have a reminder due: their earliest step has come."""
    earliest = min(_days_from_due(step) for step in steps)
    try:
        latest_due_date = today - timedelta(days=earliest)
    except OverflowError:
        return []
    query = (
        select(Invoice.id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.tenant == tenant,
            Customer.tenant == tenant,
            Invoice.state.in_(OPEN_STATES),
            Invoice.sent_at.is_not(None),
            Invoice.due_date.is_not(None),
            Invoice.due_date <= latest_due_date,
            Customer.email_undeliverable.is_(False),
        )
        .order_by(Invoice.id)
    )
    return list((await session.execute(query)).scalars())


class ReminderScheduler:
    """Sends the reminders due now for every firm, one invoice per transaction.

    Exactly once even with several schedulers: a step is a unique (invoice, kind, days) row
    written with its email, so a second writer fails and sends nothing."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def run_due(self) -> int:
        """Send what is due now; the number of reminders queued."""
        now = self._clock()
        work: list[tuple[str, int]] = []
        async with self._sessions() as session:
            firms = (await session.execute(select(BillingSettings))).scalars().all()
            for settings in firms:
                try:
                    steps = firm_reminder_steps(settings)
                    today = local_day(now, firm_zone(settings))
                except BillingError as broken:
                    logger.warning("reminders of %s skipped: %s", settings.tenant, broken.message)
                    continue
                if steps:
                    ids = await _candidates(session, settings.tenant, today, steps)
                    work += [(settings.tenant, invoice_id) for invoice_id in ids]
        sent = 0
        for tenant, invoice_id in work:
            sent += await self._remind(tenant, invoice_id, now)
        return sent

    async def _remind(self, tenant: str, invoice_id: int, now: datetime) -> int:
        try:
            async with self._sessions() as session, session.begin():
                notification = await remind_invoice(session, tenant, invoice_id, now)
        except IntegrityError:
            logger.info("reminder for invoice %s already sent by another scheduler", invoice_id)
            return 0
        except BillingError as refused:
            logger.warning("no reminder for invoice %s: %s", invoice_id, refused.message)
            return 0
        return 0 if notification is None else 1
