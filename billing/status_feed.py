"""Delivery outcomes for the billing core: notification states and undeliverable customers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import Customer, Invoice, Notification
from billing.notify import Channel
from mailer.coalesce import Coalescer
from mailer.events import DeliveryStatus, StatusEvent
from mailer.store import inbox_repository as inbox
from mailer.store.inbox_models import EntryDirection, ThreadEntry

__all__ = [
    "UNDELIVERABLE_NOTE",
    "StatusFeed",
    "status_rank",
    "undeliverable_reason",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_RANKS = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.DEFERRED: 1,
    DeliveryStatus.SENT: 2,
}
_FINAL_RANK = 3
_REASON_LENGTH = 32  # Notification.reason is VARCHAR(32)
_DETAIL_LENGTH = 2000

UNDELIVERABLE_SUBJECT = "Email address undeliverable"
UNDELIVERABLE_NOTE = (
    "The email address {address} of {customer} is undeliverable ({reason}). Reminders and other "
    "emails to this customer are paused. Please ask the customer for a new email address and "
    "update their record."
)


def status_rank(status: str) -> int:
    """Where a status stands: queued < deferred < sent < every failure or bounce.

    A status the feed does not know ranks lowest, so any real outcome replaces it.
    """
    try:
        known = DeliveryStatus(status)
    except ValueError:
        return -1
    return _RANKS.get(known, _FINAL_RANK)


def _not_below(rank: int) -> list[str]:
    return [status.value for status in DeliveryStatus if status_rank(status.value) >= rank]


def undeliverable_reason(event: StatusEvent) -> str | None:
    """Why an outcome makes the address undeliverable, or None when it does not."""
    if event.status is DeliveryStatus.BOUNCED and event.hard:
        label = f"hard bounce ({event.reason})" if event.reason else "hard bounce"
    elif event.status is DeliveryStatus.SUPPRESSED:
        label = "suppressed"
    else:
        return None
    return f"{label}: {event.detail}" if event.detail else label


class StatusFeed:
    """Applies `mail.status` / `sms.status` events to the notifications the billing core asked for.

    Statuses only move forward (a late `sent` never hides a bounce, a bounce hours later still
    counts); a hard bounce or suppression of a customer's current address flags the customer
    and leaves one note in the A/R inbox. Every step is idempotent: events arrive at least once.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        # Most statuses concern mail someone else asked for: a batch finds that in one query.
        self._batches = Coalescer(self._apply_batch)

    async def handle(self, channel: str, body: bytes) -> None:
        """Apply one raw status event; garbage is logged (without the body) and dropped."""
        try:
            event = StatusEvent.model_validate_json(body)
        except (ValidationError, ValueError) as exc:
            logger.warning("ignoring an invalid %s status event: %s", channel, type(exc).__name__)
            return
        if event.tenant is None or event.request_id is None:
            return
        await self._batches((channel, event))

    async def apply(self, channel: str, event: StatusEvent) -> None:
        """Apply one status event, all in one transaction."""
        await self._apply_batch([(channel, event)])

    async def _apply_batch(self, items: Sequence[tuple[str, StatusEvent]]) -> list[None]:
        """Apply status events in order, in one transaction."""
        now = self._clock()
        changed: list[tuple[StatusEvent, bool]] = []
        async with self._sessions() as session, session.begin():
            found = await _notifications(session, items)
            for channel, event in items:
                notification = found.get((event.tenant or "", event.request_id or "", channel))
                if notification is None:  # mail asked for by someone else
                    continue
                advanced = await _advance(session, notification, event, now)
                reason = undeliverable_reason(event) if channel == Channel.EMAIL else None
                flagged = reason is not None and await _flag_customer(
                    session, notification, event, reason, now
                )
                if advanced or flagged:
                    changed.append((event, flagged))
        for event, flagged in changed:
            logger.info(
                "tenant %s: notification %s is %s%s",
                event.tenant,
                event.request_id,
                event.status.value,
                " (customer flagged undeliverable)" if flagged else "",
            )
        return [None] * len(items)


async def _notifications(
    session: AsyncSession, items: Sequence[tuple[str, StatusEvent]]
) -> dict[tuple[str, str, str], Notification]:
    """The notifications the events are about, by (tenant, request_id, channel)."""
    wanted = {(event.tenant or "", event.request_id or "", channel) for channel, event in items}
    query = select(Notification).where(
        Notification.tenant.in_({tenant for tenant, _, _ in wanted}),
        Notification.request_id.in_({request_id for _, request_id, _ in wanted}),
    )
    rows = (await session.execute(query)).scalars()
    found = {(n.tenant, n.request_id, n.channel): n for n in rows}
    return {key: found[key] for key in wanted if key in found}


async def _advance(
    session: AsyncSession, notification: Notification, event: StatusEvent, now: datetime
) -> bool:
    """Move the notification to the event's status unless it already stands there or beyond.

    The condition sits in the UPDATE itself, so concurrent workers cannot move it backwards.
    """
    rank = status_rank(event.status.value)
    result = await session.execute(
        update(Notification)
        .where(Notification.id == notification.id, Notification.status.not_in(_not_below(rank)))
        .values(
            status=event.status.value,
            reason=event.reason[:_REASON_LENGTH] if event.reason else None,
            detail=event.detail[:_DETAIL_LENGTH] if event.detail else None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def _flag_customer(
    session: AsyncSession,
    notification: Notification,
    event: StatusEvent,
    reason: str,
    now: datetime,
) -> bool:
    """Flag the customer once, and leave one note; False if already flagged or not theirs.

    Only the customer's current address is flagged: a bounce hours after staff changed the
    address, or one for a cc address, says nothing about the address in use now.
    """
    customer = (
        await session.execute(
            select(Customer).where(
                Customer.id == notification.customer_id, Customer.tenant == notification.tenant
            )
        )
    ).scalar_one_or_none()
    if customer is None or customer.email_undeliverable or not customer.email:
        return False
    address = event.recipient or notification.recipient
    if address.strip().lower() != customer.email.strip().lower():
        return False
    result = await session.execute(
        update(Customer)
        .where(Customer.id == customer.id, Customer.email_undeliverable.is_(False))
        .values(
            email_undeliverable=True,
            email_undeliverable_reason=reason[:_DETAIL_LENGTH],
            email_undeliverable_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):  # another worker flagged it first
        return False
    key = await _thread_key(session, notification, customer)
    thread = await inbox.ensure_thread(session, notification.tenant, key, "", now)
    note = ThreadEntry(
        at=now,
        direction=EntryDirection.NOTE.value,
        author="billing",
        subject=UNDELIVERABLE_SUBJECT,
        body_text=UNDELIVERABLE_NOTE.format(
            address=customer.email, customer=customer.name, reason=reason[:_DETAIL_LENGTH]
        ),
        details={"request_id": notification.request_id, "customer_id": customer.id},
    )
    inbox.add_entry(session, thread, note)
    return True


async def _thread_key(session: AsyncSession, notification: Notification, customer: Customer) -> str:
    """The invoice's A/R thread, else the customer's (as `mailer.threads.thread_key` names it)."""
    if notification.invoice_id is not None:
        number = (
            await session.execute(
                select(Invoice.number).where(
                    Invoice.id == notification.invoice_id, Invoice.tenant == notification.tenant
                )
            )
        ).scalar_one_or_none()
        if number is not None:
            return number
    return f"customer:{(customer.email or customer.name).lower()}"
