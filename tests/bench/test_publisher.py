"""The benchmark's publisher tries again when the broker is too busy to confirm in time."""

from __future__ import annotations

from typing import Any

import pytest

from bench import publisher as bench_publisher


class BusyBroker:
    """Times out `busy` times, then takes every event."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.published: list[bytes] = []
        self.calls = 0

    async def publish_send(self, body: bytes) -> None:
        self.calls += 1
        if self.calls <= self.busy:
            raise TimeoutError("nats: timeout")
        self.published.append(body)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    async def sleep(_seconds: float) -> None:
        return None

    monkeypatch.setattr(bench_publisher.asyncio, "sleep", sleep)


async def test_a_timed_out_publish_is_tried_again() -> None:
    broker = BusyBroker(busy=2)
    await bench_publisher.publish_patiently(broker, b"event")  # type: ignore[arg-type]
    assert (broker.calls, broker.published) == (3, [b"event"])


async def test_a_broker_that_stays_busy_fails_the_publisher() -> None:
    broker: Any = BusyBroker(busy=bench_publisher.PUBLISH_TRIES)
    with pytest.raises(TimeoutError):
        await bench_publisher.publish_patiently(broker, b"event")
    assert broker.published == []
