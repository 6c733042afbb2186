"""The pipeline against a relay that misbehaves on purpose: what is deferred, failed, sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer
from mailer.store.database import create_engine, migrate
from mailer.transport.smtp import SmtpConfig, SmtpTransport
from tests.conftest import load_example
from tests.support.pipeline import Pipeline, build_pipeline
from tests.support.smtp_servers import Faults, SmtpTestServer, running_smtp_server

pytestmark = pytest.mark.integration


@pytest.fixture
async def relay() -> AsyncIterator[SmtpTestServer]:
    async with running_smtp_server() as server:
        yield server


@pytest.fixture
async def pipeline(
    tmp_path: Path, relay: SmtpTestServer, pdfs: PdfRenderer, renderer: EmailRenderer
) -> AsyncIterator[Pipeline]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}")
    await migrate(engine)
    transport = SmtpTransport(SmtpConfig.from_url(relay.url(timeout=2)))
    try:
        yield build_pipeline(engine, transport, pdfs, renderer)
    finally:
        await transport.aclose()
        await engine.dispose()


async def _send_and_retry(pipeline: Pipeline, relay: SmtpTestServer, faults: Faults) -> None:
    """Send with the relay misbehaving, then heal it and let the retry go out."""
    relay.faults = faults
    await pipeline.dispatcher.submit(json.dumps(load_example("invoice.new")))
    relay.faults = Faults()
    pipeline.clock.now += timedelta(minutes=2)
    await pipeline.dispatcher.run_due()


@pytest.mark.parametrize(
    "faults",
    [
        Faults(greeting="421 4.3.2 Service shutting down"),
        Faults(mail="451 4.3.0 Try again later"),
        Faults(rcpt={"customer1@example.org": "450 4.2.1 Mailbox busy"}),
        Faults(data="452 4.3.1 Insufficient system storage"),
        Faults(drop_during_data=True),
        Faults(drop_after_dot=True),
        Faults(hang="greeting"),
    ],
    ids=[
        "421-greeting",
        "451-mail",
        "450-rcpt",
        "452-data",
        "drop-in-data",
        "drop-after-dot",
        "hang",
    ],
)
async def test_temporary_trouble_is_deferred_then_sent(
    pipeline: Pipeline, relay: SmtpTestServer, faults: Faults
) -> None:
    await _send_and_retry(pipeline, relay, faults)
    assert pipeline.statuses() == ["queued", "deferred", "sent"]
    [message] = relay.messages
    assert b"INV-10001" in message.data


async def test_a_permanent_refusal_fails_at_once_and_is_not_retried(
    pipeline: Pipeline, relay: SmtpTestServer
) -> None:
    await _send_and_retry(
        pipeline, relay, Faults(rcpt={"customer1@example.org": "550 5.1.1 No such user"})
    )
    assert pipeline.statuses() == ["queued", "failed"]
    [failed] = [s for s in pipeline.publisher.statuses if s.status.value == "failed"]
    assert (failed.smtp_code, failed.enhanced_status) == (550, "5.1.1")
    assert "No such user" in (failed.detail or "")
    assert relay.messages == []


async def test_one_refused_recipient_does_not_stop_the_others(
    pipeline: Pipeline, relay: SmtpTestServer
) -> None:
    event = load_example("invoice.new")
    event["cc"] = [{"email": "gone@example.org"}]
    relay.faults = Faults(rcpt={"gone@example.org": "553 5.1.3 Bad address"})
    await pipeline.dispatcher.submit(json.dumps(event))
    assert pipeline.statuses("gone@example.org") == ["queued", "failed"]
    assert pipeline.statuses("customer1@example.org") == ["queued", "sent"]
    [message] = relay.messages
    assert message.recipients == ("customer1@example.org",)


async def test_connections_to_the_relay_are_reused(
    pipeline: Pipeline, relay: SmtpTestServer
) -> None:
    for number in range(5):
        event = load_example("invoice.reminder") | {"id": f"evt-{number}"}
        await pipeline.dispatcher.submit(json.dumps(event))
    assert len(relay.messages) == 5
    assert relay.connections == 1
