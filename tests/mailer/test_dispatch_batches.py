"""Grouped store work: concurrent events share transactions, and two workers still send once."""

from __future__ import annotations

import asyncio
import email
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer
from mailer.store.database import create_engine, migrate
from mailer.store.models import SendRequest
from mailer.transport.base import Envelope, Outcome, SendResult
from tests.conftest import load_example
from tests.support.databases import temporary_database
from tests.support.pipeline import ScriptedTransport, build_pipeline


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with temporary_database(request.param, tmp_path) as url:
        engine = create_engine(url)
        await migrate(engine)
        try:
            yield engine
        finally:
            await engine.dispose()


def reminders(count: int) -> list[str]:
    """Plain reminders for `count` different invoices."""
    bodies = []
    for n in range(count):
        reminder: dict[str, Any] = load_example("invoice.reminder")
        reminder["id"] = f"reminder-{n}"
        reminder["attach_pdf"] = False
        reminder["data"]["invoice"]["number"] = f"INV-{n}"
        bodies.append(json.dumps(reminder))
    return bodies


def message_ids(transport: ScriptedTransport) -> list[str]:
    return [str(email.message_from_bytes(raw)["Message-ID"]) for _envelope, raw in transport.sent]


async def test_concurrent_events_share_transactions_and_are_each_sent_once(
    engine: AsyncEngine, pdfs: PdfRenderer, renderer: EmailRenderer
) -> None:
    pipeline = build_pipeline(engine, ScriptedTransport(), pdfs, renderer)
    commits = Counter[str]()
    event.listen(engine.sync_engine, "commit", lambda _connection: commits.update(["commit"]))
    bodies = reminders(30)
    outcomes = await asyncio.gather(
        *(pipeline.dispatcher.submit(body) for body in bodies + bodies[:10])
    )
    assert [outcome.duplicate for outcome in outcomes] == [False] * 30 + [True] * 10
    assert len(pipeline.transport.sent) == 30
    assert len(set(message_ids(pipeline.transport))) == 30
    assert Counter(pipeline.statuses()) == {"queued": 30, "sent": 30}
    # Accepting, routing and recording 30 events took a handful of transactions, not 90.
    assert commits["commit"] <= 10


async def test_two_workers_given_the_same_events_send_each_once(
    engine: AsyncEngine, pdfs: PdfRenderer, renderer: EmailRenderer
) -> None:
    first = build_pipeline(engine, ScriptedTransport(), pdfs, renderer)
    second = build_pipeline(engine, ScriptedTransport(), pdfs, renderer)
    bodies = reminders(20)
    await asyncio.gather(
        *(pipeline.dispatcher.submit(body) for body in bodies for pipeline in (first, second))
    )
    sent = message_ids(first.transport) + message_ids(second.transport)
    assert len(sent) == 20 and len(set(sent)) == 20
    assert Counter(first.statuses() + second.statuses()) == {"queued": 20, "sent": 20}


