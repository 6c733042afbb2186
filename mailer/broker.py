"""The broker adapter: a FastStream broker chosen by URL, the `mail.send` subscription, publish."""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from faststream._internal.broker import BrokerUsecase
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas import ExchangeType
from faststream.redis import RedisBroker, StreamSub

from mailer.errors import ConfigurationError
from mailer.events import SEND_SUBJECT, STATUS_SUBJECT, SendEvent, StatusEvent

SEND_STREAM = "MAIL"
CONSUMER_GROUP = "mailer"
RABBIT_EXCHANGE = "mail"
# Longer than the worst handling time (PDF timeout plus SMTP timeouts), so the broker
# never hands a message that is still being sent to another worker.
ACK_DEADLINE_SECONDS = 600
STATUS_RETENTION_SECONDS = 7 * 24 * 3600

Handler = Callable[[SendEvent], Awaitable[None]]
AnyBroker = BrokerUsecase[Any, Any]


class BrokerKind(enum.StrEnum):
    """The brokers the service speaks, by URL scheme."""

    NATS = "nats"
    RABBIT = "rabbit"
    KAFKA = "kafka"
    REDIS = "redis"


_SCHEMES = {
    "nats": BrokerKind.NATS,
    "tls": BrokerKind.NATS,
    "amqp": BrokerKind.RABBIT,
    "amqps": BrokerKind.RABBIT,
    "kafka": BrokerKind.KAFKA,
    "redis": BrokerKind.REDIS,
    "rediss": BrokerKind.REDIS,
}


def broker_kind(url: str) -> BrokerKind:
    """Which broker a URL names; ConfigurationError for anything else."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            f"unsupported broker URL scheme {scheme!r}: use nats://, amqp://, kafka:// or redis://"
        )
    return _SCHEMES[scheme]


def create_broker(url: str) -> AnyBroker:
    """A broker for `url`, not yet connected."""
    kind = broker_kind(url)
    if kind is BrokerKind.NATS:
        return NatsBroker(url, log_level=20, apply_types=False)
    if kind is BrokerKind.RABBIT:
        return RabbitBroker(url, log_level=20, apply_types=False)
    if kind is BrokerKind.KAFKA:
        servers = [server for server in urlsplit(url).netloc.split(",") if server]
        return KafkaBroker(servers or "localhost:9092", log_level=20, apply_types=False)
    return RedisBroker(url, log_level=20, apply_types=False)


def _raw_body(message: StreamMessage[Any]) -> bytes:
    """Hand the body over undecoded: the service validates and rejects bad input itself."""
    body = message.body
    return body if isinstance(body, bytes) else bytes(body)


def send_subscriber(broker: AnyBroker, *, max_workers: int) -> Callable[[Handler], Any]:
    """The decorator that subscribes a handler to `mail.send` in the `mailer` consumer group.

    FastStream documents the payload from the handler's annotation; with apply_types off it
    hands over the raw body, which the service validates (and rejects) itself.
    """
    options: dict[str, Any] = {
        "decoder": _raw_body,
        "title": SEND_SUBJECT,
        "description": "Send events: each becomes one rendered, DKIM-signed email.",
    }
    _document_status_channel(broker)
    kind = broker_kind_of(broker)
    subscriber: Any = broker.subscriber
    if kind is BrokerKind.NATS:
        return subscriber(  # type: ignore[no-any-return]
            SEND_SUBJECT,
            stream=send_stream(),
            durable=CONSUMER_GROUP,
            pull_sub=PullSub(batch_size=max(1, max_workers), timeout=1.0),
            config=ConsumerConfig(ack_wait=ACK_DEADLINE_SECONDS),
            max_workers=max_workers,
            **options,
        )
    if kind is BrokerKind.RABBIT:
        return subscriber(  # type: ignore[no-any-return]
            RabbitQueue(SEND_SUBJECT, durable=True, routing_key=SEND_SUBJECT),
            exchange=rabbit_exchange(),
            **options,
        )
    if kind is BrokerKind.KAFKA:
        return subscriber(  # type: ignore[no-any-return]
            SEND_SUBJECT,
            group_id=CONSUMER_GROUP,
            auto_offset_reset="earliest",
            max_workers=max_workers,
            **options,
        )
    return subscriber(  # type: ignore[no-any-return]
        stream=StreamSub(SEND_SUBJECT, group=CONSUMER_GROUP, consumer="mailer-worker"), **options
    )


def _document_status_channel(broker: AnyBroker) -> None:
    publisher: Any = broker.publisher
    publisher(
        STATUS_SUBJECT,
        schema=StatusEvent,
        title=STATUS_SUBJECT,
        description="Every outcome of every send request, one event per recipient.",
    )


def broker_kind_of(broker: AnyBroker) -> BrokerKind:
    for broker_type, kind in (
        (NatsBroker, BrokerKind.NATS),
        (RabbitBroker, BrokerKind.RABBIT),
        (KafkaBroker, BrokerKind.KAFKA),
        (RedisBroker, BrokerKind.REDIS),
    ):
        if isinstance(broker, broker_type):
            return kind
    raise ConfigurationError(f"unsupported broker {type(broker).__name__}")


def send_stream() -> JStream:
    """The JetStream stream over `mail.>` that keeps send events and statuses."""
    return JStream(name=SEND_STREAM, subjects=["mail.>"], max_age=STATUS_RETENTION_SECONDS)


def rabbit_exchange() -> RabbitExchange:
    return RabbitExchange(RABBIT_EXCHANGE, type=ExchangeType.TOPIC, durable=True)


class BrokerPublisher:
    """Publishes send events and status events on whichever broker is configured."""

    def __init__(self, broker: AnyBroker) -> None:
        self._broker = broker
        self._kind = broker_kind_of(broker)

    @property
    def broker(self) -> AnyBroker:
        return self._broker

    async def publish(self, statuses: Sequence[StatusEvent]) -> None:
        """Announce status changes on `mail.status`."""
        for status in statuses:
            await self._send(STATUS_SUBJECT, status.model_dump_json().encode())

    async def publish_send(self, document: dict[str, Any] | bytes) -> None:
        """Publish one send event on `mail.send` (the HTTP and CLI doors use this)."""
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        await self._send(SEND_SUBJECT, body)

    async def _send(self, subject: str, body: bytes) -> None:
        headers = {"content-type": "application/json"}
        broker: Any = self._broker
        if self._kind is BrokerKind.NATS:
            await broker.publish(body, subject, stream=SEND_STREAM, headers=headers)
        elif self._kind is BrokerKind.RABBIT:
            await broker.publish(
                body, routing_key=subject, exchange=rabbit_exchange(), headers=headers
            )
        elif self._kind is BrokerKind.KAFKA:
            await broker.publish(body, subject, headers=headers)
        else:
            await broker.publish(body, stream=subject, headers=headers)
