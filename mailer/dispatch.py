"""The send pipeline: accept an event once, render, attach, sign, send, record, report."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.catalog import CATALOG, TemplateSpec, resolve_locale
from mailer.dkim import DkimSigner
from mailer.errors import MailerError, RenderError
from mailer.events import Address, DeliveryStatus, SendEvent, StatusEvent
from mailer.intake import InvalidEvent, parse_event
from mailer.message import Attachment, RenderedEmail
from mailer.mime import build_message, make_message_id
from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer
from mailer.retry import RetryPolicy
from mailer.store import repository
from mailer.store.models import Recipient, SendRequest
from mailer.threads import thread_key
from mailer.transport.base import Envelope, Outcome, RecipientResult, Transport

logger = logging.getLogger(__name__)
REF_HEADER = "X-Mailer-Ref"


class StatusPublisher(Protocol):
    """Where status changes are announced (`mail.status` on the broker)."""

    async def publish(self, statuses: Sequence[StatusEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class SenderIdentity:
    """The shared relay's identity: From address, VERP domain, Message-ID domain."""

    from_address: str
    bounce_domain: str
    message_id_domain: str

    def return_path(self, token: str) -> str:
        return f"bounces+{token}@{self.bounce_domain}"


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


class Dispatcher:
    """Runs the send pipeline against the store, the renderers and a transport."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        renderer: EmailRenderer,
        pdfs: PdfRenderer,
        transport: Transport,
        signer: DkimSigner | None,
        publisher: StatusPublisher,
        policy: RetryPolicy,
        identity: SenderIdentity,
        lease: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._renderer = renderer
        self._pdfs = pdfs
        self._transport = transport
        self._signer = signer
        self._publisher = publisher
        self._policy = policy
        self._identity = identity
        self._lease = lease
        self._clock = clock
        self.worker_id = secrets.token_hex(6)

    async def submit(self, raw: bytes | str | dict[str, Any]) -> Submission:
        """Handle one incoming event end to end; never raises for bad input."""
        try:
            event = parse_event(raw)
        except InvalidEvent as invalid:
            await self._reject(invalid)
            return Submission(
                DeliveryStatus.REJECTED, invalid.tenant, invalid.request_id, invalid.reason
            )
        pk, created = await self._accept(event)
        if pk is not None and await self._claim_if_due(pk):
            await self.deliver(pk)
        return Submission(None, event.tenant, event.id, duplicate=not created)

    async def run_due(self, limit: int = 100) -> int:
        """Deliver scheduled, deferred and abandoned requests whose time has come."""
        async with self._sessions() as session:
            due = await repository.due_request_ids(session, self._clock(), limit)
        delivered = 0
        for pk in due:
            if await self._claim_if_due(pk):
                await self.deliver(pk)
                delivered += 1
        return delivered

    async def _reject(self, invalid: InvalidEvent) -> None:
        logger.warning(
            "rejected event tenant=%s id=%s: %s", invalid.tenant, invalid.request_id, invalid.reason
        )
        status = StatusEvent(
            request_id=invalid.request_id,
            tenant=invalid.tenant,
            status=DeliveryStatus.REJECTED,
            detail=invalid.reason,
            at=self._clock(),
        )
        await self._record_and_publish([status])

    async def _accept(self, event: SendEvent) -> tuple[int | None, bool]:
        """Store the request once; returns its key (None when nothing is left to do) and novelty."""
        now = self._clock()
        async with self._sessions() as session:
            spec = CATALOG[event.template]
            enabled = await self._template_enabled(session, event.tenant, spec)
            initial = DeliveryStatus.QUEUED if enabled else DeliveryStatus.SKIPPED
            request = self._new_request(event, initial, now)
            if not await repository.insert_request(session, request):
                existing = await repository.find_request(session, event.tenant, event.id)
                logger.info("duplicate event tenant=%s id=%s", event.tenant, event.id)
                return (existing.id if existing and existing.pending else None), False
            statuses = [
                self._status(
                    request,
                    recipient.address,
                    initial,
                    detail=None if enabled else "template disabled",
                )
                for recipient in request.recipients
            ]
            repository.add_status_records(session, statuses)
            await session.commit()
        await self._publish(statuses)
        return (request.id if enabled else None), True

    def _new_request(self, event: SendEvent, initial: DeliveryStatus, now: datetime) -> SendRequest:
        recipients = [
            Recipient(address=address, kind=kind, status=initial.value, updated_at=now)
            for kind, address in _distinct_recipients(event)
        ]
        send_at = event.send_at.astimezone(UTC) if event.send_at else now
        return SendRequest(
            tenant=event.tenant,
            request_id=event.id,
            template=event.template.value,
            locale=resolve_locale(event.locale),
            thread=thread_key(event),
            event=event.model_dump(mode="json", by_alias=True),
            message_id=make_message_id(event.tenant, event.id, self._identity.message_id_domain),
            verp_token=secrets.token_hex(10),
            created_at=now,
            pending=initial is DeliveryStatus.QUEUED,
            next_attempt_at=max(send_at, now) if initial is DeliveryStatus.QUEUED else None,
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

    async def _claim_if_due(self, pk: int) -> bool:
        now = self._clock()
        async with self._sessions() as session:
            request = await session.get(SendRequest, pk)
            if request is None or request.next_attempt_at is None or request.next_attempt_at > now:
                return False
            claimed = await repository.claim(session, pk, self.worker_id, now + self._lease, now)
            await session.commit()
            return claimed

    async def deliver(self, pk: int) -> None:
        """One attempt at a request whose lease this worker holds."""
        async with self._sessions() as session:
            request = await repository.load_request(session, pk)
        waiting = repository.pending_recipients(request)
        event = SendEvent.model_validate(request.event)
        try:
            message = await self._compose(request, event)
        except MailerError as exc:
            logger.error(
                "cannot compose tenant=%s id=%s: %s", request.tenant, request.request_id, exc
            )
            results = [
                RecipientResult(r.address, Outcome.PERMANENT_FAILURE, detail=str(exc))
                for r in waiting
            ]
        else:
            envelope = Envelope(
                self._identity.return_path(request.verp_token), tuple(r.address for r in waiting)
            )
            results = list((await self._transport.send(envelope, message)).recipients)
        await self._record_attempt(pk, results)

    async def _compose(self, request: SendRequest, event: SendEvent) -> bytes:
        rendered = self._renderer.render(event)
        attachment = await self._attachment(request, event)
        if attachment is not None:
            rendered = RenderedEmail(rendered.subject, rendered.html, rendered.text, (attachment,))
        company = event.data.company
        display_name = company.name[:200] or None
        try:
            message = build_message(
                rendered,
                # The configured sender is trusted as it is (it may use a reserved test domain).
                sender=Address.model_construct(email=self._identity.from_address, name=display_name),
                reply_to=Address(email=company.email, name=display_name) if company.email else None,
                to=event.to,
                cc=event.cc,
                message_id=request.message_id,
                date=request.created_at,
                headers={REF_HEADER: request.verp_token},
            )
        except ValueError as exc:
            raise RenderError(f"cannot build the message: {exc}") from exc
        if self._signer is None:
            return message
        return await asyncio.to_thread(self._signer.sign, message)

    async def _attachment(self, request: SendRequest, event: SendEvent) -> Attachment | None:
        spec = CATALOG[event.template]
        if spec.document is None:
            return None
        attach = event.attach_pdf
        if attach is None:
            async with self._sessions() as session:
                override = await repository.template_setting(
                    session, request.tenant, request.template
                )
            attach = (
                override.attach_pdf
                if override and override.attach_pdf is not None
                else spec.attach_pdf_by_default
            )
        if not attach:
            return None
        return await self._pdfs.render(spec.document, event.data, request.locale)

    async def _record_attempt(self, pk: int, results: Sequence[RecipientResult]) -> None:
        now = self._clock()
        by_address = {result.recipient: result for result in results}
        statuses: list[StatusEvent] = []
        async with self._sessions() as session:
            request = await repository.load_request(session, pk)
            request.attempts += 1
            first = request.first_attempt_at or now
            request.first_attempt_at = first
            retry_at: datetime | None = None
            for recipient in request.recipients:
                result = by_address.get(recipient.address)
                if result is None:
                    continue
                status, next_at = self._judge(result, request.attempts, first, now)
                retry_at = min(filter(None, (retry_at, next_at)), default=None)
                recipient.status, recipient.updated_at = status.value, now
                recipient.smtp_code, recipient.enhanced_status = (
                    result.smtp_code,
                    result.enhanced_status,
                )
                recipient.detail = result.detail
                statuses.append(self._status(request, recipient.address, status, result=result))
            request.pending = bool(repository.pending_recipients(request))
            request.next_attempt_at = retry_at if request.pending else None
            request.lease_owner, request.lease_until = None, None
            repository.add_status_records(session, statuses)
            await session.commit()
        await self._publish(statuses)

    def _judge(
        self, result: RecipientResult, attempts: int, first: datetime, now: datetime
    ) -> tuple[DeliveryStatus, datetime | None]:
        if result.outcome is Outcome.ACCEPTED:
            return DeliveryStatus.SENT, None
        if result.outcome is Outcome.PERMANENT_FAILURE:
            return DeliveryStatus.FAILED, None
        next_at = now + timedelta(seconds=self._policy.next_delay(attempts, result.retry_after))
        if self._policy.gives_up(first, next_at):
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

    async def _record_and_publish(self, statuses: Sequence[StatusEvent]) -> None:
        async with self._sessions() as session:
            repository.add_status_records(session, statuses)
            await session.commit()
        await self._publish(statuses)

    async def _publish(self, statuses: Sequence[StatusEvent]) -> None:
        try:
            await self._publisher.publish(statuses)
        except Exception:  # the log is stored; a broker hiccup must not undo a delivery
            logger.exception("could not publish %d status events", len(statuses))


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
