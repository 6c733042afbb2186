"""The SMS pipeline over a real store and the Twilio adapter against a local fake provider."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.events import DeliveryStatus
from mailer.retry import RetryPolicy
from mailer.sms.dispatch import SmsDispatcher, idempotency_key
from mailer.sms.provider import SmsProvider, SmsResult, TwilioConfig, TwilioProvider
from mailer.sms.render import SmsRenderer, default_sms_dir
from mailer.store import repository
from mailer.store import sms_repository as sms_store
from mailer.store.database import create_engine, migrate, session_factory
from tests.mailer.sms.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    Reply,
    running_fake_twilio,
    twilio_error,
)
from tests.mailer.sms.test_sms_events import sms_event
from tests.support.databases import temporary_database
from tests.support.pipeline import Clock, CollectingPublisher, WorkerDied

POLICY = RetryPolicy(initial_delay=60, max_delay=600, jitter=0, horizon=timedelta(hours=1))
PHONE = "+4512345678"


class DyingProvider:
    """Delegates to a real provider, but the process 'dies' during the next send if told to."""

    def __init__(self, inner: SmsProvider) -> None:
        self.inner = inner
        self.die_on_next_send = False

    async def send(self, to: str, body: str, *, idempotency_key: str) -> SmsResult:
        if self.die_on_next_send:
            self.die_on_next_send = False
            raise WorkerDied
        return await self.inner.send(to, body, idempotency_key=idempotency_key)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class SmsPipeline:
    dispatcher: SmsDispatcher
    provider: DyingProvider
    server: FakeTwilio
    publisher: CollectingPublisher
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]

    def statuses(self) -> list[str]:
        return [s.status.value for s in self.publisher.statuses]

    async def history(self, request_id: str, tenant: str = "acme") -> list[str]:
        async with self.sessions() as session:
            records = await repository.status_history(session, tenant, request_id)
        return [record.status for record in records]


@pytest.fixture(scope="module")
def renderer() -> SmsRenderer:
    return SmsRenderer(default_sms_dir())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def pipeline(
    request: pytest.FixtureRequest, tmp_path: Path, renderer: SmsRenderer
) -> AsyncIterator[SmsPipeline]:
    async with (
        temporary_database(request.param, tmp_path) as url,
        running_fake_twilio() as server,
    ):
        engine = create_engine(url)
        await migrate(engine)
        config = TwilioConfig(server.url, ACCOUNT_SID, SecretStr(AUTH_TOKEN), "+4570000000")
        provider = DyingProvider(TwilioProvider(config))
        publisher, clock = CollectingPublisher(), Clock()
        dispatcher = SmsDispatcher(
            sessions=session_factory(engine),
            renderer=renderer,
            provider=provider,
            publisher=publisher,
            policy=POLICY,
            max_segments=3,
            clock=clock,
        )
        try:
            yield SmsPipeline(
                dispatcher, provider, server, publisher, clock, session_factory(engine)
            )
        finally:
            await provider.aclose()
            await engine.dispose()


def body(**overrides: Any) -> str:
    return json.dumps(sms_event(**overrides))


async def test_an_event_is_sent_once_and_its_statuses_stored(pipeline: SmsPipeline) -> None:
    outcome = await pipeline.dispatcher.submit(body())
    assert outcome.status is None and not outcome.duplicate
    [request] = pipeline.server.requests
    assert request.form["To"] == PHONE and "INV-10001" in request.form["Body"]
    assert "Ny faktura" in request.form["Body"]  # the event's locale, da
    assert pipeline.statuses() == ["queued", "sent"]
    sent = pipeline.publisher.statuses[-1]
    assert (sent.tenant, sent.request_id, sent.recipient) == ("acme", "sms-invoice-new-0001", PHONE)
    assert sent.message_id and sent.message_id.startswith("SM")
    assert await pipeline.history("sms-invoice-new-0001") == ["queued", "sent"]
    async with pipeline.sessions() as session:
        stored = await sms_store.find_sms_request(session, "acme", "sms-invoice-new-0001")
    assert stored is not None and stored.status == "sent" and stored.attempts == 1
    assert stored.segments == 1 and stored.encoding == "gsm-7"
    assert stored.provider_id == sent.message_id


async def test_the_same_event_twice_sends_one_sms(pipeline: SmsPipeline) -> None:
    await pipeline.dispatcher.submit(body())
    again = await pipeline.dispatcher.submit(body())
    assert again.duplicate
    assert len(pipeline.server.requests) == 1
    assert pipeline.statuses() == ["queued", "sent"]
    await pipeline.dispatcher.submit(body(tenant="globex"))  # same id, another tenant
    assert len(pipeline.server.requests) == 2


async def test_429_with_retry_after_defers_then_succeeds(pipeline: SmsPipeline) -> None:
    pipeline.server.replies.append(
        twilio_error(429, 20429, "Too Many Requests", **{"Retry-After": "120"})
    )
    await pipeline.dispatcher.submit(body())
    assert pipeline.statuses() == ["queued", "deferred"]
    pipeline.clock.now += timedelta(seconds=61)  # the backoff alone would allow a retry now
    assert await pipeline.dispatcher.run_due() == 0  # but the provider asked for 120 s
    pipeline.clock.now += timedelta(seconds=60)
    assert await pipeline.dispatcher.run_due() == 1
    assert pipeline.statuses() == ["queued", "deferred", "sent"]
    first, second = pipeline.server.requests
    key = idempotency_key("acme", "sms-invoice-new-0001")
    assert first.headers["i-twilio-idempotency-token"] == key
    assert second.headers["i-twilio-idempotency-token"] == key
    assert first.form == second.form
    assert await pipeline.history("sms-invoice-new-0001") == ["queued", "deferred", "sent"]


async def test_a_permanent_400_fails_without_retry(pipeline: SmsPipeline) -> None:
    pipeline.server.replies.append(
        twilio_error(400, 21211, "The 'To' number is not a valid phone number.")
    )
    await pipeline.dispatcher.submit(body())
    assert pipeline.statuses() == ["queued", "failed"]
    failed = pipeline.publisher.statuses[-1]
    assert failed.detail and "21211" in failed.detail
    pipeline.clock.now += timedelta(hours=2)
    assert await pipeline.dispatcher.run_due() == 0
    assert len(pipeline.server.requests) == 1


async def test_still_failing_at_the_horizon_fails(pipeline: SmsPipeline) -> None:
    pipeline.server.replies.extend([Reply(503, {"message": "busy"})] * 20)
    await pipeline.dispatcher.submit(body())
    for _ in range(20):
        pipeline.clock.now += timedelta(minutes=10, seconds=1)
        await pipeline.dispatcher.run_due()
    statuses = pipeline.statuses()
    assert statuses[-1] == "failed" and statuses.count("failed") == 1
    assert 2 < len(pipeline.server.requests) < 10
    assert "retry horizon" in (pipeline.publisher.statuses[-1].detail or "")


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        (None, "to: the customer has no mobile number"),
        ("", "to: the customer has no mobile number"),
        ("12345678", "to: the customer has no valid mobile number (must start with +"),
        ("+45 1234 5678", "to: the customer has no valid mobile number (must be + followed"),
    ],
)
async def test_a_customer_without_a_valid_mobile_is_rejected_with_that_reason(
    pipeline: SmsPipeline, to: str | None, reason: str
) -> None:
    outcome = await pipeline.dispatcher.submit(body(to=to))
    assert outcome.status is DeliveryStatus.REJECTED and (outcome.detail or "").startswith(reason)
    assert pipeline.server.requests == []
    [status] = pipeline.publisher.statuses
    assert (status.tenant, status.request_id, status.status) == (
        "acme",
        "sms-invoice-new-0001",
        DeliveryStatus.REJECTED,
    )
    assert (status.detail or "").startswith(reason)
    assert await pipeline.history("sms-invoice-new-0001") == ["rejected"]
    await pipeline.dispatcher.submit(body())  # the fixed event: a rejection claims no id
    assert len(pipeline.server.requests) == 1


async def test_a_text_over_the_segment_limit_is_rejected(pipeline: SmsPipeline) -> None:
    document = sms_event(locale="ro")
    document["data"]["company"]["name"] = "Societatea Comercială Exemplu Contabilitate SRL " * 3
    outcome = await pipeline.dispatcher.submit(json.dumps(document))
    assert outcome.status is DeliveryStatus.REJECTED
    assert "SMS segments (ucs-2" in (outcome.detail or "") and "the 3 allowed" in (
        outcome.detail or ""
    )
    assert pipeline.server.requests == []


async def test_send_at_in_the_future_waits_for_its_time(pipeline: SmsPipeline) -> None:
    await pipeline.dispatcher.submit(body(send_at="2026-12-01T09:00:00+01:00"))
    assert pipeline.server.requests == []
    pipeline.clock.now = datetime(2026, 12, 1, 7, 59, tzinfo=UTC)
    assert await pipeline.dispatcher.run_due() == 0
    pipeline.clock.now = datetime(2026, 12, 1, 8, 0, 1, tzinfo=UTC)
    assert await pipeline.dispatcher.run_due() == 1
    assert pipeline.statuses() == ["queued", "sent"]


async def test_a_worker_killed_mid_send_is_taken_over_once_its_lease_ends(
    pipeline: SmsPipeline,
) -> None:
    pipeline.provider.die_on_next_send = True
    with pytest.raises(WorkerDied):
        await pipeline.dispatcher.submit(body())
    await pipeline.dispatcher.submit(body())  # redelivered while the dead worker's lease is live
    assert await pipeline.dispatcher.run_due() == 0
    assert pipeline.server.requests == []
    pipeline.clock.now += timedelta(minutes=6)
    assert await pipeline.dispatcher.run_due() == 1
    await pipeline.dispatcher.submit(body())  # and a late redelivery changes nothing
    assert len(pipeline.server.requests) == 1
    assert pipeline.statuses() == ["queued", "sent"]
