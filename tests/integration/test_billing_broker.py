"""The billing core on real brokers: the outbox relay publishes, the status feed consumes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import nats
import pytest
import redis.asyncio as redis
from faststream.redis.parser.binary import BinaryMessageFormatV1
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.broker import (
    BILLING_EXCHANGE,
    BILLING_STREAM,
    BillingBrokerPublisher,
    declare_billing_events,
    register_status_consumers,
)
from billing.events import BillingEvent, BillingEventType, InvoiceFacts
from billing.models import Notification
from billing.notify import Channel
from billing.outbox import OutboxRelay, record, record_event
from billing.status_feed import StatusFeed
from mailer.broker import (
    RABBIT_EXCHANGE,
    SEND_STREAM,
    BrokerKind,
    BrokerPublisher,
    broker_kind,
    create_broker,
)
from mailer.events import SEND_SUBJECT, STATUS_SUBJECT, DeliveryStatus, StatusEvent
from mailer.sms.broker import SMS_STREAM, SmsBrokerPublisher
from mailer.sms.events import SMS_STATUS_SUBJECT
from mailer.store.database import create_engine, migrate, session_factory
from tests.billing.test_status_feed import seed
from tests.integration.conftest import NATS_URL, RABBIT_URL, REDIS_URL, wait_for

pytestmark = pytest.mark.integration

ISSUED = BillingEventType.INVOICE_ISSUED.value
WAIT_SECONDS = 15.0


def now() -> datetime:
    return datetime.now(UTC)


def invoice_issued(tenant: str) -> BillingEvent:
    return BillingEvent.new(
        BillingEventType.INVOICE_ISSUED,
        tenant,
        now(),
        InvoiceFacts(
            invoice_id=1,
            number="INV-0001",
            customer_id=1,
            state="issued",
            currency="EUR",
            total=Decimal("100.00"),
            amount_paid=Decimal("0"),
            balance=Decimal("100.00"),
            issue_date=date(2026, 3, 2),
            version=1,
        ),
    )


@dataclass
class Seen:
    """What an outside client received, by subject."""

    bodies: dict[str, list[bytes]] = field(default_factory=dict)

    def add(self, subject: str, body: bytes) -> None:
        self.bodies.setdefault(subject, []).append(body)

    def has(self, subject: str, needle: str) -> bool:
        return any(needle.encode() in body for body in self.bodies.get(subject, []))


@contextlib.asynccontextmanager
async def outside_listener(url: str, subjects: list[str]) -> AsyncIterator[Seen]:
    """Receive `subjects` as a client that knows nothing of FastStream would."""
    seen = Seen()
    kind = broker_kind(url)
    if kind is BrokerKind.NATS:
        client = await nats.connect(url)

        async def on_message(message: Any) -> None:
            seen.add(message.subject, message.data)

        for subject in subjects:
            await client.subscribe(subject, cb=on_message)
        try:
            yield seen
        finally:
            await client.close()
    elif kind is BrokerKind.RABBIT:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            for subject in subjects:
                name = BILLING_EXCHANGE if subject.startswith("billing.") else RABBIT_EXCHANGE
                exchange = await channel.declare_exchange(
                    name, aio_pika.ExchangeType.TOPIC, durable=True
                )
                await queue.bind(exchange, routing_key=subject)

            async def on_rabbit(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    seen.add(message.routing_key or "", message.body)

            await queue.consume(on_rabbit)
            yield seen
    else:
        reader: Any = redis.from_url(url)
        start = {subject: await _last_stream_id(reader, subject) for subject in subjects}

        async def follow() -> None:
            while True:
                for stream, entries in await reader.xread(start, block=200) or []:
                    for entry_id, fields in entries:
                        start[stream.decode()] = entry_id
                        body, _headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
                        seen.add(stream.decode(), body)

        task = asyncio.create_task(follow())
        try:
            yield seen
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await reader.aclose()


async def _last_stream_id(client: Any, stream: str) -> str:
    try:
        info = await client.xinfo_stream(stream)
    except redis.ResponseError:  # no such stream yet
        return "0"
    last = info["last-generated-id"]
    return last.decode() if isinstance(last, bytes) else str(last)


async def forget_billing_stream() -> None:
    client = await nats.connect(NATS_URL)
    with contextlib.suppress(Exception):
        await client.jetstream().delete_stream(BILLING_STREAM)
    await client.close()


async def stored_in_billing_stream(event_id: str) -> bool:
    """Whether the BILLING stream kept the event, read back through a JetStream consumer."""
    client = await nats.connect(NATS_URL)
    try:
        js = client.jetstream()
        subscription = await js.pull_subscribe(ISSUED, stream=BILLING_STREAM)
        messages = await subscription.fetch(10, timeout=5)
        consumer = (await subscription.consumer_info()).name
        await subscription.unsubscribe()
        await js.delete_consumer(BILLING_STREAM, consumer)
        return any(
            BillingEvent.model_validate_json(message.data).id == event_id for message in messages
        )
    finally:
        await client.close()


async def remove_status_group(url: str, group: str) -> None:
    """Drop what a test's consumer group left on the shared broker."""
    kind = broker_kind(url)
    if kind is BrokerKind.NATS:
        client = await nats.connect(url)
        for stream in (SEND_STREAM, SMS_STREAM):
            with contextlib.suppress(Exception):
                await client.jetstream().delete_consumer(stream, group)
        await client.close()
    elif kind is BrokerKind.RABBIT:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            for subject in (STATUS_SUBJECT, SMS_STATUS_SUBJECT):
                with contextlib.suppress(Exception):
                    await channel.queue_delete(f"{group}.{subject}")
    elif kind is BrokerKind.REDIS:
        streams = redis.from_url(url)
        for subject in (STATUS_SUBJECT, SMS_STATUS_SUBJECT):
            with contextlib.suppress(Exception):
                await streams.xgroup_destroy(subject, group)
        await streams.aclose()


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'billing.db'}")
    await migrate(engine)
    yield session_factory(engine)
    await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [NATS_URL, RABBIT_URL, REDIS_URL, "kafka://127.0.0.1:9092"],
    ids=["nats", "rabbitmq", "redis", "kafka"],
)
def test_every_billing_event_is_in_the_asyncapi_document(url: str) -> None:
    from mailer.api import asyncapi_document  # the HTTP app module: imported only here

    broker = create_broker(url)  # not connected: the document needs no server

    async def ignore(_channel: str, _body: bytes) -> None:
        return None

    declare_billing_events(broker)
    register_status_consumers(broker, ignore)
    document = json.loads(asyncapi_document(broker))
    channels = document["channels"]
    for event_type in BillingEventType:
        assert event_type.value in channels
        payload = json.dumps(document["components"]["messages"])
        assert "#/components/schemas/BillingEvent" in payload
    addresses = {channel.get("address") for channel in channels.values()}
    assert {STATUS_SUBJECT, SMS_STATUS_SUBJECT} <= addresses
    assert "BillingEvent" in document["components"]["schemas"]


