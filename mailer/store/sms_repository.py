"""Queries of the SMS table; every one that reads tenant data is scoped by tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.events import DeliveryStatus
from mailer.store.sms_models import SmsRequest

WAITING = (DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value)


async def insert_sms_request(session: AsyncSession, request: SmsRequest) -> bool:
    """Insert a new SMS request; False when (tenant, id) already exists."""
    session.add(request)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return False
    return True


async def find_sms_request(
    session: AsyncSession, tenant: str, request_id: str
) -> SmsRequest | None:
    """The SMS of `tenant` with idempotency key `request_id`."""
    query = select(SmsRequest).where(
        SmsRequest.tenant == tenant, SmsRequest.request_id == request_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def claim_sms(
    session: AsyncSession, pk: int, owner: str, until: datetime, now: datetime
) -> bool:
    """Take the lease on a waiting SMS that is due, unless another worker holds a live one."""
    result = await session.execute(
        update(SmsRequest)
        .where(
            SmsRequest.id == pk,
            SmsRequest.status.in_(WAITING),
            SmsRequest.next_attempt_at <= now,
            or_(SmsRequest.lease_until.is_(None), SmsRequest.lease_until < now),
        )
        .values(lease_owner=owner, lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def due_sms_ids(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    """Waiting SMS whose time has come and that no live lease holds."""
    query = (
        select(SmsRequest.id)
        .where(
            SmsRequest.status.in_(WAITING),
            SmsRequest.next_attempt_at <= now,
            or_(SmsRequest.lease_until.is_(None), SmsRequest.lease_until < now),
        )
        .order_by(SmsRequest.next_attempt_at)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()
