"""Automatic sending after the grace delay (seed 002): queued, cancelled, settled exactly once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.errors import BillingError
from billing.models import AutoSend

logger = logging.getLogger(__name__)

PENDING, SENT, CANCELLED = "pending", "sent", "cancelled"
DEFAULT_BATCH = 100

# Sends one document's automatic email in the caller's transaction.
DocumentSender = Callable[[AsyncSession, str, int, datetime], Awaitable[object]]
Clock = Callable[[], datetime]


async def schedule(
    session: AsyncSession,
    tenant: str,
    document: str,
    document_id: int,
    template: str,
    due_at: datetime,
) -> None:
    """Queue the document's automatic email for `due_at` (once per document and template)."""
    found = await session.execute(
        select(AutoSend).where(
            AutoSend.document == document,
            AutoSend.document_id == document_id,
            AutoSend.template == template,
        )
    )
    if found.scalar_one_or_none() is None:
        session.add(
            AutoSend(
                tenant=tenant,
                document=document,
                document_id=document_id,
                template=template,
                due_at=due_at,
                state=PENDING,
            )
        )


async def cancel(
    session: AsyncSession, document: str, document_id: int, now: datetime, why: str
) -> int:
    """Drop the document's pending automatic emails (staff sent it, marked it sent, voided it)."""
    result = await session.execute(
        update(AutoSend)
        .where(
            AutoSend.document == document,
            AutoSend.document_id == document_id,
            AutoSend.state == PENDING,
        )
        .values(state=CANCELLED, settled_at=now, detail=why)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class AutoSender:
    """Sends the automatic emails that are due; each one in its own transaction.

    The pending -> sent update only succeeds for one transaction, so two schedulers never
    send the same document twice; the email itself is an outbox row of that transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        senders: Mapping[str, DocumentSender],
        clock: Clock,
        *,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self._sessions = sessions
        self._senders = senders
        self._clock = clock
        self._batch = batch

    async def run_due(self) -> int:
        """Send what is due now; the number of automatic sends settled."""
        now = self._clock()
        async with self._sessions() as session:
            due = (
                await session.execute(
                    select(AutoSend.id)
                    .where(AutoSend.state == PENDING, AutoSend.due_at <= now)
                    .order_by(AutoSend.due_at, AutoSend.id)
                    .limit(self._batch)
                )
            ).scalars()
            ids = list(due)
        settled = 0
        for auto_send_id in ids:
            settled += await self._settle(auto_send_id, now)
        return settled

    async def _settle(self, auto_send_id: int, now: datetime) -> int:
        async with self._sessions() as session, session.begin():
            claimed = await session.execute(
                update(AutoSend)
                .where(AutoSend.id == auto_send_id, AutoSend.state == PENDING)
                .values(state=SENT, settled_at=now)
                .returning(AutoSend.tenant, AutoSend.document, AutoSend.document_id)
                .execution_options(synchronize_session=False)
            )
            row = claimed.one_or_none()
            if row is None:  # another scheduler settled it, or staff cancelled it meanwhile
                return 0
            tenant, document, document_id = row
            sender = self._senders.get(document)
            if sender is None:
                await self._give_up(session, auto_send_id, f"no sender for {document}s")
                return 1
            try:
                async with session.begin_nested():
                    await sender(session, tenant, document_id, now)
            except BillingError as refused:  # e.g. voided in the meantime: nothing to send
                await self._give_up(session, auto_send_id, refused.message)
        return 1

    async def _give_up(self, session: AsyncSession, auto_send_id: int, why: str) -> None:
        logger.info("automatic send %s not sent: %s", auto_send_id, why)
        await session.execute(
            update(AutoSend)
            .where(AutoSend.id == auto_send_id)
            .values(state=CANCELLED, detail=why[:500])
            .execution_options(synchronize_session=False)
        )
