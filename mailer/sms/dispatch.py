"""The SMS pipeline: accept an event once, render it, then send it until its status is final."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.errors import RenderError
from mailer.events import DeliveryStatus, StatusEvent
from mailer.pipeline import LeasedPipeline, StatusPublisher, Submission, utcnow
from mailer.retry import RetryPolicy
from mailer.sms.events import SmsSendEvent
from mailer.sms.intake import InvalidEvent, parse_sms_event
from mailer.sms.provider import SmsOutcome, SmsProvider, SmsResult
from mailer.sms.render import RenderedSms, SmsRenderer
from mailer.sms.segments import DEFAULT_MAX_SEGMENTS
from mailer.store import leases, repository
from mailer.store import sms_repository as sms_store
from mailer.store.sms_models import WAITING, SmsRequest

__all__ = ["SmsDispatcher", "idempotency_key"]

logger = logging.getLogger(__name__)
GAVE_UP = "still failing at the retry horizon"


def idempotency_key(tenant: str, request_id: str) -> str:
    """The key the provider sees on every attempt at one SMS: stable, short, opaque."""
    return hashlib.sha256(f"{tenant}\0{request_id}".encode()).hexdigest()


class SmsDispatcher(LeasedPipeline):
    """Runs the SMS pipeline against the store, a renderer, a provider and a status publisher."""

    model = SmsRequest
    noun = "sms"
    status_noun = "SMS status events"

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        renderer: SmsRenderer,
        provider: SmsProvider,
        publisher: StatusPublisher,
        policy: RetryPolicy,
        lease: timedelta = timedelta(minutes=5),
        max_segments: int = DEFAULT_MAX_SEGMENTS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(
            sessions=sessions, publisher=publisher, policy=policy, lease=lease, clock=clock
        )
        self._renderer = renderer
        self._provider = provider
        self._max_segments = max_segments

    async def submit(self, raw: bytes | str | dict[str, Any]) -> Submission:
        """Handle one incoming `sms.send` event end to end; never raises for bad input."""
        try:
            event = parse_sms_event(raw)
            rendered = self._render(event)
        except InvalidEvent as invalid:
            await self._reject(invalid)
            return Submission(
                DeliveryStatus.REJECTED, invalid.tenant, invalid.request_id, invalid.reason
            )
        pk, created = await self._accept(event, rendered)
        if pk is not None and await self._claim_if_due(pk):
            await self.deliver(pk)
        return Submission(None, event.tenant, event.id, duplicate=not created)

    def _render(self, event: SmsSendEvent) -> RenderedSms:
        try:
            rendered = self._renderer.render(event)
        except RenderError as exc:
            raise InvalidEvent(str(exc), event.tenant, event.id) from None
        count = rendered.count
        if count.segments > self._max_segments:
            raise InvalidEvent(
                f"the text takes {count.segments} SMS segments ({count.encoding}, "
                f"{count.units} units), more than the {self._max_segments} allowed",
                event.tenant,
                event.id,
            )
        return rendered

    async def _accept(self, event: SmsSendEvent, rendered: RenderedSms) -> tuple[int | None, bool]:
        """Store the SMS once; returns its key (None when nothing is left to do) and novelty."""
        now = self._clock()
        send_at = event.send_at.astimezone(UTC) if event.send_at else now
        request = SmsRequest(
            tenant=event.tenant,
            request_id=event.id,
            template=event.template.value,
            locale=rendered.locale,
            to=event.to,
            body=rendered.body,
            segments=rendered.count.segments,
            encoding=rendered.count.encoding.value,
            status=DeliveryStatus.QUEUED.value,
            attempts=0,
            next_attempt_at=max(send_at, now),
            created_at=now,
            updated_at=now,
        )
        async with self._sessions() as session:
            if not await leases.insert_once(session, request):
                existing = await sms_store.find_sms_request(session, event.tenant, event.id)
                logger.info("duplicate sms tenant=%s id=%s", event.tenant, event.id)
                waiting = existing is not None and existing.status in WAITING
                return (existing.id if existing and waiting else None), False
            detail = f"{rendered.count.segments} segment(s), {rendered.count.encoding}"
            status = self._status(request, DeliveryStatus.QUEUED, detail=detail)
            await repository.add_status_records(session, [status])
            await session.commit()
        await self._publish([status])
        return request.id, True

    async def deliver(self, pk: int) -> None:
        """One attempt at an SMS whose lease this worker holds."""
        async with self._sessions() as session:
            request = await session.get(SmsRequest, pk)
        if request is None:
            return
        key = idempotency_key(request.tenant, request.request_id)
        try:
            result = await self._provider.send(request.to, request.body, idempotency_key=key)
        except Exception as exc:  # a provider bug must not leave the lease held until it ends
            logger.exception(
                "sms provider failed tenant=%s id=%s", request.tenant, request.request_id
            )
            result = SmsResult(SmsOutcome.TEMPORARY, detail=f"provider error: {type(exc).__name__}")
        await self._record_attempt(pk, result)

    async def _record_attempt(self, pk: int, result: SmsResult) -> None:
        now = self._clock()
        async with self._sessions() as session:
            request = await session.get(SmsRequest, pk)
            if request is None:
                return
            request.attempts += 1
            request.first_attempt_at = request.first_attempt_at or now
            status, next_at, detail = self._judge(result, request, now)
            request.status, request.next_attempt_at, request.detail = status.value, next_at, detail
            request.provider_id = result.provider_id or request.provider_id
            request.lease_owner, request.lease_until = None, None
            request.updated_at = now
            event = self._status(request, status, detail=detail)
            await repository.add_status_records(session, [event])
            await session.commit()
        await self._publish([event])

    def _judge(
        self, result: SmsResult, request: SmsRequest, now: datetime
    ) -> tuple[DeliveryStatus, datetime | None, str | None]:
        if result.outcome is SmsOutcome.ACCEPTED:
            return DeliveryStatus.SENT, None, result.detail
        if result.outcome is SmsOutcome.PERMANENT:
            return DeliveryStatus.FAILED, None, result.detail
        first = request.first_attempt_at or now
        next_at = self._policy.retry_at(request.attempts, first, now, result.retry_after)
        if next_at is None:
            return DeliveryStatus.FAILED, None, f"{result.detail or 'temporary failure'}; {GAVE_UP}"
        return DeliveryStatus.DEFERRED, next_at, result.detail

    def _status(
        self, request: SmsRequest, status: DeliveryStatus, *, detail: str | None
    ) -> StatusEvent:
        return StatusEvent(
            request_id=request.request_id,
            tenant=request.tenant,
            message_id=request.provider_id,
            recipient=request.to,
            status=status,
            detail=detail,
            at=self._clock(),
        )
