"""Queries of the SMS table; every one that reads tenant data is scoped by tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.store.sms_models import WAITING, SmsRequest

__all__ = ["WAITING", "find_sms_request"]


async def find_sms_request(
    session: AsyncSession, tenant: str, request_id: str
) -> SmsRequest | None:
    """The SMS of `tenant` with idempotency key `request_id`."""
    query = select(SmsRequest).where(
        SmsRequest.tenant == tenant, SmsRequest.request_id == request_id
    )
    return (await session.execute(query)).scalar_one_or_none()
