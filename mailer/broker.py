"""The broker adapter: a FastStream broker chosen by URL, channel subscriptions, publishing."""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from faststream._internal.broker import BrokerUsecase
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas import ExchangeType
from faststream.redis import RedisBroker, StreamSub

from mailer.errors import ConfigurationError
from mailer.events import SEND_SUBJECT, STATUS_SUBJECT, SendEvent, StatusEvent

logger = logging.getLogger(__name__)

SEND_STREAM = "MAIL"
CONSUMER_GROUP = "mailer"
RABBIT_EXCHANGE = "mail"
# Longer than the worst handling time (PDF timeout plus SMTP timeouts), so the broker
# never hands a message that is still being sent to another worker.
ACK_DEADLINE_SECONDS = 600
# When a handler raises (the store failed), JetStream redelivers the event after this delay;
# FastStream's default would `term` it, and it would never come back. Redelivering an event
# that was stored after all is harmless (the service deduplicates), losing one is not.
REDELIVERY_DELAY_SECONDS = 5.0
STATUS_RETENTION_SECONDS = 7 * 24 * 3600
# How long one pull from JetStream may wait for its batch to fill: nats-py returns a pull that
# found the stream empty only when its batch is full or this time is up. At 200 events/s a
# 1 s wait about doubled the p99 from publish to send; a shorter one costs idle pull requests.
FETCH_WAIT_SECONDS = 0.1
# FastStream's line per message received and processed: debug, since at month-end volumes
# two lines per email would cost more than the email; outcomes are logged with their ids.
MESSAGE_LOG_LEVEL = logging.DEBUG

Handler = Callable[[SendEvent], Awaitable[None]]
RawHandler = Callable[[Any], Awaitable[None]]
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
        return NatsBroker(url, log_level=MESSAGE_LOG_LEVEL, apply_types=False)
    if kind is BrokerKind.RABBIT:
        return RabbitBroker(url, log_level=MESSAGE_LOG_LEVEL, apply_types=False)
    if kind is BrokerKind.KAFKA:
        servers = [server for server in urlsplit(url).netloc.split(",") if server]
        return KafkaBroker(
            servers or "localhost:9092", log_level=MESSAGE_LOG_LEVEL, apply_types=False
        )
    return RedisBroker(url, log_level=MESSAGE_LOG_LEVEL, apply_types=False)


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    """Hand the body over undecoded: the service validates and rejects bad input itself.

    A coroutine, because FastStream runs a plain function in a thread pool, message by message.
    """
    body = message.body
    return body if isinstance(body, bytes) else bytes(body)


def _nacked_on_failure(handle: RawHandler, subject: str, delay: float) -> RawHandler:
    """`handle`, with a failure turned into a nack: JetStream redelivers in `delay` seconds."""

    @functools.wraps(handle)  # FastStream documents the payload from the wrapped signature
    async def handle_or_nack(body: Any) -> None:
        try:
            await handle(body)
        except Exception as exc:
            logger.error("%s event not taken; redelivered in %s s", subject, delay, exc_info=exc)
            raise NackMessage(delay=delay) from exc

    return handle_or_nack


@dataclass(frozen=True, slots=True)
class Channel:
    """What one channel (email, SMS) is called on the broker; the mechanism is shared."""

    send_subject: str
    status_subject: str
    stream: str
    stream_subjects: tuple[str, ...]
    group: str
    redis_consumer: str
    description: str
    status_description: str


MAIL_CHANNEL = Channel(
    send_subject=SEND_SUBJECT,
    status_subject=STATUS_SUBJECT,
    stream=SEND_STREAM,
    stream_subjects=("mail.>",),
    group=CONSUMER_GROUP,
    redis_consumer="mailer-worker",
    description="Send events: each becomes one rendered, DKIM-signed email.",
    status_description="Every outcome of every send request, one event per recipient.",
)


