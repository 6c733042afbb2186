"""The send pipeline: accept an event once, then attempt it until every recipient is final."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.acceptance import Acceptance, Accepted
from mailer.attempt_log import Attempt, AttemptLog
from mailer.coalesce import Coalescer
from mailer.compose import ComposedMessage, Composer
from mailer.errors import MailerError
from mailer.events import DeliveryStatus, SendEvent, StatusEvent
from mailer.intake import InvalidEvent, parse_event
from mailer.pipeline import LeasedPipeline, StatusPublisher, Submission, utcnow
from mailer.retry import RetryPolicy
from mailer.routing import NotSent, Planned, Router
from mailer.senders import SenderDirectory, SharedRelayOnly
from mailer.slots import Slots
from mailer.store import inbox_repository as inbox
from mailer.store import leases, repository
from mailer.store.models import SendRequest
from mailer.transport.base import Envelope, Outcome, RecipientResult, Transport

logger = logging.getLogger(__name__)
DEFAULT_IN_FLIGHT_LIMIT = 512


@dataclass(frozen=True, slots=True)
class _Leased:
    """A request this worker holds the lease of, with what is already known of it."""

    pk: int
    event: SendEvent | None = None
    request: SendRequest | None = None
    """Just accepted by this worker, as stored: it need not be read again."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A leased request ready for one attempt: who can be sent to now, and the route."""

    request: SendRequest
    sendable: tuple[str, ...]
    suppressed: frozenset[str]
    route: Planned | NotSent | None


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
        in_flight_limit: int = DEFAULT_IN_FLIGHT_LIMIT,
    ) -> None:
        super().__init__(
            sessions=sessions, publisher=publisher, policy=policy, lease=lease, clock=clock
        )
        self._router = Router(sessions, composer, transport, directory or SharedRelayOnly(), clock)
        self._composer = composer
        self._slots = Slots(in_flight_limit)
        self._in_flight: set[asyncio.Task[None]] = set()
        # One write transaction at a time: SQLite allows no more, and a second writer would
        # sleep in its busy handler; batched writes are short, so nothing is lost elsewhere.
        writing = asyncio.Lock()
        self._acceptance = Acceptance(
            sessions,
            writing,
            worker_id=self.worker_id,
            lease=lease,
            message_id_domain=composer.identity.message_id_domain,
            clock=clock,
        )
        self._attempts = AttemptLog(sessions, writing, policy, clock)
        self._accept = Coalescer(self._accept_batch)
        self._prepare = Coalescer(self._prepare_batch)
        self._record = Coalescer(self._record_batch)

    @property
    def room_freed(self) -> asyncio.Event:
        """Set when deliveries in flight drop below the limit after reaching it."""
        return self._slots.freed

    async def submit(self, raw: bytes | str | dict[str, Any]) -> Submission:
        """Handle one incoming event end to end; never raises for bad input."""
        return await self._submit(raw, hand_off=False)

    async def take(self, raw: bytes | str | dict[str, Any]) -> Submission:
        """Store the event, then deliver it in the background: the broker may acknowledge now.

        The stored request is the promise: if this process dies, its lease runs out and a
        scheduler attempts it. Beyond `in_flight_limit` deliveries the request waits in the
        store for `run_due`, so a backlog of PDFs holds no consumer slot and no memory."""
        return await self._submit(raw, hand_off=True)

    async def _submit(self, raw: bytes | str | dict[str, Any], *, hand_off: bool) -> Submission:
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
        slot = hand_off and self._slots.take()
        try:
            accepted, announced = await self._accept((event, slot or not hand_off))
            await asyncio.shield(announced)
        except BaseException:
            if slot:
                self._slots.give_back()
            raise
        if accepted.pk is None:
            if slot:
                self._slots.give_back()
            return Submission(None, event.tenant, event.id, duplicate=not accepted.created)
        # A new request is routed from the event at hand; a stored one from its own copy.
        leased = (
            _Leased(accepted.pk, event, accepted.request)
            if accepted.created
            else _Leased(accepted.pk)
        )
        if hand_off:
            self._spawn(leased)
        else:
            await self._attempt(leased)
        return Submission(None, event.tenant, event.id, duplicate=not accepted.created)

    async def run_due(self, limit: int = 100) -> int:
        """Attempt due requests (scheduled, deferred, abandoned, or left for want of room)
        side by side, as many as there is room for; returns when they are done."""
        room = min(limit, self._slots.room)
        if room <= 0:
            return 0
        async with self._sessions() as session:
            due = await leases.due_ids(session, SendRequest, self._clock(), room)
        claimed = [pk for pk in due if await self._claim_if_due(pk)]
        for _pk in claimed:
            self._slots.take()
        try:
            outcomes = await asyncio.gather(
                *(self._attempt(_Leased(pk)) for pk in claimed), return_exceptions=True
            )
        finally:
            for _pk in claimed:
                self._slots.give_back()
        for pk, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, Exception):  # its lease runs out and it is attempted again
                logger.error("delivery deliver-%s failed", pk, exc_info=outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        return len(claimed)

    def _spawn(self, leased: _Leased) -> None:
        task = asyncio.create_task(self._attempt(leased), name=f"deliver-{leased.pk}")
        self._in_flight.add(task)
        task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.give_back()
        if not task.cancelled() and task.exception() is not None:
            # Its lease runs out and a scheduler attempts it again.
            logger.error("delivery %s failed", task.get_name(), exc_info=task.exception())

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - a shutdown budget
        """Let deliveries in flight finish for up to `timeout` s; the rest wait for their lease."""
        if not self._in_flight:
            return
        _done, pending = await asyncio.wait(set(self._in_flight), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def deliver(self, pk: int) -> None:
        """One attempt at a request whose lease this worker holds."""
        await self._attempt(_Leased(pk))

    async def _attempt(self, leased: _Leased) -> None:
        prepared = await self._prepare(leased)
        results, composed = await self._send(prepared)
        attempt = Attempt(prepared.request, tuple(results), prepared.suppressed, composed)
        await asyncio.shield(await self._record(attempt))

    async def _accept_batch(
        self, items: Sequence[tuple[SendEvent, bool]]
    ) -> list[tuple[Accepted, asyncio.Task[None]]]:
        accepted, statuses = await self._acceptance.store(items)
        announced = self._announce(statuses)
        return [(outcome, announced) for outcome in accepted]

    async def _record_batch(self, attempts: Sequence[Attempt]) -> list[asyncio.Task[None]]:
        statuses = await self._attempts.record(attempts)
        return [self._announce(statuses)] * len(attempts)

    def _announce(self, statuses: Sequence[StatusEvent]) -> asyncio.Task[None]:
        """Publish a batch's statuses while the next batch is stored; its callers wait for it
        before going on, so an email's statuses still go out in order."""
        return asyncio.create_task(self._publish(statuses))

    async def _prepare_batch(self, items: Sequence[_Leased]) -> list[_Prepared]:
        """Load leased requests (unless just accepted) and route those with someone left to
        send to. A request just accepted had its suppressed recipients judged then."""
        fresh = {item.pk: item.request for item in items if item.request is not None}
        known = {item.pk: item.event for item in items if item.event is not None}
        async with self._sessions() as session:
            stored = await repository.load_requests(
                session, [item.pk for item in items if item.pk not in fresh]
            )
            requests = {**stored, **fresh}
            waiting = {
                pk: [r.address for r in repository.pending_recipients(request)]
                for pk, request in requests.items()
            }
            suppressed = await inbox.suppressed_pairs(
                session,
                {(stored[pk].tenant, address) for pk in stored for address in waiting[pk]},
            )
            blocked = {
                pk: frozenset(a for a in addresses if (requests[pk].tenant, a) in suppressed)
                for pk, addresses in waiting.items()
            }
            routable = [requests[i.pk] for i in items if set(waiting[i.pk]) - blocked[i.pk]]
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
                request=requests[item.pk],
                sendable=tuple(a for a in waiting[item.pk] if a not in blocked[item.pk]),
                suppressed=blocked[item.pk],
                route=routes.get(item.pk),
            )
            for item in items
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
        request = prepared.request
        try:
            composed = await self._composer.compose(route.draft)
        except MailerError as exc:
            logger.error(
                "cannot compose tenant=%s id=%s: %s", request.tenant, request.request_id, exc
            )
            return [
                RecipientResult(a, Outcome.PERMANENT_FAILURE, detail=str(exc)) for a in sendable
            ], None
        envelope = Envelope(route.envelope_sender, sendable)
        results = list((await route.transport.send(envelope, composed.data)).recipients)
        if route.own_server:
            results = await self._router.check_own_login(request.tenant, request.thread, results)
        return results, composed