class GatedTransport(ScriptedTransport):
    """Holds every send until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0

    async def send(self, envelope: Envelope, message: bytes) -> SendResult:
        self.waiting += 1
        await self.gate.wait()
        return await super().send(envelope, message)


async def test_take_returns_once_stored_and_delivers_in_the_background(
    engine: AsyncEngine, pdfs: PdfRenderer, renderer: EmailRenderer
) -> None:
    transport = GatedTransport()
    pipeline = build_pipeline(engine, transport, pdfs, renderer)
    [body] = reminders(1)
    outcome = await pipeline.dispatcher.take(body)
    assert not outcome.duplicate and transport.sent == []
    async with pipeline.sessions() as session:
        [request] = (await session.execute(select(SendRequest))).scalars()
        assert request.pending and request.lease_owner == pipeline.dispatcher.worker_id
    transport.gate.set()
    await pipeline.dispatcher.aclose()
    assert len(transport.sent) == 1
    assert pipeline.statuses() == ["queued", "sent"]


async def test_beyond_the_in_flight_limit_events_wait_in_the_store_for_the_scheduler(
    engine: AsyncEngine, pdfs: PdfRenderer, renderer: EmailRenderer
) -> None:
    transport = GatedTransport()
    pipeline = build_pipeline(engine, transport, pdfs, renderer, in_flight_limit=2)
    for body in reminders(5):
        await pipeline.dispatcher.take(body)
    while transport.waiting < 2:
        await asyncio.sleep(0.01)
    async with pipeline.sessions() as session:
        rows = (await session.execute(select(SendRequest))).scalars().all()
    assert sorted(r.lease_owner is not None for r in rows) == [False, False, False, True, True]
    assert await pipeline.dispatcher.run_due() == 0  # no room while two are in flight
    transport.gate.set()
    await pipeline.dispatcher.aclose()
    assert pipeline.dispatcher.room_freed.is_set()
    assert [await pipeline.dispatcher.run_due() for _round in range(3)] == [2, 1, 0]
    assert len(set(message_ids(transport))) == 5 == len(transport.sent)


class FailingTransport(ScriptedTransport):
    """Raises for one recipient, as a transport bug would."""

    def __init__(self, broken: str) -> None:
        super().__init__()
        self.broken = broken

    async def send(self, envelope: Envelope, message: bytes) -> SendResult:
        if self.broken in envelope.recipients:
            raise RuntimeError("transport bug")
        return await super().send(envelope, message)


async def test_one_failing_attempt_does_not_stop_the_others_due_with_it(
    engine: AsyncEngine, pdfs: PdfRenderer, renderer: EmailRenderer
) -> None:
    transport = FailingTransport("customer-1@example.org")
    pipeline = build_pipeline(engine, transport, pdfs, renderer)
    for n, body in enumerate(reminders(3)):
        event = json.loads(body)
        event["send_at"] = "2026-11-23T09:00:00+00:00"
        event["to"] = [{"email": f"customer-{n}@example.org"}]
        await pipeline.dispatcher.submit(json.dumps(event))
    pipeline.clock.now += timedelta(days=1)
    assert await pipeline.dispatcher.run_due() == 3
    assert sorted(envelope.recipients for envelope, _ in transport.sent) == [
        ("customer-0@example.org",),
        ("customer-2@example.org",),
    ]
    assert await pipeline.dispatcher.run_due() == 0  # the failed one keeps its lease...
    pipeline.clock.now += timedelta(minutes=6)
    transport.broken = "nobody"
    assert await pipeline.dispatcher.run_due() == 1  # ...until it runs out
    assert len(transport.sent) == 3


async def test_a_request_just_accepted_is_attempted_and_recorded_without_reading_it_again(
    engine: AsyncEngine, pdfs: PdfRenderer, renderer: EmailRenderer
) -> None:
    pipeline = build_pipeline(engine, ScriptedTransport(), pdfs, renderer)
    statements: list[str] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_args: statements.append(" ".join(statement.split())),
    )
    [body] = reminders(1)
    await pipeline.dispatcher.take(body)
    await pipeline.dispatcher.aclose()
    assert pipeline.statuses() == ["queued", "sent"]
    reads = [s for s in statements if s.startswith("SELECT") and "FROM send_requests" in s]
    # Acceptance looks for a stored duplicate and learns the new key; nothing reads it back.
    assert all("send_requests.request_id IN" in s for s in reads), reads
    assert not [s for s in statements if s.startswith("SELECT") and "FROM recipients" in s]
    async with pipeline.sessions() as session:
        [request] = (await session.execute(select(SendRequest))).scalars()
        await session.refresh(request, ["recipients"])
    assert (request.attempts, request.pending, request.lease_owner) == (1, False, None)
    assert request.first_attempt_at is not None and request.next_attempt_at is None
    assert [(r.status, r.smtp_code) for r in request.recipients] == [("sent", 250)]


async def test_a_deferred_recipient_is_retried_from_the_store_and_the_sent_one_left_alone(
    engine: AsyncEngine, pdfs: PdfRenderer, renderer: EmailRenderer
) -> None:
    transport = ScriptedTransport()
    pipeline = build_pipeline(engine, transport, pdfs, renderer)
    reminder: dict[str, Any] = load_example("invoice.reminder")
    reminder["attach_pdf"] = False
    reminder["cc"] = [{"email": "books@client.example.com"}]
    transport.script["books@client.example.com"] = [Outcome.TEMPORARY_FAILURE]
    await pipeline.dispatcher.submit(json.dumps(reminder))
    pipeline.clock.now += timedelta(hours=1)
    assert await pipeline.dispatcher.run_due() == 1
    async with pipeline.sessions() as session:
        [request] = (await session.execute(select(SendRequest))).scalars()
        await session.refresh(request, ["recipients"])
    assert (request.attempts, request.pending, request.lease_owner) == (2, False, None)
    assert sorted((r.address, r.status) for r in request.recipients) == [
        ("books@client.example.com", "sent"),
        (reminder["to"][0]["email"], "sent"),
    ]
    assert [len(envelope.recipients) for envelope, _raw in transport.sent] == [2, 1]
    assert Counter(pipeline.statuses()) == {"queued": 2, "deferred": 1, "sent": 2}
