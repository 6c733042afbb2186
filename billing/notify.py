"""Asking for an email or SMS: a Notification row and its outbox event, in one transaction."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents import send_event, sms_event
from billing.models import Customer, Notification
from billing.outbox import record
from mailer.events import SEND_SUBJECT
from mailer.sms.events import SMS_SEND_SUBJECT


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class NotifyBy(enum.StrEnum):
    """How a billing run tells customers (seed 003)."""

    EMAIL = "email"
    SMS = "sms"
    BOTH = "both"

    @property
    def channels(self) -> tuple[Channel, ...]:
        if self is NotifyBy.BOTH:
            return (Channel.EMAIL, Channel.SMS)
        return (Channel(self.value),)


async def notify(
    session: AsyncSession,
    *,
    channel: Channel,
    tenant: str,
    request_id: str,
    template: str,
    customer: Customer,
    data: dict[str, Any],
    now: datetime,
    invoice_id: int | None = None,
    run_id: int | None = None,
    thread: str | None = None,
) -> Notification:
    """Queue one email or SMS to `customer`, once per `request_id`.

    Asking again with the same id returns the first notification and queues nothing. A
    customer without an address for the channel gets a `failed` notification saying so,
    which the run reports list."""
    existing = await find_notification(session, tenant, request_id)
    if existing is not None:
        return existing
    notification = Notification(
        tenant=tenant,
        request_id=request_id,
        channel=channel.value,
        template=template,
        customer_id=customer.id,
        invoice_id=invoice_id,
        run_id=run_id,
        recipient="",
        status="queued",
        created_at=now,
        updated_at=now,
    )
    try:
        if channel is Channel.EMAIL:
            payload = send_event(
                request_id=request_id,
                tenant=tenant,
                template=template,
                customer=customer,
                data=data,
                thread=thread,
            )
            notification.recipient = customer.email or ""
            subject = SEND_SUBJECT
        else:
            payload = sms_event(
                request_id=request_id,
                tenant=tenant,
                template=template,
                customer=customer,
                data=data,
            )
            notification.recipient = customer.mobile_phone or ""
            subject = SMS_SEND_SUBJECT
    except ValueError as missing:
        notification.status, notification.detail = "failed", str(missing)
        session.add(notification)
        return notification
    session.add(notification)
    record(session, subject=subject, tenant=tenant, event_id=request_id, payload=payload, now=now)
    return notification


async def find_notification(
    session: AsyncSession, tenant: str, request_id: str
) -> Notification | None:
    query = select(Notification).where(
        Notification.tenant == tenant, Notification.request_id == request_id
    )
    return (await session.execute(query)).scalar_one_or_none()
