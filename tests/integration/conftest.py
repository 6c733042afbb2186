"""Fixtures for tests against real servers: brokers on loopback, a DKIM key, settings."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import nats
import pytest
import redis.asyncio as redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from faststream.redis.parser.binary import BinaryMessageFormatV1

from mailer.broker import RABBIT_EXCHANGE, SEND_STREAM, BrokerKind, broker_kind
from mailer.events import SEND_SUBJECT, STATUS_SUBJECT, StatusEvent
from mailer.settings import Settings

NATS_URL = "nats://127.0.0.1:4222"
RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh RSA-2048 key file and its DNS TXT record value."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "var",
        "from_address": "noreply-invoice@mailer.test",
        "bounce_domain": "bounces.mailer.test",
        "retry_initial_delay": 1.0,
        "retry_max_delay": 2.0,
        "scheduler_interval": 0.2,
        "pdf_workers": 2,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def reset_broker(url: str) -> None:
    """Forget what earlier runs left on a shared broker, so each test starts empty."""
    kind = broker_kind(url)
    if kind is BrokerKind.NATS:
        client = await nats.connect(url)
        with contextlib.suppress(Exception):
            await client.jetstream().delete_stream(SEND_STREAM)
        await client.close()
    elif kind is BrokerKind.RABBIT:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(SEND_SUBJECT)
    elif kind is BrokerKind.REDIS:
        client = redis.from_url(url)
        await client.delete(SEND_SUBJECT, STATUS_SUBJECT)
        await client.aclose()


@contextlib.asynccontextmanager
async def status_listener(url: str) -> AsyncIterator[list[StatusEvent]]:
    """Collect what the service publishes on `mail.status`, as an outside consumer would."""
    received: list[StatusEvent] = []
    kind = broker_kind(url)
    if kind is BrokerKind.NATS:
        client = await nats.connect(url)

        async def on_status(message: Any) -> None:
            received.append(StatusEvent.model_validate_json(message.data))

        await client.subscribe(STATUS_SUBJECT, cb=on_status)
        try:
            yield received
        finally:
            await client.close()
        return
    if kind is BrokerKind.REDIS:
        async with _redis_status_reader(url, received):
            yield received
        return
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            RABBIT_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=STATUS_SUBJECT)

        async def on_rabbit_status(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                received.append(StatusEvent.model_validate_json(message.body))

        await queue.consume(on_rabbit_status)
        yield received


@contextlib.asynccontextmanager
async def _redis_status_reader(url: str, received: list[StatusEvent]) -> AsyncIterator[None]:
    """Follow the `mail.status` stream; FastStream wraps each body in its binary envelope."""
    client = redis.from_url(url)

    async def follow() -> None:
        last = "0"
        while True:
            for _stream, entries in await client.xread({STATUS_SUBJECT: last}, block=200) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    body, _headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
                    received.append(StatusEvent.model_validate_json(body))

    task = asyncio.create_task(follow())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 30.0) -> None:
    """Poll until `condition` holds; fail the test with a clear message after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        result = condition()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")
