"""Recording attempts in batches: recipient statuses, retries, thread entries, the status log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.compose import ComposedMessage
from mailer.events import DeliveryStatus, StatusEvent
from mailer.retry import RetryPolicy
from mailer.store import inbox_repository as inbox
from mailer.store import repository
from mailer.store.inbox_models import EntryDirection, Thread, ThreadEntry
from mailer.store.models import Recipient, SendRequest
from mailer.transport.base import Outcome, RecipientResult

__all__ = ["SUPPRESSED_DETAIL", "Attempt", "AttemptLog", "request_status"]

SUPPRESSED_DETAIL = "address is on the tenant's suppression list"
_WAITING = {DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value}


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one attempt at a leased request, to record."""

    request: SendRequest
    """As read before the attempt (detached): the lease kept it from changing since."""
    results: tuple[RecipientResult, ...]
    suppressed: frozenset[str]
    composed: ComposedMessage | None


class AttemptLog:
    """Brings requests up to date with their attempts and releases their leases."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writing: asyncio.Lock,
        policy: RetryPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._writing = writing
        self._policy = policy
        self._clock = clock

    async def record(self, attempts: Sequence[Attempt]) -> list[StatusEvent]:
        """Record attempts in one transaction; the status changes, to announce."""
        now = self._clock()
        statuses: list[StatusEvent] = []
        changed: list[Recipient] = []
        # Entries are written with the attempt that sent: never attempted, none can exist yet.
        attempted_before = {a.request.id for a in attempts if a.request.attempts}
        for attempt in attempts:
            statuses += self._apply(attempt, now, changed)
        sent = {
            a.request.id: a for a in attempts if a.composed is not None and _any_sent(a.results)
        }
        async with self._writing, self._sessions() as session:
            has_entry = await inbox.with_outgoing_entry(session, sent.keys() & attempted_before)
            threads = await inbox.threads_by_key(
                session, {(a.request.tenant, a.request.thread) for a in sent.values()}
            )
            entries: list[ThreadEntry] = []
            for pk, attempt in sent.items():
                request, composed = attempt.request, attempt.composed
                if pk in has_entry or composed is None:
                    continue
                thread = threads.get((request.tenant, request.thread)) or (
                    await inbox.ensure_thread(session, request.tenant, request.thread, "", now)
                )
                entries.append(_outgoing_entry(thread, request, composed, now))
            await repository.save_attempts(session, [a.request for a in attempts], changed)
            await repository.insert_all(session, entries)
            await repository.add_status_records(session, statuses)
            await session.commit()
        return statuses

    def _apply(
        self, attempt: Attempt, now: datetime, changed: list[Recipient]
    ) -> list[StatusEvent]:
        """Bring the request up to date with one attempt (recipients changed go to `changed`);
        the status changes."""
        request = attempt.request
        by_address = {result.recipient: result for result in attempt.results}
        statuses: list[StatusEvent] = []
        if attempt.results:
            request.attempts += 1
            request.first_attempt_at = request.first_attempt_at or now
        retry_at: datetime | None = None
        for recipient in request.recipients:
            if recipient.address in attempt.suppressed and recipient.status in _WAITING:
                _set(recipient, DeliveryStatus.SUPPRESSED, now, detail=SUPPRESSED_DETAIL)
                changed.append(recipient)
                suppressed = DeliveryStatus.SUPPRESSED
                statuses.append(
                    request_status(
                        now, request, recipient.address, suppressed, detail=SUPPRESSED_DETAIL
                    )
                )
                continue
            result = by_address.get(recipient.address)
            if result is None:
                continue
            status, next_at = self._judge(result, request, now)
            retry_at = min(filter(None, (retry_at, next_at)), default=None)
            _set(recipient, status, now, result=result)
            changed.append(recipient)
            statuses.append(request_status(now, request, recipient.address, status, result=result))
        request.pending = bool(repository.pending_recipients(request))
        request.next_attempt_at = retry_at if request.pending else None
        request.lease_owner, request.lease_until = None, None
        return statuses

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


def request_status(
    at: datetime,
    request: SendRequest,
    recipient: str,
    status: DeliveryStatus,
    *,
    result: RecipientResult | None = None,
    detail: str | None = None,
) -> StatusEvent:
    """The status event of one recipient of one request."""
    return StatusEvent(
        request_id=request.request_id,
        tenant=request.tenant,
        message_id=request.message_id,
        recipient=recipient,
        status=status,
        smtp_code=result.smtp_code if result else None,
        enhanced_status=result.enhanced_status if result else None,
        detail=(result.detail or None) if result else detail,
        at=at,
    )


def _any_sent(results: Sequence[RecipientResult]) -> bool:
    return any(result.outcome is Outcome.ACCEPTED for result in results)


def _outgoing_entry(
    thread: Thread, request: SendRequest, composed: ComposedMessage, now: datetime
) -> ThreadEntry:
    """The first time a message goes out, it joins its thread in the A/R inbox."""
    thread.subject = thread.subject or composed.subject[:500]
    thread.updated_at = max(thread.updated_at, now)
    return ThreadEntry(
        thread_id=thread.id,
        tenant=thread.tenant,
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
