"""The SMS side of the broker adapter: the `sms.send` subscription and `sms.status` publishing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faststream.message import StreamMessage
from faststream.nats import ConsumerConfig, JStream, PullSub
from faststream.rabbit import RabbitQueue
from faststream.redis import StreamSub

from mailer.broker import (
    ACK_DEADLINE_SECONDS,
    STATUS_RETENTION_SECONDS,
    AnyBroker,
    BrokerKind,
    broker_kind_of,
    rabbit_exchange,
)
from mailer.events import StatusEvent
from mailer.sms.events import SMS_SEND_SUBJECT, SMS_STATUS_SUBJECT, SmsSendEvent

__all__ = [
    "SMS_CONSUMER_GROUP",
    "SMS_STREAM",
    "SmsBrokerPublisher",
    "sms_stream",
    "sms_subscriber",
]

SMS_STREAM = "SMS"
# Its own group: a Kafka group whose members subscribe to different topics keeps rebalancing.
SMS_CONSUMER_GROUP = "mailer-sms"

SmsHandler = Callable[[SmsSendEvent], Awaitable[None]]


def _raw_body(message: StreamMessage[Any]) -> bytes:
    """Hand the body over undecoded: the service validates and rejects bad input itself."""
    body = message.body
    return body if isinstance(body, bytes) else bytes(body)


def sms_stream() -> JStream:
    """The JetStream stream over `sms.>` that keeps SMS events and statuses."""
    return JStream(name=SMS_STREAM, subjects=["sms.>"], max_age=STATUS_RETENTION_SECONDS)


def sms_subscriber(broker: AnyBroker, *, max_workers: int) -> Callable[[SmsHandler], Any]:
    """The decorator that subscribes a handler to `sms.send` in the `mailer-sms` group.

    As for `mail.send`, the raw body is handed over: the service validates and rejects it.
    """
    options: dict[str, Any] = {
        "decoder": _raw_body,
        "title": SMS_SEND_SUBJECT,
        "description": "SMS events: each becomes one short text sent through the SMS provider.",
    }
    _document_status_channel(broker)
    kind = broker_kind_of(broker)
    subscriber: Any = broker.subscriber
    if kind is BrokerKind.NATS:
        return subscriber(  # type: ignore[no-any-return]
            SMS_SEND_SUBJECT,
            stream=sms_stream(),
            durable=SMS_CONSUMER_GROUP,
            pull_sub=PullSub(batch_size=max(1, max_workers), timeout=1.0),
            config=ConsumerConfig(ack_wait=ACK_DEADLINE_SECONDS),
            max_workers=max_workers,
            **options,
        )
    if kind is BrokerKind.RABBIT:
        return subscriber(  # type: ignore[no-any-return]
            RabbitQueue(SMS_SEND_SUBJECT, durable=True, routing_key=SMS_SEND_SUBJECT),
            exchange=rabbit_exchange(),
            **options,
        )
    if kind is BrokerKind.KAFKA:
        return subscriber(  # type: ignore[no-any-return]
            SMS_SEND_SUBJECT,
            group_id=SMS_CONSUMER_GROUP,
            auto_offset_reset="earliest",
            max_workers=max_workers,
            **options,
        )
    return subscriber(  # type: ignore[no-any-return]
        stream=StreamSub(SMS_SEND_SUBJECT, group=SMS_CONSUMER_GROUP, consumer="mailer-sms-worker"),
        **options,
    )


def _document_status_channel(broker: AnyBroker) -> None:
    publisher: Any = broker.publisher
    publisher(
        SMS_STATUS_SUBJECT,
        schema=StatusEvent,
        title=SMS_STATUS_SUBJECT,
        description="Every outcome of every SMS request; the recipient is the phone number.",
    )


class SmsBrokerPublisher:
    """Publishes SMS status events on `sms.status` (and SMS events on `sms.send`)."""

    def __init__(self, broker: AnyBroker) -> None:
        self._broker = broker
        self._kind = broker_kind_of(broker)

    async def publish(self, statuses: Sequence[StatusEvent]) -> None:
        """Announce SMS status changes on `sms.status`."""
        for status in statuses:
            await self._send(SMS_STATUS_SUBJECT, status.model_dump_json().encode())

    async def publish_sms(self, document: dict[str, Any] | bytes) -> None:
        """Publish one SMS event on `sms.send`."""
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        await self._send(SMS_SEND_SUBJECT, body)

    async def _send(self, subject: str, body: bytes) -> None:
        headers = {"content-type": "application/json"}
        broker: Any = self._broker
        if self._kind is BrokerKind.NATS:
            await broker.publish(body, subject, stream=SMS_STREAM, headers=headers)
        elif self._kind is BrokerKind.RABBIT:
            await broker.publish(
                body, routing_key=subject, exchange=rabbit_exchange(), headers=headers
            )
        elif self._kind is BrokerKind.KAFKA:
            await broker.publish(body, subject, headers=headers)
        else:
            await broker.publish(body, stream=subject, headers=headers)