def channel_subscriber(
    broker: AnyBroker,
    channel: Channel,
    *,
    max_workers: int,
    ack_deadline: float = ACK_DEADLINE_SECONDS,
    redelivery_delay: float = REDELIVERY_DELAY_SECONDS,
) -> Callable[[RawHandler], Any]:
    """The decorator that subscribes a handler to `channel`'s send subject in its group.

    FastStream documents the payload from the handler's annotation; with apply_types off it
    hands over the raw body, which the service validates (and rejects) itself. On JetStream
    an event whose handler raises comes back after `redelivery_delay` seconds, and one not
    answered within `ack_deadline` seconds goes to another worker.
    """
    options: dict[str, Any] = {
        "decoder": _raw_body,
        "title": channel.send_subject,
        "description": channel.description,
    }
    _document_status_channel(broker, channel)
    kind = broker_kind_of(broker)
    subscriber: Any = broker.subscriber
    if kind is BrokerKind.NATS:
        # Not FastStream's batch pull, though it costs a fifth of the CPU per event: in
        # faststream 0.7.8 a batch still filling is dropped when a fetch ends in nats-py's
        # bare asyncio.TimeoutError, and its events wait out the ack deadline (3 to 15 % of
        # them under steady load). tests/integration/test_send_consumer.py catches that.
        subscribe = subscriber(
            channel.send_subject,
            stream=channel_stream(channel),
            durable=channel.group,
            pull_sub=PullSub(batch_size=max(1, max_workers), timeout=FETCH_WAIT_SECONDS),
            config=ConsumerConfig(ack_wait=ack_deadline),
            max_workers=max_workers,
            **options,
        )
        return lambda handle: subscribe(
            _nacked_on_failure(handle, channel.send_subject, redelivery_delay)
        )
    if kind is BrokerKind.RABBIT:
        queue = RabbitQueue(channel.send_subject, durable=True, routing_key=channel.send_subject)
        return subscriber(queue, exchange=rabbit_exchange(), **options)  # type: ignore[no-any-return]
    if kind is BrokerKind.KAFKA:
        return subscriber(  # type: ignore[no-any-return]
            channel.send_subject,
            group_id=channel.group,
            auto_offset_reset="earliest",
            max_workers=max_workers,
            **options,
        )
    stream = StreamSub(channel.send_subject, group=channel.group, consumer=channel.redis_consumer)
    return subscriber(stream=stream, **options)  # type: ignore[no-any-return]


def send_subscriber(
    broker: AnyBroker,
    *,
    max_workers: int,
    ack_deadline: float = ACK_DEADLINE_SECONDS,
    redelivery_delay: float = REDELIVERY_DELAY_SECONDS,
) -> Callable[[Handler], Any]:
    """The decorator that subscribes a handler to `mail.send` in the `mailer` consumer group.

    The handler gets the raw body, as `channel_subscriber` explains.
    """
    return channel_subscriber(
        broker,
        MAIL_CHANNEL,
        max_workers=max_workers,
        ack_deadline=ack_deadline,
        redelivery_delay=redelivery_delay,
    )


def _document_status_channel(broker: AnyBroker, channel: Channel) -> None:
    publisher: Any = broker.publisher
    publisher(
        channel.status_subject,
        schema=StatusEvent,
        title=channel.status_subject,
        description=channel.status_description,
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


def channel_stream(channel: Channel) -> JStream:
    """The JetStream stream over `channel`'s subjects that keeps its events and statuses."""
    return JStream(
        name=channel.stream,
        subjects=list(channel.stream_subjects),
        max_age=STATUS_RETENTION_SECONDS,
    )


def send_stream() -> JStream:
    """The JetStream stream over `mail.>` that keeps send events and statuses."""
    return channel_stream(MAIL_CHANNEL)


def rabbit_exchange() -> RabbitExchange:
    return RabbitExchange(RABBIT_EXCHANGE, type=ExchangeType.TOPIC, durable=True)


class ChannelPublisher:
    """Publishes one channel's requests and status events on whichever broker is configured."""

    def __init__(self, broker: AnyBroker, channel: Channel) -> None:
        self._broker = broker
        self._channel = channel
        self._kind = broker_kind_of(broker)

    @property
    def broker(self) -> AnyBroker:
        return self._broker

    async def publish(self, statuses: Sequence[StatusEvent]) -> None:
        """Announce status changes on the channel's status subject, without waiting in turn."""
        subject = self._channel.status_subject
        await asyncio.gather(
            *(self._send(subject, status.model_dump_json().encode()) for status in statuses)
        )

    async def publish_request(self, document: dict[str, Any] | bytes) -> None:
        """Publish one request on the channel's send subject."""
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        await self._send(self._channel.send_subject, body)

    async def _send(self, subject: str, body: bytes) -> None:
        headers = {"content-type": "application/json"}
        broker: Any = self._broker
        if self._kind is BrokerKind.NATS:
            await broker.publish(body, subject, stream=self._channel.stream, headers=headers)
        elif self._kind is BrokerKind.RABBIT:
            await broker.publish(
                body, routing_key=subject, exchange=rabbit_exchange(), headers=headers
            )
        elif self._kind is BrokerKind.KAFKA:
            await broker.publish(body, subject, headers=headers)
        else:
            await broker.publish(body, stream=subject, headers=headers)


class BrokerPublisher(ChannelPublisher):
    """Publishes send events on `mail.send` and status events on `mail.status`."""

    def __init__(self, broker: AnyBroker) -> None:
        super().__init__(broker, MAIL_CHANNEL)

    async def publish_send(self, document: dict[str, Any] | bytes) -> None:
        """Publish one send event on `mail.send` (the HTTP and CLI doors use this)."""
        await self.publish_request(document)
