"""What every channel's dispatcher shares: rejecting, claiming due work, publishing statuses."""

from __future__ import annotations

import abc
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.events import DeliveryStatus, StatusEvent
from mailer.intake import InvalidEvent
from mailer.retry import RetryPolicy
from mailer.store import leases, repository
from mailer.store.leases import LeasedWork

__all__ = ["LeasedPipeline", "StatusPublisher", "Submission", "utcnow"]


class StatusPublisher(Protocol):
    """Where status changes are announced (`mail.status` on the broker)."""

    async def publish(self, statuses: Sequence[StatusEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class Submission:
    """What became of one submitted event."""

    status: DeliveryStatus | None
    tenant: str | None
    request_id: str | None
    detail: str | None = None
    duplicate: bool = False


def utcnow() -> datetime:
    return datetime.now(UTC)


class LeasedPipeline(abc.ABC):
    """Attempts rows of `model` under a lease until they are final; a channel says how to deliver.

    Statuses are stored before they are published, so a broker hiccup loses no outcome.
    """

    model: ClassVar[type[LeasedWork]]
    # How the log lines name one request and its status events (`event`, `status events`).
    noun: ClassVar[str]
    status_noun: ClassVar[str]

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        publisher: StatusPublisher,
        policy: RetryPolicy,
        lease: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._policy = policy
        self._lease = lease
        self._clock = clock
        self.worker_id = secrets.token_hex(6)
        self._logger = logging.getLogger(type(self).__module__)

    @abc.abstractmethod
    async def deliver(self, pk: int) -> None:
        """One attempt at a row whose lease this worker holds."""

    async def run_due(self, limit: int = 100) -> int:
        """Attempt scheduled, deferred and abandoned requests whose time has come."""
        async with self._sessions() as session:
            due = await leases.due_ids(session, self.model, self._clock(), limit)
        attempted = 0
        for pk in due:
            if await self._claim_if_due(pk):
                await self.deliver(pk)
                attempted += 1
        return attempted

    async def _claim_if_due(self, pk: int) -> bool:
        now = self._clock()
        async with self._sessions() as session:
            until = now + self._lease
            claimed = await leases.claim_due(session, self.model, pk, self.worker_id, until, now)
            await session.commit()
            return claimed

    async def _reject(self, invalid: InvalidEvent) -> None:
        self._logger.warning(
            "rejected %s tenant=%s id=%s: %s",
            self.noun,
            invalid.tenant,
            invalid.request_id,
            invalid.reason,
        )
        status = StatusEvent(
            request_id=invalid.request_id,
            tenant=invalid.tenant,
            status=DeliveryStatus.REJECTED,
            detail=invalid.reason,
            at=self._clock(),
        )
        async with self._sessions() as session:
            await repository.add_status_records(session, [status])
            await session.commit()
        await self._publish([status])

    async def _publish(self, statuses: Sequence[StatusEvent]) -> None:
        try:
            await self._publisher.publish(statuses)
        except Exception:  # the log is stored; a broker hiccup must not undo a delivery
            self._logger.exception("could not publish %d %s", len(statuses), self.status_noun)
