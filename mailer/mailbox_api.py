"""The API of a tenant's addresses on the bounce domain: forwarding address, raw inbound mail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.auth import ApiTenant
from mailer.inbox_api import MAX_ID, ThreadId
from mailer.store import inbox_repository as inbox
from mailer.store.inbox_models import InboundMessage, ThreadEntry

EntryId = Annotated[int, Path(ge=1, le=MAX_ID, description="The entry's id.")]


class ForwardingAddress(BaseModel):
    """Where a firm that sends through its own server forwards the bounces it receives."""

    tenant: str
    address: str


def mailbox_api_router(
    sessions: async_sessionmaker[AsyncSession],
    bounce_domain: str,
    clock: Callable[[], datetime],
) -> APIRouter:
    """Routes scoped to the caller's tenant, like every other."""
    router = APIRouter(prefix="/api", tags=["inbox"])

    @router.get("/forwarding-address", response_model=ForwardingAddress)
    async def forwarding_address(tenant: ApiTenant) -> ForwardingAddress:
        """The tenant's forwarding address (created on first request, then stable)."""
        async with sessions() as session:
            token = await inbox.forwarding_token(session, tenant, clock())
            await session.commit()
        return ForwardingAddress(tenant=tenant, address=f"forward+{token}@{bounce_domain}")

    @router.get(
        "/threads/{thread_id}/entries/{entry_id}/raw",
        response_class=Response,
        responses={200: {"content": {"message/rfc822": {}}}},
    )
    async def raw_message(tenant: ApiTenant, thread_id: ThreadId, entry_id: EntryId) -> Response:
        """The message exactly as received, for an inbound entry (bounce, reply, report)."""
        async with sessions() as session:
            query = (
                select(InboundMessage.raw)
                .join(ThreadEntry, ThreadEntry.inbound_id == InboundMessage.id)
                .where(
                    ThreadEntry.id == entry_id,
                    ThreadEntry.thread_id == thread_id,
                    ThreadEntry.tenant == tenant,
                )
            )
            raw = (await session.execute(query)).scalar_one_or_none()
        if raw is None:
            raise HTTPException(404, "no received message for this entry")
        disposition = f'attachment; filename="entry-{entry_id}.eml"'
        return Response(
            raw, media_type="message/rfc822", headers={"Content-Disposition": disposition}
        )

    return router
