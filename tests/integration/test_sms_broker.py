"""SMS via the real NATS: an `sms.send` event reaches the provider once; bad ones are refused."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from consumers.sms import register_sms_consumer
from mailer.broker import BrokerPublisher, create_broker
from mailer.events import DeliveryStatus, StatusEvent
from mailer.sms.broker import SMS_STREAM, SmsBrokerPublisher
from mailer.sms.events import SMS_STATUS_SUBJECT
from mailer.sms.wiring import build_sms_side
from mailer.store import repository
from mailer.store.database import create_engine, migrate, session_factory
from tests.integration.conftest import NATS_URL, make_settings, wait_for
from tests.mailer.sms.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, running_fake_twilio
from tests.mailer.sms.test_sms_events import sms_event

pytestmark = pytest.mark.integration


async def delete_sms_stream() -> None:
    client = await nats.connect(NATS_URL)
    with contextlib.suppress(Exception):
        await client.jetstream().delete_stream(SMS_STREAM)
    await client.close()


@contextlib.asynccontextmanager
async def sms_statuses() -> AsyncIterator[list[StatusEvent]]:
    """What the service publishes on `sms.status`, seen by an outside NATS client."""
    received: list[StatusEvent] = []
    client = await nats.connect(NATS_URL)

    async def on_status(message: Any) -> None:
        received.append(StatusEvent.model_validate_json(message.data))

    await client.subscribe(SMS_STATUS_SUBJECT, cb=on_status)
    try:
        yield received
    finally:
        await client.close()


async def test_sms_event_reaches_the_provider_once_and_bad_events_are_rejected(
    tmp_path: Path,
) -> None:
    await delete_sms_stream()
    async with running_fake_twilio() as provider_server:
        settings = make_settings(
            tmp_path,
            broker_url=NATS_URL,
            sms_provider_url=provider_server.url,
            sms_account_sid=ACCOUNT_SID,
            sms_auth_token=AUTH_TOKEN,
            sms_from="+4570000000",
        )
        engine = create_engine(settings.effective_database_url)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await migrate(engine)
        broker = create_broker(NATS_URL)
        sessions = session_factory(engine)
        dispatcher, close = build_sms_side(settings, sessions, BrokerPublisher(broker))
        register_sms_consumer(broker, dispatcher.submit, max_workers=4)
        await broker.start()
        try:
            async with sms_statuses() as statuses:
                publisher = SmsBrokerPublisher(broker)
                event = sms_event()
                await publisher.publish_sms(json.dumps(event).encode())
                await publisher.publish_sms(json.dumps(event).encode())  # twice: one SMS
                await publisher.publish_sms(b'{"id": "broken", "tenant": "acme"')
                await publisher.publish_sms(sms_event(id="sms-no-mobile", to=None))
                second = sms_event(id="sms-payment-link-0001", template="payment.link")
                await publisher.publish_sms(second)

                def count(status: DeliveryStatus) -> int:
                    return sum(s.status is status for s in statuses)

                await wait_for(lambda: count(DeliveryStatus.SENT) >= 2)
                await wait_for(lambda: count(DeliveryStatus.REJECTED) >= 2)
                async with sessions() as session:
                    history = await repository.status_history(session, "acme", event["id"])
                assert [record.status for record in history] == ["queued", "sent"]
        finally:
            await broker.stop()
            await close()
            await engine.dispose()

    bodies = sorted(request.form["Body"] for request in provider_server.requests)
    assert len(bodies) == 2
    assert "INV-10001" in bodies[0] or "INV-10001" in bodies[1]
    sent = [s for s in statuses if s.status is DeliveryStatus.SENT]
    assert sorted(s.request_id or "" for s in sent) == [event["id"], second["id"]]
    assert all(s.recipient == "+4512345678" for s in sent)
    rejected = {s.request_id: s.detail for s in statuses if s.status is DeliveryStatus.REJECTED}
    assert "not valid JSON" in (rejected[None] or "")
    assert "the customer has no mobile number" in (rejected["sms-no-mobile"] or "")
