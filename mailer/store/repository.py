"""Queries of the message log; every one that reads tenant data is scoped by tenant."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from mailer.events import DeliveryStatus, StatusEvent
from mailer.store.models import Recipient, SendRequest, StatusRecord, TemplateSetting


async def find_request(session: AsyncSession, tenant: str, request_id: str) -> SendRequest | None:
    """The request of `tenant` with idempotency key `request_id`, with its recipients."""
    query = (
        select(SendRequest)
        .where(SendRequest.tenant == tenant, SendRequest.request_id == request_id)
        .options(selectinload(SendRequest.recipients))
    )
    return (await session.execute(query)).scalar_one_or_none()


async def load_request(session: AsyncSession, pk: int) -> SendRequest:
    """A request by primary key, with its recipients (internal: the caller holds its lease)."""
    query = (
        select(SendRequest)
        .where(SendRequest.id == pk)
        .options(selectinload(SendRequest.recipients))
    )
    return (await session.execute(query)).scalar_one()


def add_status_records(session: AsyncSession, statuses: Iterable[StatusEvent]) -> None:
    """Append status changes to the log (in the caller's transaction)."""
    session.add_all(
        StatusRecord(
            tenant=status.tenant,
            request_id=status.request_id,
            message_id=status.message_id,
            recipient=status.recipient,
            status=status.status.value,
            smtp_code=status.smtp_code,
            enhanced_status=status.enhanced_status,
            detail=status.detail,
            reason=status.reason,
            hard=status.hard,
            at=status.at,
        )
        for status in statuses
    )


async def status_history(
    session: AsyncSession, tenant: str, request_id: str
) -> Sequence[StatusRecord]:
    """Every status change of one request of one tenant, oldest first."""
    query = (
        select(StatusRecord)
        .where(StatusRecord.tenant == tenant, StatusRecord.request_id == request_id)
        .order_by(StatusRecord.id)
    )
    return (await session.execute(query)).scalars().all()


async def template_setting(
    session: AsyncSession, tenant: str, template: str
) -> TemplateSetting | None:
    """The tenant's override of one template, if it has one."""
    query = select(TemplateSetting).where(
        TemplateSetting.tenant == tenant, TemplateSetting.template == template
    )
    return (await session.execute(query)).scalar_one_or_none()


async def template_settings(session: AsyncSession, tenant: str) -> Sequence[TemplateSetting]:
    """All of a tenant's template overrides."""
    query = select(TemplateSetting).where(TemplateSetting.tenant == tenant)
    return (await session.execute(query)).scalars().all()


def pending_recipients(request: SendRequest) -> list[Recipient]:
    """Recipients that still wait for an attempt."""
    waiting = {DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value}
    return [recipient for recipient in request.recipients if recipient.status in waiting]
