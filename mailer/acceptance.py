"""Accepting send events in batches: duplicates found, recipients judged, new work leased."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.attempt_log import SUPPRESSED_DETAIL, request_status
from mailer.catalog import CATALOG, TemplateSpec, resolve_locale
from mailer.events import DeliveryStatus, SendEvent, StatusEvent
from mailer.mime import make_message_id
from mailer.store import inbox_repository as inbox
from mailer.store import leases, repository
from mailer.store.models import Recipient, SendRequest, TemplateSetting
from mailer.threads import thread_key

__all__ = ["Acceptance", "Accepted"]

logger = logging.getLogger(__name__)
_TRIES = 3


@dataclass(frozen=True, slots=True)
class Accepted:
    """What acceptance made of one event: the request to attempt now (leased), and novelty."""

    pk: int | None
    created: bool
    request: SendRequest | None = None
    """A new request leased now, as stored (detached): attempting it needs no reload."""


class Acceptance:
    """Stores each event once, in one transaction per batch; new requests due now are leased."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writing: asyncio.Lock,
        *,
        worker_id: str,
        lease: timedelta,
        message_id_domain: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._writing = writing
        self.worker_id = worker_id
        self._lease = lease
        self._message_id_domain = message_id_domain
        self._clock = clock

    async def store(
        self, items: Sequence[tuple[SendEvent, bool]]
    ) -> tuple[list[Accepted], list[StatusEvent]]:
        """Store each event once; new requests due now come back leased to this worker.

        Another worker storing the same event (or thread) at the same moment makes the
        transaction fail on a unique key: the batch is then tried again and finds its rows."""
        for attempt in range(_TRIES):
            try:
                return await self._store_batch(items)
            except IntegrityError:
                if attempt == _TRIES - 1:
                    raise
                logger.info("a batch of %d events met concurrent inserts; retrying", len(items))
        raise AssertionError("unreachable")

    async def _store_batch(
        self, items: Sequence[tuple[SendEvent, bool]]
    ) -> tuple[list[Accepted], list[StatusEvent]]:
        """`items` are events, each with whether this worker may lease it now."""
        now = self._clock()
        events = [event for event, _may_lease in items]
        recipients = {(event.tenant, event.id): _distinct_recipients(event) for event in events}
        async with self._writing, self._sessions() as session:
            stored = await repository.find_requests(session, recipients)
            overrides = await repository.template_overrides(session, {e.tenant for e in events})
            suppressed = await inbox.suppressed_pairs(
                session, {(t, address) for (t, _id), rs in recipients.items() for _k, address in rs}
            )
            new: dict[tuple[str, str], SendRequest] = {}
            accepted: list[Accepted] = []
            for event, may_lease in items:
                key = (event.tenant, event.id)
                if key in stored or key in new:
                    logger.info("duplicate event tenant=%s id=%s", event.tenant, event.id)
                    existing = stored.get(key)
                    retry = may_lease and existing is not None and existing.pending
                    accepted.append(Accepted(existing.id if retry and existing else None, False))
                    continue
                enabled = _template_enabled(overrides, event.tenant, CATALOG[event.template])
                blocked = {a for t, a in suppressed if t == event.tenant}
                new[key] = self._new_request(
                    event, recipients[key], enabled, blocked, now, may_lease=may_lease
                )
                accepted.append(Accepted(None, True))
            await self._add_threads(session, new.values(), now)
            await self._insert_requests(session, new)
            accepted = [
                await self._lease_accepted(session, event, outcome, new, stored, now)
                for event, outcome in zip(events, accepted, strict=True)
            ]
            statuses = [
                request_status(now, request, r.address, DeliveryStatus(r.status), detail=r.detail)
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
        outcome: Accepted,
        new: dict[tuple[str, str], SendRequest],
        stored: dict[tuple[str, str], SendRequest],
        now: datetime,
    ) -> Accepted:
        """A new request due now was stored leased; a stored one still waiting is claimed."""
        key = (event.tenant, event.id)
        if outcome.created:
            request = new[key]
            if request.lease_owner is None:
                return Accepted(None, True)
            return Accepted(request.id, True, request)
        if outcome.pk is None:
            return outcome
        until = now + self._lease
        claimed = await leases.claim_due(
            session, SendRequest, outcome.pk, self.worker_id, until, now
        )
        return Accepted(outcome.pk if claimed else None, False)

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
        await repository.insert_all(
            session, list(new.values()), identified_by=("tenant", "request_id")
        )
        for request in new.values():
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
        *,
        may_lease: bool,
    ) -> SendRequest:
        rows = [
            _initial_recipient(kind, address, enabled, address in suppressed, now)
            for kind, address in recipients
        ]
        pending = any(r.status == DeliveryStatus.QUEUED.value for r in rows)
        send_at = event.send_at.astimezone(UTC) if event.send_at else now
        due_now = pending and send_at <= now and may_lease
        return SendRequest(
            tenant=event.tenant,
            request_id=event.id,
            template=event.template.value,
            locale=resolve_locale(event.locale),
            thread=thread_key(event),
            event=event.model_dump(mode="json", by_alias=True),
            message_id=make_message_id(event.tenant, event.id, self._message_id_domain),
            verp_token=inbox.new_token(),
            created_at=now,
            pending=pending,
            next_attempt_at=max(send_at, now) if pending else None,
            attempts=0,
            lease_owner=self.worker_id if due_now else None,
            lease_until=now + self._lease if due_now else None,
            recipients=rows,
        )


def _template_enabled(
    overrides: dict[tuple[str, str], TemplateSetting], tenant: str, spec: TemplateSpec
) -> bool:
    override = overrides.get((tenant, spec.name.value))
    if override is not None and override.enabled is not None:
        return override.enabled
    return spec.enabled_by_default


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
