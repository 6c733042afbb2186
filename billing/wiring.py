"""Builds the billing side of a running service: outbox relay, schedulers and the status feed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import invoicing
from billing.autosend import AutoSender, DocumentSender
from billing.broker import BillingBrokerPublisher, declare_billing_events, register_status_consumers
from billing.credit_notes import send_credit_note
from billing.estimates import send_estimate
from billing.outbox import OutboxRelay
from billing.payment_plans import send_payment_plan
from billing.recurring import RecurringScheduler
from billing.reminders import ReminderScheduler
from billing.runs import BillingRunner
from billing.statement_schedule import StatementScheduler
from billing.status_feed import StatusFeed
from mailer.broker import AnyBroker

Clock = Callable[[], datetime]
Job = Callable[[], Awaitable[int]]


def _automatically(send: Callable[..., Awaitable[object]]) -> DocumentSender:
    """`send` as the AutoSender calls it: by "auto", so each document's key is sent once."""

    async def send_automatically(
        session: AsyncSession, tenant: str, document_id: int, now: datetime
    ) -> object:
        return await send(session, tenant, document_id, now, by="auto")

    return send_automatically


AUTO_SENDERS: dict[str, DocumentSender] = {
    invoicing.INVOICE: _automatically(invoicing.send_invoice),
    "credit_note": _automatically(send_credit_note),
    "estimate": _automatically(send_estimate),
    "payment_plan": _automatically(send_payment_plan),
}


@dataclass(frozen=True)
class BillingSide:
    """What the service runs for the billing core: the relay, and the periodic jobs by name."""

    relay: OutboxRelay
    jobs: tuple[tuple[str, Job], ...]


def build_billing_side(
    broker: AnyBroker, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> BillingSide:
    """Wire the billing core to `broker` (call before the broker starts: it subscribes)."""
    declare_billing_events(broker)
    register_status_consumers(broker, StatusFeed(sessions, clock).handle)
    relay = OutboxRelay(sessions, BillingBrokerPublisher(broker).publish, clock)
    jobs: tuple[tuple[str, Job], ...] = (
        ("automatic sends", AutoSender(sessions, AUTO_SENDERS, clock).run_due),
        ("recurring invoices", RecurringScheduler(sessions, clock).run_due),
        ("billing runs", BillingRunner(sessions, clock).run_due),
        ("reminders", ReminderScheduler(sessions, clock).run_due),
        ("monthly statements", StatementScheduler(sessions, clock).run_due),
    )
    return BillingSide(relay, jobs)
