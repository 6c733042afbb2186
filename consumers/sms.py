"""The `sms.send` subscriber: hands each raw event to the SMS dispatcher, which reports outcomes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mailer.broker import AnyBroker
from mailer.sms.broker import sms_subscriber
from mailer.sms.events import SmsSendEvent

Submit = Callable[[bytes], Awaitable[Any]]


def register_sms_consumer(broker: AnyBroker, submit: Submit, *, max_workers: int) -> None:
    """Subscribe `submit` to `sms.send`; bad events are rejected there, never redelivered."""

    @sms_subscriber(broker, max_workers=max_workers)
    async def on_sms_event(event: SmsSendEvent) -> None:
        """An SMS event; each becomes one short text sent through the SMS provider."""
        await submit(event)  # type: ignore[arg-type]  # raw bytes, see sms_subscriber
