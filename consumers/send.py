"""The `mail.send` subscriber: hands each raw event to the dispatcher, which stores it first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mailer.broker import AnyBroker, send_subscriber
from mailer.events import SendEvent

Submit = Callable[[bytes], Awaitable[Any]]


def register_send_consumer(broker: AnyBroker, submit: Submit, *, max_workers: int) -> None:
    """Subscribe `submit` to `mail.send`; bad events are rejected there, never redelivered.

    The broker acknowledges when `submit` returns: once the event is stored, delivery may go
    on in the background, since the stored request is then the promise."""

    @send_subscriber(broker, max_workers=max_workers)
    async def on_send_event(event: SendEvent) -> None:
        """A send event; each becomes one rendered, DKIM-signed email."""
        await submit(event)  # type: ignore[arg-type]  # raw bytes, see send_subscriber
