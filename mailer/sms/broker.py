"""The SMS side of the broker adapter: the `sms.send` subscription and `sms.status` publishing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.nats import JStream

from mailer.broker import AnyBroker, Channel, ChannelPublisher, channel_stream, channel_subscriber
from mailer.sms.events import SMS_SEND_SUBJECT, SMS_STATUS_SUBJECT, SmsSendEvent

__all__ = [
    "SMS_CHANNEL",
    "SMS_CONSUMER_GROUP",
    "SMS_STREAM",
    "SmsBrokerPublisher",
    "sms_stream",
    "sms_subscriber",
]

SMS_STREAM = "SMS"
# Its own group: a Kafka group whose members subscribe to different topics keeps rebalancing.
SMS_CONSUMER_GROUP = "mailer-sms"

SMS_CHANNEL = Channel(
    send_subject=SMS_SEND_SUBJECT,
    status_subject=SMS_STATUS_SUBJECT,
    stream=SMS_STREAM,
    stream_subjects=("sms.>",),
    group=SMS_CONSUMER_GROUP,
    redis_consumer="mailer-sms-worker",
    description="SMS events: each becomes one short text sent through the SMS provider.",
    status_description="Every outcome of every SMS request; the recipient is the phone number.",
)

SmsHandler = Callable[[SmsSendEvent], Awaitable[None]]


def sms_stream() -> JStream:
    """The JetStream stream over `sms.>` that keeps SMS events and statuses."""
    return channel_stream(SMS_CHANNEL)


def sms_subscriber(broker: AnyBroker, *, max_workers: int) -> Callable[[SmsHandler], Any]:
    """The decorator that subscribes a handler to `sms.send` in the `mailer-sms` group.

    As for `mail.send`, the handler gets the raw body: the service validates and rejects it.
    """
    return channel_subscriber(broker, SMS_CHANNEL, max_workers=max_workers)


class SmsBrokerPublisher(ChannelPublisher):
    """Publishes SMS status events on `sms.status` (and SMS events on `sms.send`)."""

    def __init__(self, broker: AnyBroker) -> None:
        super().__init__(broker, SMS_CHANNEL)

    async def publish_sms(self, document: dict[str, Any] | bytes) -> None:
        """Publish one SMS event on `sms.send`."""
        await self.publish_request(document)
