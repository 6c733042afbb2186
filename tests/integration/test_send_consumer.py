"""`mail.send` on JetStream: events taken side by side, acknowledged once, and never lost."""

from __future__ import annotations

import asyncio
import contextlib
import email
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerInfo
from sqlalchemy import func, select

from consumers.send import Submit, register_send_consumer
from mailer.broker import (
    ACK_DEADLINE_SECONDS,
    CONSUMER_GROUP,
    SEND_STREAM,
    create_broker,
    send_stream,
)
from mailer.embedded_nats import EmbeddedNats
from mailer.events import SEND_SUBJECT
from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer
from mailer.store.database import create_engine, migrate
from mailer.store.models import SendRequest
from tests.integration.conftest import wait_for
from tests.mailer.test_dispatch_batches import reminders
from tests.support.pipeline import Pipeline, ScriptedTransport, build_pipeline

pytestmark = pytest.mark.integration

SHORT_ACK_DEADLINE = 1.0
REDELIVERY_DELAY = 0.2


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    """A private JetStream server, so no other test's `MAIL` stream is touched."""
    server = EmbeddedNats(tmp_path)
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


@pytest.fixture
async def pipeline(
    tmp_path: Path, pdfs: PdfRenderer, renderer: EmailRenderer
) -> AsyncIterator[Pipeline]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}")
    await migrate(engine)
    built = build_pipeline(engine, ScriptedTransport(), pdfs, renderer)
    try:
        yield built
    finally:
        await built.dispatcher.aclose()
        await engine.dispose()


async def publish_backlog(url: str, bodies: list[bytes]) -> None:
    """Events waiting on `mail.send` before the service starts."""
    client = await nats.connect(url)
    try:
        jetstream = client.jetstream()
        await jetstream.add_stream(send_stream().config, subjects=["mail.>"])
        for body in bodies:
            await jetstream.publish(SEND_SUBJECT, body, stream=SEND_STREAM)
    finally:
        await client.close()


async def consumer_info(url: str) -> ConsumerInfo:
    client = await nats.connect(url)
    try:
        info: ConsumerInfo = await client.jetstream().consumer_info(SEND_STREAM, CONSUMER_GROUP)
        return info
    finally:
        await client.close()


async def settled(url: str) -> bool:
    """Nothing left to deliver and nothing waiting for an acknowledgement."""
    info = await consumer_info(url)
    return info.num_pending == 0 and info.num_ack_pending == 0


@contextlib.asynccontextmanager
async def consuming(
    url: str, take: Submit, *, max_workers: int, ack_deadline: float = SHORT_ACK_DEADLINE
) -> AsyncIterator[None]:
    broker = create_broker(url)
    register_send_consumer(
        broker,
        take,
        max_workers=max_workers,
        ack_deadline=ack_deadline,
        redelivery_delay=REDELIVERY_DELAY,
    )
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()


async def test_events_are_taken_side_by_side_at_most_max_workers_and_acknowledged_once(
    nats_url: str,
) -> None:
    bodies = [f'{{"id": "event-{n}"}}'.encode() for n in range(10)]
    await publish_backlog(nats_url, bodies)
    taken: list[bytes] = []
    running = 0
    gate = asyncio.Event()

    async def take(body: bytes) -> None:
        nonlocal running
        running += 1
        try:
            await gate.wait()
        finally:
            running -= 1
        taken.append(body)

    async with consuming(nats_url, take, max_workers=4):
        await wait_for(lambda: running == 4, timeout=10)
        await asyncio.sleep(0.3)
        assert running == 4
        gate.set()
        await wait_for(lambda: len(taken) == len(bodies), timeout=10)
        await wait_for(lambda: settled(nats_url), timeout=10)
        await asyncio.sleep(SHORT_ACK_DEADLINE + 0.5)  # an unacknowledged one is back by now

    assert sorted(taken) == sorted(bodies)
    info = await consumer_info(nats_url)
    assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (0, 0, 0)


async def test_events_whose_store_failed_are_redelivered_and_stored_once(
    nats_url: str, pipeline: Pipeline
) -> None:
    bodies = [body.encode() for body in reminders(10)]
    await publish_backlog(nats_url, bodies)
    failing = {bodies[0], bodies[2], bodies[7]}
    seen = Counter[bytes]()

    async def take(body: bytes) -> None:
        seen[body] += 1
        if body in failing:
            failing.discard(body)
            raise RuntimeError("the store is unavailable")
        await pipeline.dispatcher.take(body)

    async def all_stored() -> bool:
        async with pipeline.sessions() as session:
            count = await session.scalar(select(func.count()).select_from(SendRequest))
        return count == len(bodies)

    async with consuming(nats_url, take, max_workers=4):
        await wait_for(lambda: not failing, timeout=10)
        await wait_for(all_stored, timeout=15)  # FastStream's default, `term`, never gets here
        await wait_for(lambda: settled(nats_url), timeout=10)
    await pipeline.dispatcher.aclose()

    assert all(seen[body] == 2 for body in (bodies[0], bodies[2], bodies[7]))
    assert Counter(pipeline.statuses()) == {"queued": 10, "sent": 10}
    transport = pipeline.transport
    assert isinstance(transport, ScriptedTransport)
    message_ids = {email.message_from_bytes(raw)["Message-ID"] for _env, raw in transport.sent}
    assert len(transport.sent) == len(message_ids) == 10


async def test_bad_events_are_rejected_once_and_the_good_ones_sent(
    nats_url: str, pipeline: Pipeline
) -> None:
    good = [body.encode() for body in reminders(4)]
    bad = [b'{"id": "broken", "tenant": "acme"', b'{"id": "no-template", "tenant": "acme"}']
    bodies = [good[0], bad[0], good[1], good[2], bad[1], good[3]]
    await publish_backlog(nats_url, bodies)
    seen = Counter[bytes]()

    async def take(body: bytes) -> None:
        seen[body] += 1
        await pipeline.dispatcher.take(body)

    async with consuming(nats_url, take, max_workers=8):
        await wait_for(lambda: sum(seen.values()) == len(bodies), timeout=10)
        await wait_for(lambda: settled(nats_url), timeout=10)
        await asyncio.sleep(SHORT_ACK_DEADLINE + 0.5)
    await pipeline.dispatcher.aclose()

    assert seen == Counter(bodies)  # each taken once: a rejected event is not redelivered
    assert Counter(pipeline.statuses()) == {"rejected": 2, "queued": 4, "sent": 4}


async def test_events_published_at_a_steady_pace_are_each_taken_promptly(
    nats_url: str,
) -> None:
    """With the real ack deadline, an event the consumer fetched and dropped would be late."""
    await publish_backlog(nats_url, [])
    taken = Counter[bytes]()

    async def take(body: bytes) -> None:
        taken[body] += 1

    bodies = [f'{{"id": "paced-{n}"}}'.encode() for n in range(1000)]
    async with consuming(nats_url, take, max_workers=64, ack_deadline=ACK_DEADLINE_SECONDS):
        client = await nats.connect(nats_url)
        try:
            jetstream = client.jetstream()
            for body in bodies:
                await jetstream.publish(SEND_SUBJECT, body, stream=SEND_STREAM)
                await asyncio.sleep(0.001)
        finally:
            await client.close()
        await wait_for(lambda: len(taken) == len(bodies), timeout=10)
        await wait_for(lambda: settled(nats_url), timeout=10)

    assert taken == Counter(bodies)