@pytest.mark.parametrize(
    "url", [NATS_URL, RABBIT_URL, REDIS_URL], ids=["nats", "rabbitmq", "redis"]
)
async def test_relay_publishes_billing_events_and_sends_and_statuses_come_back(
    url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    token = secrets.token_hex(4)
    tenant, group = f"billing-it-{token}", f"billing-it-{token}"
    if broker_kind(url) is BrokerKind.NATS:
        await forget_billing_stream()

    event = invoice_issued(tenant)
    send_id = f"send-{token}"
    async with sessions() as session, session.begin():
        record_event(session, event)
        record(
            session,
            subject=SEND_SUBJECT,
            tenant=tenant,
            event_id=send_id,
            # Deliberately incomplete: a mailer sharing this broker rejects it, sends nothing.
            payload={"id": send_id, "tenant": tenant},
            now=now(),
        )
    seeded = await seed(sessions, tenant=tenant, request_id=f"req-{token}")
    feed = StatusFeed(sessions, now)
    received: list[tuple[str, StatusEvent]] = []

    async def on_status(channel: str, body: bytes) -> None:
        received.append((channel, StatusEvent.model_validate_json(body)))
        await feed.handle(channel, body)

    broker = create_broker(url)
    declare_billing_events(broker)
    register_status_consumers(broker, on_status, group=group)
    try:
        async with outside_listener(url, [ISSUED, SEND_SUBJECT]) as seen:
            await broker.start()
            relay = OutboxRelay(sessions, BillingBrokerPublisher(broker).publish, now)
            assert await relay.run_once() == 2
            assert await relay.pending() == 0

            await wait_for(lambda: seen.has(ISSUED, event.id), WAIT_SECONDS)
            await wait_for(lambda: seen.has(SEND_SUBJECT, send_id), WAIT_SECONDS)
            [issued] = [b for b in seen.bodies[ISSUED] if event.id.encode() in b]
            assert BillingEvent.model_validate_json(issued) == event
            if broker_kind(url) is BrokerKind.NATS:
                assert await stored_in_billing_stream(event.id)

            request_id = f"req-{token}"
            await BrokerPublisher(broker).publish(
                [StatusEvent(request_id=request_id, tenant=tenant, status=DeliveryStatus.SENT)]
            )
            await SmsBrokerPublisher(broker).publish(
                [StatusEvent(request_id=request_id, tenant=tenant, status=DeliveryStatus.SENT)]
            )

            def came_back(channel: str) -> bool:
                return any(c == channel and s.tenant == tenant for c, s in received)

            await wait_for(lambda: came_back(Channel.EMAIL), WAIT_SECONDS)
            await wait_for(lambda: came_back(Channel.SMS), WAIT_SECONDS)

            async with sessions() as session:
                notification = await session.get(Notification, seeded.notification_id)
            assert notification is not None
            assert notification.status == DeliveryStatus.SENT.value
    finally:
        await broker.stop()
        await remove_status_group(url, group)
