"""The transactional outbox: events are written with their change and relayed at least once."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.events import BillingEvent
from billing.models import OutboxEvent

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]
Clock = Callable[[], datetime]

DEFAULT_BATCH = 200
CLAIM_SECONDS = 60
MAX_BACKOFF_SECONDS = 300


def record(
    session: AsyncSession,
    *,
    subject: str,
    tenant: str,
    event_id: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Queue `payload` for `subject` in the caller's transaction: it leaves only if that commits."""
    session.add(
        OutboxEvent(
            event_id=event_id,
            tenant=tenant,
            subject=subject,
            payload=json.dumps(payload, default=str, separators=(",", ":")),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )


def record_event(session: AsyncSession, event: BillingEvent) -> None:
    """Queue a `billing.*` event on its own subject."""
    record(
        session,
        subject=event.type.value,
        tenant=event.tenant,
        event_id=event.id,
        payload=event.model_dump(mode="json"),
        now=event.occurred_at,
    )


class OutboxRelay:
    """Publishes queued events in order; a failed publish is retried with backoff.

    Rows are claimed for CLAIM_SECONDS before publishing, so relays in several processes
    share the work; a relay that dies after publishing but before marking leaves the row to
    be published again, which is why every event carries an id consumers deduplicate on.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publish: Publish,
        clock: Clock,
        *,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self._sessions = sessions
        self._publish = publish
        self._clock = clock
        self._batch = batch

    async def run_once(self) -> int:
        """Publish what is due now; the number of events published."""
        claimed = await self._claim()
        published = 0
        for row_id, subject, payload, attempts in claimed:
            try:
                await self._publish(subject, payload.encode())
            except Exception as exc:  # broker down or refusing: keep the row and retry later
                await self._failed(row_id, attempts, exc)
                continue
            await self._published(row_id)
            published += 1
        return published

    async def pending(self) -> int:
        """How many events wait to be published (for readiness and tests)."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(OutboxEvent.id).where(OutboxEvent.published_at.is_(None))
            )
            return len(rows.all())

    async def _claim(self) -> list[tuple[int, str, str, int]]:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            candidates = (
                await session.execute(
                    select(OutboxEvent.id)
                    .where(OutboxEvent.published_at.is_(None), OutboxEvent.next_attempt_at <= now)
                    .order_by(OutboxEvent.id)
                    .limit(self._batch)
                )
            ).scalars()
            ids = list(candidates)
            if not ids:
                return []
            claimed = await session.execute(
                update(OutboxEvent)
                .where(
                    OutboxEvent.id.in_(ids),
                    OutboxEvent.published_at.is_(None),
                    OutboxEvent.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
                .returning(
                    OutboxEvent.id, OutboxEvent.subject, OutboxEvent.payload, OutboxEvent.attempts
                )
            )
            return sorted((row[0], row[1], row[2], row[3]) for row in claimed.all())

    async def _published(self, row_id: int) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == row_id)
                .values(published_at=self._clock(), last_error=None)
            )

    async def _failed(self, row_id: int, attempts: int, exc: Exception) -> None:
        delay = min(MAX_BACKOFF_SECONDS, 2 ** min(attempts, 10))
        logger.warning(
            "outbox event %s not published (attempt %s): %s",
            row_id,
            attempts + 1,
            type(exc).__name__,
        )
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == row_id)
                .values(
                    attempts=attempts + 1,
                    last_error=f"{type(exc).__name__}: {exc}"[:500],
                    next_attempt_at=self._clock() + timedelta(seconds=delay),
                )
            )
