"""The `mail.send` subscriber: hands each raw event to the dispatcher, which stores it first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mailer.broker import (
    ACK_DEADLINE_SECONDS,
    REDELIVERY_DELAY_SECONDS,
    AnyBroker,
    send_subscriber,
)
from mailer.events import SendEvent

Submit = Callable[[bytes], Awaitable[Any]]


def register_send_consumer(
    broker: AnyBroker,
    submit: Submit,
    *,
    max_workers: int,
    ack_deadline: float = ACK_DEADLINE_SECONDS,
    redelivery_delay: float = REDELIVERY_DELAY_SECONDS,
) -> None:
    """Subscribe `submit` to `mail.send`; bad events are rejected there, never redelivered.

    The broker acknowledges when `submit` returns: once the event is stored, delivery may go
    on in the background, since the stored request is then the promise. If `submit` raises
    (the store failed), JetStream redelivers the event after `redelivery_delay` seconds.
    """

    @send_subscriber(
        broker,
        max_workers=max_workers,
        ack_deadline=ack_deadline,
        redelivery_delay=redelivery_delay,
    )
    async def on_send_event(event: SendEvent) -> None:
        """A send event; each becomes one rendered, DKIM-signed email."""
        await submit(event)  # type: ignore[arg-type]  # raw bytes, see send_subscriber
