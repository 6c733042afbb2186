"""The billing core on the broker: outbox subjects out, `mail.status` and `sms.status` in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.nats import JStream, PullSub
from faststream.rabbit import RabbitExchange, RabbitQueue
from faststream.rabbit.schemas import ExchangeType
from faststream.redis import StreamSub

from billing.events import (
    BILLING_SUBJECT_PREFIX,
    EVENT_DESCRIPTIONS,
    BillingEvent,
    BillingEventType,
)
from billing.notify import Channel as NotifyChannel
from mailer.broker import (
    MAIL_CHANNEL,
    AnyBroker,
    BrokerKind,
    BrokerPublisher,
    Channel,
    _raw_body,
    broker_kind_of,
    channel_stream,
    rabbit_exchange,
)
from mailer.events import StatusEvent
from mailer.sms.broker import SMS_CHANNEL as SMS_BROKER_CHANNEL
from mailer.sms.broker import SmsBrokerPublisher

__all__ = [
    "BILLING_EXCHANGE",
    "BILLING_GROUP",
    "BILLING_STREAM",
    "BillingBrokerPublisher",
    "billing_exchange",
    "billing_stream",
    "declare_billing_events",
    "register_status_consumers",
    "status_subscriber",
]

BILLING_STREAM = "BILLING"
BILLING_STREAM_SUBJECTS = ("billing.>",)
BILLING_EXCHANGE = "billing"
# Long enough for a consumer that was down over a weekend or a holiday to catch up.
BILLING_RETENTION_SECONDS = 30 * 24 * 3600
BILLING_GROUP = "billing"

StatusHandler = Callable[[str, bytes], Awaitable[None]]
RawStatusHandler = Callable[[Any], Awaitable[None]]


def billing_stream() -> JStream:
    """The JetStream stream over `billing.>` that keeps the billing events for 30 days."""
    return JStream(
        name=BILLING_STREAM,
        subjects=list(BILLING_STREAM_SUBJECTS),
        max_age=BILLING_RETENTION_SECONDS,
    )


def billing_exchange() -> RabbitExchange:
    """The durable topic exchange the billing events go to on RabbitMQ (routing key = subject)."""
    return RabbitExchange(BILLING_EXCHANGE, type=ExchangeType.TOPIC, durable=True)


def _is_billing_subject(subject: str) -> bool:
    rest = subject.removeprefix(BILLING_SUBJECT_PREFIX)
    return rest != subject and bool(rest) and not any(ch in rest for ch in "*> \t\r\n")


class BillingBrokerPublisher:
    """The outbox relay's `publish`: routes each subject to where its consumers listen.

    `mail.send` and `sms.send` go to the mail and SMS channels exactly as the mailer's own
    publishers send them; `billing.*` goes to the BILLING stream (NATS), the `billing`
    exchange (RabbitMQ), or the topic or stream of that name (Kafka, Redis).
    """

    def __init__(self, broker: AnyBroker) -> None:
        self._broker = broker
        self._kind = broker_kind_of(broker)
        self._mail = BrokerPublisher(broker)
        self._sms = SmsBrokerPublisher(broker)

    async def publish(self, subject: str, body: bytes) -> None:
        """Publish one outbox row; ValueError for a subject nobody consumes."""
        if subject == MAIL_CHANNEL.send_subject:
            await self._mail.publish_send(body)
        elif subject == SMS_BROKER_CHANNEL.send_subject:
            await self._sms.publish_sms(body)
        elif _is_billing_subject(subject):
            await self._publish_billing(subject, body)
        else:
            raise ValueError(f"no route for outbox subject {subject!r}")

    async def _publish_billing(self, subject: str, body: bytes) -> None:
        headers = {"content-type": "application/json"}
        broker: Any = self._broker
        if self._kind is BrokerKind.NATS:
            await broker.publish(body, subject, stream=BILLING_STREAM, headers=headers)
        elif self._kind is BrokerKind.RABBIT:
            await broker.publish(
                body, routing_key=subject, exchange=billing_exchange(), headers=headers
            )
        elif self._kind is BrokerKind.KAFKA:
            await broker.publish(body, subject, headers=headers)
        else:
            await broker.publish(body, stream=subject, headers=headers)


def declare_billing_events(broker: AnyBroker) -> None:
    """Register a publisher per billing event: documented in AsyncAPI, declared on start.

    On NATS the publishers carry the BILLING stream, so `broker.start()` creates it; on
    RabbitMQ they carry the `billing` exchange, which is declared when they start.
    """
    kind = broker_kind_of(broker)
    publisher: Any = broker.publisher
    stream = billing_stream()
    for event_type in BillingEventType:
        subject = event_type.value
        options: dict[str, Any] = {
            "schema": BillingEvent,
            "title": subject,
            "description": EVENT_DESCRIPTIONS[event_type],
        }
        if kind is BrokerKind.NATS:
            publisher(subject, stream=stream, **options)
        elif kind is BrokerKind.RABBIT:
            publisher(exchange=billing_exchange(), routing_key=subject, **options)
        elif kind is BrokerKind.KAFKA:
            publisher(subject, **options)
        else:
            publisher(stream=subject, **options)


def status_subscriber(
    broker: AnyBroker,
    channel: Channel,
    *,
    group: str = BILLING_GROUP,
    kafka_group: str | None = None,
    max_workers: int = 1,
) -> Callable[[RawStatusHandler], Any]:
    """The decorator that subscribes a handler to `channel`'s status subject in `group`.

    The group is durable everywhere: a pull consumer named `group` on the channel's stream
    (NATS), a durable queue `<group>.<status subject>` bound to the mail exchange (RabbitMQ),
    a consumer group (Kafka, Redis). The handler gets the raw body, like the mailer's own
    subscribers; a Kafka group should differ per channel, since a group whose members follow
    different topics keeps rebalancing.
    """
    subject = channel.status_subject
    options: dict[str, Any] = {
        "decoder": _raw_body,
        "title": f"{subject}:{group}",
        "description": f"The {group} consumers of {subject}: delivery outcomes.",
    }
    kind = broker_kind_of(broker)
    subscriber: Any = broker.subscriber
    if kind is BrokerKind.NATS:
        return subscriber(  # type: ignore[no-any-return]
            subject,
            stream=channel_stream(channel),
            durable=group,
            pull_sub=PullSub(batch_size=max(1, max_workers), timeout=1.0),
            max_workers=max_workers,
            **options,
        )
    if kind is BrokerKind.RABBIT:
        queue = RabbitQueue(f"{group}.{subject}", durable=True, routing_key=subject)
        return subscriber(queue, exchange=rabbit_exchange(), **options)  # type: ignore[no-any-return]
    if kind is BrokerKind.KAFKA:
        return subscriber(  # type: ignore[no-any-return]
            subject,
            group_id=kafka_group or group,
            auto_offset_reset="earliest",
            max_workers=max_workers,
            **options,
        )
    stream = StreamSub(subject, group=group, consumer=f"{group}-worker")
    return subscriber(stream=stream, **options)  # type: ignore[no-any-return]


def register_status_consumers(
    broker: AnyBroker,
    handle: StatusHandler,
    *,
    group: str = BILLING_GROUP,
    max_workers: int = 1,
) -> None:
    """Subscribe `handle` to `mail.status` (as channel "email") and `sms.status` ("sms")."""

    @status_subscriber(broker, MAIL_CHANNEL, group=group, max_workers=max_workers)
    async def on_mail_status(event: StatusEvent) -> None:
        """An outcome of an email; the billing core updates its notification."""
        await handle(NotifyChannel.EMAIL, event)  # type: ignore[arg-type]  # raw bytes, see decoder

    @status_subscriber(
        broker, SMS_BROKER_CHANNEL, group=group, kafka_group=f"{group}-sms", max_workers=max_workers
    )
    async def on_sms_status(event: StatusEvent) -> None:
        """An outcome of an SMS; the billing core updates its notification."""
        await handle(NotifyChannel.SMS, event)  # type: ignore[arg-type]  # raw bytes, see decoder
