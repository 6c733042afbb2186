"""Processing of stored inbound mail: parse, match to our message, thread, record, suppress."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bounce import BouncedRecipient, BounceKind, ParsedBounce, Reason, parse_bounce
from bounce.summary import InboundSummary, summarize
from mailer.events import DeliveryStatus, StatusEvent
from mailer.store import inbox_repository as inbox
from mailer.store import repository
from mailer.store.inbox_models import (
    BounceRecord,
    EntryDirection,
    InboundMessage,
    InboundState,
    Thread,
    ThreadEntry,
)
from mailer.store.models import SendRequest

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MATCH_WINDOW = timedelta(days=30)
SOFT_BOUNCE_WINDOW = timedelta(days=7)
SOFT_BOUNCES_TO_SUPPRESS = 3
_ADDRESS = re.compile(r"^(bounces|forward|reply)\+([a-z0-9]+)@", re.I)
_NOT_FAILURES = {"delayed", "delivered", "relayed", "expanded"}
_DIRECTION = {
    BounceKind.DSN: EntryDirection.BOUNCE,
    BounceKind.FEEDBACK: EntryDirection.FEEDBACK,
    BounceKind.AUTOREPLY: EntryDirection.AUTOREPLY,
    BounceKind.OTHER: EntryDirection.REPLY,
}


class StatusPublisher(Protocol):
    async def publish(self, statuses: Sequence[StatusEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class Route:
    """Which of our addresses a message came to, and the token in it."""

    kind: str
    token: str


@dataclass
class Match:
    """What an inbound message belongs to: a tenant, perhaps a request, perhaps a thread."""

    tenant: str | None = None
    request: SendRequest | None = None
    thread: Thread | None = None


class InboundProcessor:
    """Turns pending inbound messages into thread entries, bounce records and statuses."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: StatusPublisher,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._clock = clock

    async def run_pending(self, limit: int = 50) -> int:
        """Process what the listener stored; returns how many messages were handled."""
        async with self._sessions() as session:
            pending = await inbox.pending_inbound_ids(session, limit)
        for inbound_id in pending:
            await self.process(inbound_id)
        return len(pending)

    async def process(self, inbound_id: int) -> None:
        """One message; a failure is recorded and retried, up to MAX_ATTEMPTS times."""
        try:
            statuses = await self._process(inbound_id)
        except Exception as exc:  # any bug or outage: keep the raw message, retry later
            logger.exception("processing inbound message %d failed", inbound_id)
            await self._record_failure(inbound_id, exc)
            return
        if statuses:
            try:
                await self._publisher.publish(statuses)
            except Exception:  # stored already; the broker hiccup must not undo it
                logger.exception("could not publish %d bounce statuses", len(statuses))

    async def _process(self, inbound_id: int) -> list[StatusEvent]:
        async with self._sessions() as session:
            message = await session.get(InboundMessage, inbound_id)
            if message is None or message.state != InboundState.PENDING.value:
                return []
            parsed = parse_bounce(message.raw)
            match = await self._match(session, message, parsed)
            statuses: list[StatusEvent] = []
            if match.tenant is None:
                message.state = InboundState.UNMATCHED.value
                logger.info("inbound message %d matched no tenant", inbound_id)
            else:
                statuses = await self._record(session, message, parsed, match)
                message.state = InboundState.PROCESSED.value
            message.tenant, message.kind = match.tenant, parsed.kind.value
            message.processed_at, message.attempts = self._clock(), message.attempts + 1
            await session.commit()
        return statuses

    async def _match(
        self, session: AsyncSession, message: InboundMessage, parsed: ParsedBounce
    ) -> Match:
        """VERP token first, then our header or Message-ID in the returned part, then recipient."""
        for route in _routes(message.rcpt_tos):
            if route.kind == "bounces":
                request = await inbox.request_by_verp_token(session, route.token)
                if request is not None:
                    return Match(request.tenant, request)
            elif route.kind == "reply":
                thread = await inbox.thread_by_reply_token(session, route.token)
                if thread is not None:
                    return Match(thread.tenant, thread=thread)
            elif route.kind == "forward":
                tenant = await inbox.tenant_by_forwarding_token(session, route.token)
                if tenant is not None:
                    return Match(tenant, await self._returned_request(session, tenant, parsed))
        if parsed.original_ref:  # e.g. an ARF report to abuse@ quoting our header
            request = await inbox.request_by_verp_token(session, parsed.original_ref)
            if request is not None:
                return Match(request.tenant, request)
        return Match()

    async def _returned_request(
        self, session: AsyncSession, tenant: str, parsed: ParsedBounce
    ) -> SendRequest | None:
        """The tenant's message a forwarded bounce returns (never another tenant's)."""
        if parsed.original_ref:
            request = await inbox.request_by_ref(session, tenant, parsed.original_ref)
            if request is not None:
                return request
        if parsed.original_message_id:
            request = await inbox.request_by_message_id(session, tenant, parsed.original_message_id)
            if request is not None:
                return request
        since = self._clock() - MATCH_WINDOW
        for recipient in parsed.recipients:
            request = await inbox.latest_request_to(session, tenant, recipient.address, since)
            if request is not None:
                return request
        return None

    async def _record(
        self, session: AsyncSession, message: InboundMessage, parsed: ParsedBounce, match: Match
    ) -> list[StatusEvent]:
        assert match.tenant is not None
        now = self._clock()
        summary = summarize(message.raw)
        thread = match.thread or await self._thread_for(session, match.tenant, match.request, now)
        direction = _DIRECTION[parsed.kind]
        recipients = _bounced_recipients(parsed, match.request)
        entry = _entry(message, summary, direction, match.request, now, recipients)
        inbox.add_entry(session, thread, entry)
        statuses: list[StatusEvent] = []
        for bounced in recipients:
            statuses += await self._record_bounce(session, message, match, bounced, now)
        if recipients:
            thread.has_bounce = True
        return statuses

    async def _thread_for(
        self, session: AsyncSession, tenant: str, request: SendRequest | None, now: datetime
    ) -> Thread:
        key = request.thread if request is not None else "unmatched"
        return await inbox.ensure_thread(session, tenant, key, "", now)

    async def _record_bounce(
        self,
        session: AsyncSession,
        message: InboundMessage,
        match: Match,
        bounced: BouncedRecipient,
        now: datetime,
    ) -> list[StatusEvent]:
        assert match.tenant is not None
        tenant, request = match.tenant, match.request
        session.add(
            BounceRecord(
                tenant=tenant,
                address=bounced.address.lower(),
                at=now,
                hard=bounced.hard,
                reason=bounced.reason.value,
                status=bounced.status,
                reply_code=_reply_code(bounced),
                diagnostic=bounced.diagnostic,
                send_request_id=request.id if request else None,
                inbound_id=message.id,
            )
        )
        await session.flush()
        statuses = []
        if request is not None:
            statuses.append(_bounced_status(request, bounced, now))
            _mark_recipient(request, bounced, now)
        if await self._should_suppress(session, tenant, bounced, now):
            detail = f"{bounced.reason.value}: {bounced.diagnostic or bounced.status or ''}".strip()
            if await inbox.suppress(
                session, tenant, bounced.address, bounced.reason.value, detail, now
            ):
                logger.info("suppressed an address of tenant %s after a %s bounce", tenant,
                            "hard" if bounced.hard else "repeated soft")  # fmt: skip
        await repository.add_status_records(session, statuses)
        return statuses

    async def _should_suppress(
        self, session: AsyncSession, tenant: str, bounced: BouncedRecipient, now: datetime
    ) -> bool:
        if bounced.hard:
            return True
        recent = await inbox.soft_bounces_since(
            session, tenant, bounced.address, now - SOFT_BOUNCE_WINDOW
        )
        return recent >= SOFT_BOUNCES_TO_SUPPRESS

    async def _record_failure(self, inbound_id: int, exc: Exception) -> None:
        async with self._sessions() as session:
            message = await session.get(InboundMessage, inbound_id)
            if message is None:
                return
            message.attempts += 1
            message.error = f"{type(exc).__name__}: {exc}"[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                message.state = InboundState.FAILED.value
            await session.commit()


def _routes(rcpt_tos: Sequence[str]) -> list[Route]:
    routes = []
    for address in rcpt_tos:
        found = _ADDRESS.match(address)
        if found:
            routes.append(Route(found.group(1).lower(), found.group(2).lower()))
    return routes


def _bounced_recipients(
    parsed: ParsedBounce, request: SendRequest | None
) -> list[BouncedRecipient]:
    """The recipients a DSN reports as failed (a delay or relay notice is not a bounce)."""
    if parsed.kind is not BounceKind.DSN or not parsed.is_bounce:
        return []
    failed = [r for r in parsed.recipients if r.action.lower() not in _NOT_FAILURES]
    if failed or parsed.recipients or request is None or len(request.recipients) != 1:
        return failed
    # A bounce to a message's own return path that names no recipient: it had only one.
    return [BouncedRecipient(request.recipients[0].address, Reason.UNDEFINED, False, "failed")]


def _entry(
    message: InboundMessage,
    summary: InboundSummary,
    direction: EntryDirection,
    request: SendRequest | None,
    now: datetime,
    recipients: list[BouncedRecipient],
) -> ThreadEntry:
    return ThreadEntry(
        at=now,
        direction=direction.value,
        sender=summary.sender or message.mail_from or None,
        recipients=list(message.rcpt_tos),
        subject=summary.subject,
        body_text=summary.text,
        message_id=None,
        send_request_id=request.id if request else None,
        inbound_id=message.id,
        details={"bounces": [_bounce_details(bounced) for bounced in recipients]}
        if recipients
        else {},
    )


def _bounce_details(bounced: BouncedRecipient) -> dict[str, object]:
    return {
        "address": bounced.address,
        "reason": bounced.reason.value,
        "hard": bounced.hard,
        "status": bounced.status,
        "reply_code": _reply_code(bounced),
        "diagnostic": bounced.diagnostic,
    }


def _bounced_status(request: SendRequest, bounced: BouncedRecipient, now: datetime) -> StatusEvent:
    return StatusEvent(
        request_id=request.request_id,
        tenant=request.tenant,
        message_id=request.message_id,
        recipient=bounced.address,
        status=DeliveryStatus.BOUNCED,
        smtp_code=_reply_code(bounced),
        enhanced_status=bounced.status,
        detail=bounced.diagnostic,
        reason=bounced.reason.value,
        hard=bounced.hard,
        at=now,
    )


def _reply_code(bounced: BouncedRecipient) -> int | None:
    code = bounced.reply_code
    return int(code) if code and code.isdigit() else None


def _mark_recipient(request: SendRequest, bounced: BouncedRecipient, now: datetime) -> None:
    for recipient in request.recipients:
        if recipient.address.lower() == bounced.address.lower():
            recipient.status, recipient.updated_at = DeliveryStatus.BOUNCED.value, now
            recipient.smtp_code, recipient.enhanced_status = _reply_code(bounced), bounced.status
            recipient.detail = bounced.diagnostic
