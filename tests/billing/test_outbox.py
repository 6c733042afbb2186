"""The outbox relay: in order, at least once, retried with backoff, shared between relays."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.events import BillingEvent, BillingEventType, InvoiceFacts
from billing.models import OutboxEvent
from billing.outbox import MAX_BACKOFF_SECONDS, OutboxRelay, record, record_event
from mailer.store.database import create_engine, session_factory
from tests.billing.conftest import FakeClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


class FakeBroker:
    """Collects what the relay publishes; fails on demand."""

    def __init__(self, fail_times: int = 0, failure_rate: float = 0.0, seed: int = 7) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.calls = 0
        self._fail_times = fail_times
        self._failure_rate = failure_rate
        self._random = random.Random(seed)

    async def publish(self, subject: str, body: bytes) -> None:
        self.calls += 1
        await asyncio.sleep(0)  # let a concurrent relay run in between
        if self._fail_times > 0:
            self._fail_times -= 1
            raise ConnectionError("broker unreachable")
        if self._random.random() < self._failure_rate:
            raise ConnectionError("broker flaked")
        self.published.append((subject, body))


async def queue(sessions: Sessions, count: int, *, subject: str = "mail.send") -> list[str]:
    ids = [f"evt-{index:03d}" for index in range(count)]
    async with sessions() as session, session.begin():
        for event_id in ids:
            record(
                session,
                subject=subject,
                tenant="acme",
                event_id=event_id,
                payload={"id": event_id},
                now=T0,
            )
    return ids


def published_ids(broker: FakeBroker) -> list[str]:
    return [body.decode().split('"')[3] for _subject, body in broker.published]


async def rows(sessions: Sessions) -> list[OutboxEvent]:
    async with sessions() as session:
        return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars())


async def test_publishes_in_order_and_marks_published(sessions: Sessions) -> None:
    ids = await queue(sessions, 5)
    broker, clock = FakeBroker(), FakeClock(T0)
    relay = OutboxRelay(sessions, broker.publish, clock)

    assert await relay.pending() == 5
    assert await relay.run_once() == 5
    assert published_ids(broker) == ids
    assert all(subject == "mail.send" for subject, _ in broker.published)
    assert await relay.pending() == 0
    assert {row.published_at for row in await rows(sessions)} == {T0}

    clock.advance(seconds=3600)
    assert await relay.run_once() == 0
    assert broker.calls == 5


async def test_events_of_a_rolled_back_transaction_never_leave(sessions: Sessions) -> None:
    async with sessions() as session:
        record(session, subject="mail.send", tenant="acme", event_id="x", payload={}, now=T0)
        await session.rollback()
    broker = FakeBroker()
    assert await OutboxRelay(sessions, broker.publish, FakeClock(T0)).run_once() == 0
    assert broker.calls == 0


async def test_a_failed_publish_is_retried_later_with_growing_backoff(sessions: Sessions) -> None:
    await queue(sessions, 1)
    broker, clock = FakeBroker(fail_times=2), FakeClock(T0)
    relay = OutboxRelay(sessions, broker.publish, clock)

    assert await relay.run_once() == 0
    [row] = await rows(sessions)
    assert (row.attempts, row.published_at) == (1, None)
    assert row.last_error == "ConnectionError: broker unreachable"
    assert row.next_attempt_at == T0 + timedelta(seconds=1)

    assert await relay.run_once() == 0  # not due yet
    assert broker.calls == 1

    clock.advance(seconds=1)
    assert await relay.run_once() == 0
    [row] = await rows(sessions)
    assert row.attempts == 2
    assert row.next_attempt_at == clock.now + timedelta(seconds=2)  # doubled

    clock.advance(seconds=1)
    assert await relay.run_once() == 0
    assert broker.calls == 2

    clock.advance(seconds=1)
    assert await relay.run_once() == 1
    [row] = await rows(sessions)
    assert row.published_at == clock.now
    assert row.last_error is None
    assert await relay.pending() == 0


async def test_backoff_is_capped(sessions: Sessions) -> None:
    await queue(sessions, 1)
    broker, clock = FakeBroker(fail_times=20), FakeClock(T0)
    relay = OutboxRelay(sessions, broker.publish, clock)
    delays = []
    for _ in range(12):
        failed_at = clock.now
        await relay.run_once()
        [row] = await rows(sessions)
        delays.append((row.next_attempt_at - failed_at).total_seconds())
        clock.advance(seconds=MAX_BACKOFF_SECONDS)
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


async def test_a_failing_event_does_not_hold_back_the_others(sessions: Sessions) -> None:
    ids = await queue(sessions, 3)
    broker = FakeBroker(fail_times=1)
    relay = OutboxRelay(sessions, broker.publish, FakeClock(T0))
    assert await relay.run_once() == 2
    assert published_ids(broker) == ids[1:]
    assert await relay.pending() == 1


async def test_a_billing_event_roundtrips_through_the_outbox(sessions: Sessions) -> None:
    event = BillingEvent.new(
        BillingEventType.INVOICE_ISSUED,
        "acme",
        T0,
        InvoiceFacts(
            invoice_id=7,
            number="INV-0007",
            customer_id=3,
            state="issued",
            currency="EUR",
            total=Decimal("121.00"),
            amount_paid=Decimal("0"),
            balance=Decimal("121.00"),
            issue_date=date(2026, 3, 2),
            due_date=date(2026, 4, 1),
            version=1,
        ),
    )
    async with sessions() as session, session.begin():
        record_event(session, event)
    broker = FakeBroker()
    assert await OutboxRelay(sessions, broker.publish, FakeClock(T0)).run_once() == 1

    [(subject, body)] = broker.published
    assert subject == "billing.invoice.issued"
    assert BillingEvent.model_validate_json(body) == event
    [row] = await rows(sessions)
    assert (row.event_id, row.tenant) == (event.id, "acme")


async def two_relays_drain(
    database_url: str, broker: FakeBroker, clock: FakeClock, *, batch: int
) -> list[int]:
    """Two relays with their own engines (as two processes would) until nothing is pending.

    Returns how many events each relay published."""
    engines = [create_engine(database_url) for _ in range(2)]
    counts = [0, 0]
    try:
        relays = [
            OutboxRelay(session_factory(engine), broker.publish, clock, batch=batch)
            for engine in engines
        ]
        for _round in range(200):
            done = await asyncio.gather(*(relay.run_once() for relay in relays))
            counts = [total + new for total, new in zip(counts, done, strict=True)]
            if await relays[0].pending() == 0:
                return counts
            clock.advance(seconds=MAX_BACKOFF_SECONDS)
        raise AssertionError("the relays never drained the outbox")
    finally:
        for engine in engines:
            await engine.dispose()


async def test_two_relays_publish_each_event_exactly_once_without_failures(
    sessions: Sessions, database_url: str
) -> None:
    ids = await queue(sessions, 60)
    broker = FakeBroker()
    counts = await two_relays_drain(database_url, broker, FakeClock(T0), batch=7)
    assert Counter(published_ids(broker)) == Counter(ids)
    assert all(counts), "both relays should have taken a share"
    assert sum(counts) == len(ids)


async def test_two_relays_publish_each_event_at_least_once_with_failures(
    sessions: Sessions, database_url: str
) -> None:
    ids = await queue(sessions, 60)
    broker = FakeBroker(failure_rate=0.3)
    await two_relays_drain(database_url, broker, FakeClock(T0), batch=7)
    assert set(published_ids(broker)) == set(ids)
    assert all(row.published_at is not None for row in await rows(sessions))
