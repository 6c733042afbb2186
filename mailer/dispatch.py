"""The send pipeline: accept an event once, then attempt it until every recipient is final."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.catalog import CATALOG, TemplateSpec, resolve_locale
from mailer.coalesce import Coalescer
from mailer.compose import ComposedMessage, Composer
from mailer.errors import MailerError
from mailer.events import DeliveryStatus, SendEvent, StatusEvent
from mailer.intake import InvalidEvent, parse_event
from mailer.mime import make_message_id
from mailer.pipeline import LeasedPipeline, StatusPublisher, Submission, utcnow
from mailer.retry import RetryPolicy
from mailer.routing import NotSent, Planned, Router
from mailer.senders import SenderDirectory, SharedRelayOnly
from mailer.store import inbox_repository as inbox
from mailer.store import leases, repository
from mailer.store.inbox_models import EntryDirection, Thread, ThreadEntry
from mailer.store.models import Recipient, SendRequest, TemplateSetting
from mailer.threads import thread_key
from mailer.transport.base import Envelope, Outcome, RecipientResult, Transport

logger = logging.getLogger(__name__)
SUPPRESSED_DETAIL = "address is on the tenant's suppression list"


@dataclass(frozen=True, slots=True)
class _Accepted:
    """What acceptance made of one event: the request to attempt now (leased), and novelty."""

    pk: int | None
    created: bool


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A leased request ready for one attempt: who can be sent to now, and the route."""

    pk: int
    tenant: str
    request_id: str
    thread: str
    sendable: tuple[str, ...]
    suppressed: frozenset[str]
    route: Planned | NotSent | None


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The outcome of one attempt, to record."""

    pk: int
    results: tuple[RecipientResult, ...]
    suppressed: frozenset[str]
    composed: ComposedMessage | None


class Dispatcher(LeasedPipeline):
    """Runs the send pipeline against the store, a composer and a transport.

    The store work of concurrent events is grouped: events that arrive while a transaction
    runs are accepted together in the next one, and so are routes and attempt records, so
    the cost of a transaction is shared by a whole batch under load.
    """

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
        self._accept = Coalescer(self._accept_batch)
        self._prepare = Coalescer(self._prepare_batch)
        self._record = Coalescer(self._record_batch)
        # One write transaction at a time: SQLite allows no more, and a second writer would
        # sleep in its busy handler; batched writes are short, so nothing is lost elsewhere.
        self._writing = asyncio.Lock()

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
        accepted = await self._accept(event)
        if accepted.pk is not None:
            # A new request is routed from the event at hand; a stored one from its own copy.
            await self._attempt(accepted.pk, event if accepted.created else None)
        return Submission(None, event.tenant, event.id, duplicate=not accepted.created)

    async def deliver(self, pk: int) -> None:
        """One attempt at a request whose lease this worker holds."""
        await self._attempt(pk, None)

    async def _attempt(self, pk: int, event: SendEvent | None) -> None:
        prepared = await self._prepare((pk, event))
        results, composed = await self._send(prepared)
        await self._record(_Attempt(pk, tuple(results), prepared.suppressed, composed))

    async def _accept_batch(self, events: Sequence[SendEvent]) -> list[_Accepted]:
        """Store each event once; new requests due now come back leased to this worker.

        Another worker storing the same event (or thread) at the same moment makes the
        transaction fail on a unique key: the batch is then tried again and finds its rows."""
        for attempt in range(_ACCEPT_TRIES):
            try:
                accepted, statuses = await self._store_batch(events)
            except IntegrityError:
                if attempt == _ACCEPT_TRIES - 1:
                    raise
                logger.info("a batch of %d events met concurrent inserts; retrying", len(events))
            else:
                await self._publish(statuses)
                return accepted
        raise AssertionError("unreachable")

    async def _store_batch(
        self, events: Sequence[SendEvent]
    ) -> tuple[list[_Accepted], list[StatusEvent]]:
        now = self._clock()
        recipients = {(event.tenant, event.id): _distinct_recipients(event) for event in events}
        async with self._writing, self._sessions() as session:
            stored = await repository.find_requests(session, recipients)
            overrides = await repository.template_overrides(session, {e.tenant for e in events})
            suppressed = await inbox.suppressed_pairs(
                session, {(t, address) for (t, _id), rs in recipients.items() for _k, address in rs}
            )
            new: dict[tuple[str, str], SendRequest] = {}
            accepted: list[_Accepted] = []
            for event in events:
                key = (event.tenant, event.id)
                if key in stored or key in new:
                    logger.info("duplicate event tenant=%s id=%s", event.tenant, event.id)
                    existing = stored.get(key)
                    retry = existing is not None and existing.pending
                    accepted.append(_Accepted(existing.id if retry and existing else None, False))
                    continue
                enabled = _template_enabled(overrides, event.tenant, CATALOG[event.template])
                blocked = {a for t, a in suppressed if t == event.tenant}
                new[key] = self._new_request(event, recipients[key], enabled, blocked, now)
                accepted.append(_Accepted(None, True))
            await self._add_threads(session, new.values(), now)
            await self._insert_requests(session, new)
            accepted = [
                await self._lease_accepted(session, event, outcome, new, stored, now)
                for event, outcome in zip(events, accepted, strict=True)
            ]
            statuses = [
                self._status(request, r.address, DeliveryStatus(r.status), detail=r.detail)
                for request in new.values()
                for r in request.recipients
            ]
            await repository.add_status_records(session, statuses)
            await session.commit()
        return accepted, statuses

    async def _lease_accepted(
        self,
        session: AsyncSession,
        event: SendEvent,
        outcome: _Accepted,
        new: dict[tuple[str, str], SendRequest],
        stored: dict[tuple[str, str], SendRequest],
        now: datetime,
    ) -> _Accepted:
        """A new request due now was stored leased; a stored one still waiting is claimed."""
        key = (event.tenant, event.id)
        if outcome.created:
            request = new[key]
            return _Accepted(request.id if request.lease_owner else None, True)
        if outcome.pk is None:
            return outcome
        until = now + self._lease
        claimed = await leases.claim_due(
            session, SendRequest, outcome.pk, self.worker_id, until, now
        )
        return _Accepted(outcome.pk if claimed else None, False)

    @staticmethod
    async def _add_threads(
        session: AsyncSession, requests: Iterable[SendRequest], now: datetime
    ) -> None:
        keys = {(request.tenant, request.thread) for request in requests}
        existing = await inbox.threads_by_key(session, keys)
        missing = [inbox.new_thread(tenant, key, "", now) for tenant, key in keys - existing.keys()]
        await repository.insert_all(session, missing)

    @staticmethod
    async def _insert_requests(
        session: AsyncSession, new: dict[tuple[str, str], SendRequest]
    ) -> None:
        """Store the new requests and their recipients in two statements; their keys are set."""
        await repository.insert_all(session, list(new.values()))
        pks = await repository.request_ids(session, new)
        for key, request in new.items():
            request.id = pks[key]
            for recipient in request.recipients:
                recipient.send_request_id = request.id
        await repository.insert_all(session, [r for req in new.values() for r in req.recipients])

    def _new_request(
        self,
        event: SendEvent,
        recipients: list[tuple[str, str]],
        enabled: bool,
        suppressed: set[str],
        now: datetime,
    ) -> SendRequest:
        rows = [
            _initial_recipient(kind, address, enabled, address in suppressed, now)
            for kind, address in recipients
        ]
        pending = any(r.status == DeliveryStatus.QUEUED.value for r in rows)
        send_at = event.send_at.astimezone(UTC) if event.send_at else now
        due_now = pending and send_at <= now
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
            lease_owner=self.worker_id if due_now else None,
            lease_until=now + self._lease if due_now else None,
            recipients=rows,
        )

    async def _prepare_batch(
        self, items: Sequence[tuple[int, SendEvent | None]]
    ) -> list[_Prepared]:
        """Load leased requests and route those with someone left to send to."""
        pks = [pk for pk, _event in items]
        known = {pk: event for pk, event in items if event is not None}
        async with self._sessions() as session:
            requests = await repository.load_requests(session, pks)
            waiting = {
                pk: [r.address for r in repository.pending_recipients(request)]
                for pk, request in requests.items()
            }
            suppressed = await inbox.suppressed_pairs(
                session,
                {(requests[pk].tenant, address) for pk, addresses in waiting.items()
                 for address in addresses},
            )  # fmt: skip
            blocked = {
                pk: frozenset(a for a in addresses if (requests[pk].tenant, a) in suppressed)
                for pk, addresses in waiting.items()
            }
            routable = [requests[pk] for pk in pks if set(waiting[pk]) - blocked[pk]]
            routes = dict(
                zip(
                    [request.id for request in routable],
                    await self._router.plan(session, routable, known),
                    strict=True,
                )
            )
            await session.commit()
        return [
            _Prepared(
                pk=pk,
                tenant=requests[pk].tenant,
                request_id=requests[pk].request_id,
                thread=requests[pk].thread,
                sendable=tuple(a for a in waiting[pk] if a not in blocked[pk]),
                suppressed=blocked[pk],
                route=routes.get(pk),
            )
            for pk in pks
        ]

    async def _send(
        self, prepared: _Prepared
    ) -> tuple[list[RecipientResult], ComposedMessage | None]:
        """One attempt at the recipients that can be sent to; never raises for delivery trouble."""
        route, sendable = prepared.route, prepared.sendable
        if route is None:
            return [], None
        if isinstance(route, NotSent):
            return [RecipientResult(a, route.outcome, detail=route.detail) for a in sendable], None
        try:
            composed = await self._composer.compose(route.draft)
        except MailerError as exc:
            logger.error(
                "cannot compose tenant=%s id=%s: %s", prepared.tenant, prepared.request_id, exc
            )
            return [
                RecipientResult(a, Outcome.PERMANENT_FAILURE, detail=str(exc)) for a in sendable
            ], None
        envelope = Envelope(route.envelope_sender, sendable)
        results = list((await route.transport.send(envelope, composed.data)).recipients)
        if route.own_server:
            results = await self._router.check_own_login(prepared.tenant, prepared.thread, results)
        return results, composed

    async def _record_batch(self, attempts: Sequence[_Attempt]) -> list[None]:
        now = self._clock()
        statuses: list[StatusEvent] = []
        async with self._writing, self._sessions() as session:
            requests = await repository.load_requests(session, [a.pk for a in attempts])
            sent = {a.pk for a in attempts if a.composed is not None and _any_sent(a.results)}
            has_entry = await inbox.with_outgoing_entry(session, sent)
            threads = await inbox.threads_by_key(
                session, {(requests[pk].tenant, requests[pk].thread) for pk in sent}
            )
            entries: list[ThreadEntry] = []
            for attempt in attempts:
                request = requests[attempt.pk]
                statuses += self._apply(request, attempt, now)
                if attempt.pk in sent - has_entry and attempt.composed:
                    thread = threads.get((request.tenant, request.thread)) or (
                        await inbox.ensure_thread(session, request.tenant, request.thread, "", now)
                    )
                    entries.append(_outgoing_entry(thread, request, attempt.composed, now))
            await repository.insert_all(session, entries)
            await repository.add_status_records(session, statuses)
            await session.commit()
        await self._publish(statuses)
        return [None] * len(attempts)

    def _apply(self, request: SendRequest, attempt: _Attempt, now: datetime) -> list[StatusEvent]:
        """Bring the request's recipients up to date with one attempt; the status changes."""
        by_address = {result.recipient: result for result in attempt.results}
        statuses: list[StatusEvent] = []
        if attempt.results:
            request.attempts += 1
            request.first_attempt_at = request.first_attempt_at or now
        retry_at: datetime | None = None
        for recipient in request.recipients:
            if recipient.address in attempt.suppressed and recipient.status in _WAITING:
                _set(recipient, DeliveryStatus.SUPPRESSED, now, detail=SUPPRESSED_DETAIL)
                statuses.append(
                    self._status(
                        request, recipient.address, DeliveryStatus.SUPPRESSED,
                        detail=SUPPRESSED_DETAIL,
                    )
                )  # fmt: skip
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
_ACCEPT_TRIES = 3


def _template_enabled(
    overrides: dict[tuple[str, str], TemplateSetting], tenant: str, spec: TemplateSpec
) -> bool:
    override = overrides.get((tenant, spec.name.value))
    if override is not None and override.enabled is not None:
        return override.enabled
    return spec.enabled_by_default


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
