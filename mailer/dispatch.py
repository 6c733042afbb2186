"""The send pipeline: accept an event once, then attempt it until every recipient is final."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.catalog import CATALOG, TemplateSpec, resolve_locale
from mailer.compose import ComposedMessage, Composer
from mailer.errors import MailerError
from mailer.events import DeliveryStatus, SendEvent, StatusEvent
from mailer.intake import InvalidEvent, parse_event
from mailer.mime import make_message_id
from mailer.pipeline import LeasedPipeline, StatusPublisher, Submission, utcnow
from mailer.retry import RetryPolicy
from mailer.routing import NotSent, Router
from mailer.senders import SenderDirectory, SharedRelayOnly
from mailer.store import inbox_repository as inbox
from mailer.store import leases, repository
from mailer.store.inbox_models import EntryDirection, ThreadEntry
from mailer.store.models import Recipient, SendRequest
from mailer.threads import thread_key
from mailer.transport.base import Envelope, Outcome, RecipientResult, Transport

logger = logging.getLogger(__name__)
SUPPRESSED_DETAIL = "address is on the tenant's suppression list"


class Dispatcher(LeasedPipeline):
    """Runs the send pipeline against the store, a composer and a transport."""

    model = SendRequest
    noun = "event"
    status_noun = "status events"

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        composer: Composer,
        transport: Transport,
        publisher: StatusPublisher,
        policy: RetryPolicy,
        directory: SenderDirectory | None = None,
        lease: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(
            sessions=sessions, publisher=publisher, policy=policy, lease=lease, clock=clock
        )
        self._router = Router(sessions, composer, transport, directory or SharedRelayOnly(), clock)
        self._composer = composer

    async def submit(self, raw: bytes | str | dict[str, Any]) -> Submission:
        """Handle one incoming event end to end; never raises for bad input."""
        try:
            event = parse_event(raw)
        except InvalidEvent as invalid:
            await self._reject(invalid)
            return Submission(
                DeliveryStatus.REJECTED, invalid.tenant, invalid.request_id, invalid.reason
            )
        refusal = await self._router.refuse_sender(event)
        if refusal is not None:
            await self._reject(refusal)
            return Submission(DeliveryStatus.REJECTED, event.tenant, event.id, refusal.reason)
        pk, created = await self._accept(event)
        if pk is not None and await self._claim_if_due(pk):
            await self.deliver(pk)
        return Submission(None, event.tenant, event.id, duplicate=not created)

    async def _accept(self, event: SendEvent) -> tuple[int | None, bool]:
        """Store the request once; returns its key (None when nothing is left to do) and novelty."""
        now = self._clock()
        async with self._sessions() as session:
            enabled = await self._template_enabled(session, event.tenant, CATALOG[event.template])
            addresses = [address for _kind, address in _distinct_recipients(event)]
            suppressed = await inbox.suppressed_addresses(session, event.tenant, addresses)
            request = self._new_request(event, enabled, suppressed, now)
            if not await leases.insert_once(session, request):
                existing = await repository.find_request(session, event.tenant, event.id)
                logger.info("duplicate event tenant=%s id=%s", event.tenant, event.id)
                return (existing.id if existing and existing.pending else None), False
            await inbox.ensure_thread(session, event.tenant, request.thread, "", now)
            statuses = [self._status(request, r.address, DeliveryStatus(r.status), detail=r.detail)
                        for r in request.recipients]  # fmt: skip
            repository.add_status_records(session, statuses)
            await session.commit()
        await self._publish(statuses)
        return (request.id if request.pending else None), True

    def _new_request(
        self, event: SendEvent, enabled: bool, suppressed: set[str], now: datetime
    ) -> SendRequest:
        recipients = [
            _initial_recipient(kind, address, enabled, address in suppressed, now)
            for kind, address in _distinct_recipients(event)
        ]
        pending = any(r.status == DeliveryStatus.QUEUED.value for r in recipients)
        send_at = event.send_at.astimezone(UTC) if event.send_at else now
        return SendRequest(
            tenant=event.tenant,
            request_id=event.id,
            template=event.template.value,
            locale=resolve_locale(event.locale),
            thread=thread_key(event),
            event=event.model_dump(mode="json", by_alias=True),
            message_id=make_message_id(
                event.tenant, event.id, self._composer.identity.message_id_domain
            ),
            verp_token=inbox.new_token(),
            created_at=now,
            pending=pending,
            next_attempt_at=max(send_at, now) if pending else None,
            attempts=0,
            recipients=recipients,
        )

    async def _template_enabled(
        self, session: AsyncSession, tenant: str, spec: TemplateSpec
    ) -> bool:
        override = await repository.template_setting(session, tenant, spec.name.value)
        if override is not None and override.enabled is not None:
            return override.enabled
        return spec.enabled_by_default

    async def deliver(self, pk: int) -> None:
        """One attempt at a request whose lease this worker holds."""
        async with self._sessions() as session:
            request = await repository.load_request(session, pk)
            waiting = [r.address for r in repository.pending_recipients(request)]
            suppressed = await inbox.suppressed_addresses(session, request.tenant, waiting)
            sendable = tuple(address for address in waiting if address not in suppressed)
            route = await self._router.route(session, request) if sendable else None
        composed: ComposedMessage | None = None
        results: list[RecipientResult] = []
        if isinstance(route, NotSent):
            results = [RecipientResult(a, route.outcome, detail=route.detail) for a in sendable]
        elif route is not None:
            try:
                composed = await self._composer.compose(route.draft)
            except MailerError as exc:
                logger.error(
                    "cannot compose tenant=%s id=%s: %s", request.tenant, request.request_id, exc
                )
                results = [
                    RecipientResult(a, Outcome.PERMANENT_FAILURE, detail=str(exc)) for a in sendable
                ]
            else:
                envelope = Envelope(route.envelope_sender, sendable)
                results = list((await route.transport.send(envelope, composed.data)).recipients)
                if route.own_server:
                    results = await self._router.check_own_login(request, results)
        await self._record_attempt(pk, results, suppressed, composed)

    async def _record_attempt(
        self,
        pk: int,
        results: Sequence[RecipientResult],
        suppressed: set[str],
        composed: ComposedMessage | None,
    ) -> None:
        now = self._clock()
        by_address = {result.recipient: result for result in results}
        statuses: list[StatusEvent] = []
        async with self._sessions() as session:
            request = await repository.load_request(session, pk)
            if results:
                request.attempts += 1
                request.first_attempt_at = request.first_attempt_at or now
            retry_at: datetime | None = None
            for recipient in request.recipients:
                if recipient.address in suppressed and recipient.status in _WAITING:
                    _set(recipient, DeliveryStatus.SUPPRESSED, now, detail=SUPPRESSED_DETAIL)
                    statuses.append(
                        self._status(
                            request,
                            recipient.address,
                            DeliveryStatus.SUPPRESSED,
                            detail=SUPPRESSED_DETAIL,
                        )
                    )
                    continue
                result = by_address.get(recipient.address)
                if result is None:
                    continue
                status, next_at = self._judge(result, request, now)
                retry_at = min(filter(None, (retry_at, next_at)), default=None)
                _set(recipient, status, now, result=result)
                statuses.append(self._status(request, recipient.address, status, result=result))
            request.pending = bool(repository.pending_recipients(request))
            request.next_attempt_at = retry_at if request.pending else None
            request.lease_owner, request.lease_until = None, None
            if composed is not None and any(s.status is DeliveryStatus.SENT for s in statuses):
                await self._add_outgoing_entry(session, request, composed, now)
            repository.add_status_records(session, statuses)
            await session.commit()
        await self._publish(statuses)

    async def _add_outgoing_entry(
        self, session: AsyncSession, request: SendRequest, composed: ComposedMessage, now: datetime
    ) -> None:
        """The first time a message goes out, it joins its thread in the A/R inbox."""
        if await inbox.has_outgoing_entry(session, request.id):
            return
        thread = await inbox.ensure_thread(
            session, request.tenant, request.thread, composed.subject, now
        )
        thread.subject = thread.subject or composed.subject[:500]
        entry = ThreadEntry(
            at=now,
            direction=EntryDirection.OUTGOING.value,
            sender=composed.sender,
            recipients=[r.address for r in request.recipients],
            subject=composed.subject[:500],
            body_text=composed.text,
            message_id=request.message_id,
            send_request_id=request.id,
            details={"template": request.template, "request_id": request.request_id},
        )
        inbox.add_entry(session, thread, entry)

    def _judge(
        self, result: RecipientResult, request: SendRequest, now: datetime
    ) -> tuple[DeliveryStatus, datetime | None]:
        if result.outcome is Outcome.ACCEPTED:
            return DeliveryStatus.SENT, None
        if result.outcome is Outcome.PERMANENT_FAILURE:
            return DeliveryStatus.FAILED, None
        first = request.first_attempt_at or now
        next_at = self._policy.retry_at(request.attempts, first, now, result.retry_after)
        if next_at is None:
            return DeliveryStatus.FAILED, None
        return DeliveryStatus.DEFERRED, next_at

    def _status(
        self,
        request: SendRequest,
        recipient: str,
        status: DeliveryStatus,
        *,
        result: RecipientResult | None = None,
        detail: str | None = None,
    ) -> StatusEvent:
        return StatusEvent(
            request_id=request.request_id,
            tenant=request.tenant,
            message_id=request.message_id,
            recipient=recipient,
            status=status,
            smtp_code=result.smtp_code if result else None,
            enhanced_status=result.enhanced_status if result else None,
            detail=(result.detail or None) if result else detail,
            at=self._clock(),
        )


_WAITING = {DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value}


def _initial_recipient(
    kind: str, address: str, enabled: bool, suppressed: bool, now: datetime
) -> Recipient:
    if not enabled:
        status, detail = DeliveryStatus.SKIPPED, "template disabled"
    elif suppressed:
        status, detail = DeliveryStatus.SUPPRESSED, SUPPRESSED_DETAIL
    else:
        status, detail = DeliveryStatus.QUEUED, None
    return Recipient(address=address, kind=kind, status=status.value, detail=detail, updated_at=now)


def _set(
    recipient: Recipient,
    status: DeliveryStatus,
    now: datetime,
    *,
    result: RecipientResult | None = None,
    detail: str | None = None,
) -> None:
    recipient.status, recipient.updated_at = status.value, now
    recipient.smtp_code = result.smtp_code if result else None
    recipient.enhanced_status = result.enhanced_status if result else None
    recipient.detail = result.detail if result else detail


def _distinct_recipients(event: SendEvent) -> list[tuple[str, str]]:
    """(kind, address) once per address, To before Cc before Bcc."""
    seen: set[str] = set()
    distinct = []
    for kind, addresses in (("to", event.to), ("cc", event.cc), ("bcc", event.bcc)):
        for address in addresses:
            if address.email.lower() not in seen:
                seen.add(address.email.lower())
                distinct.append((kind, address.email))
    return distinct
