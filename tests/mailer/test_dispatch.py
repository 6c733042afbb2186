"""The send pipeline with a scripted transport: idempotency, scheduling, retries, recipients."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.events import DeliveryStatus
from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer
from mailer.store import inbox_repository as inbox
from mailer.store import repository
from mailer.store.database import create_engine, migrate
from mailer.store.inbox_models import Thread, ThreadEntry
from mailer.store.models import SendRequest, TemplateSetting
from mailer.transport.base import Outcome
from tests.conftest import example_paths, load_example
from tests.support.databases import temporary_database
from tests.support.pipeline import Pipeline, ScriptedTransport, WorkerDied, build_pipeline


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def pipeline(
    request: pytest.FixtureRequest, tmp_path: Path, pdfs: PdfRenderer, renderer: EmailRenderer
) -> AsyncIterator[Pipeline]:
    async with temporary_database(request.param, tmp_path) as url:
        engine = create_engine(url)
        await migrate(engine)
        try:
            yield build_pipeline(engine, ScriptedTransport(), pdfs, renderer)
        finally:
            await engine.dispose()


async def test_invoice_is_sent_once_with_pdf_verp_and_reply_to(pipeline: Pipeline) -> None:
    outcome = await pipeline.dispatcher.submit(json.dumps(load_example("invoice.new")))
    assert outcome.status is None and not outcome.duplicate
    [(envelope, raw)] = pipeline.transport.sent
    assert envelope.recipients == ("customer1@example.org",)
    assert envelope.sender.startswith("bounces+") and envelope.sender.endswith(
        "@bounces.mailer.test"
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    [sender] = message["From"].addresses
    firm, thread = message["Reply-To"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Acme Bookkeeping",
        "noreply-invoice@mailer.test",
    )
    assert (firm.display_name, firm.addr_spec) == ("Acme Bookkeeping", "billing@acme.example")
    assert thread.addr_spec.startswith("reply+") and thread.domain == "bounces.mailer.test"
    assert message["X-Mailer-Ref"] == envelope.sender.split("+")[1].split("@")[0]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "Invoice-INV-10001.pdf"
    assert attachment.get_content().startswith(b"%PDF-")
    assert pipeline.statuses() == ["queued", "sent"]


async def test_the_same_event_twice_sends_one_email(pipeline: Pipeline) -> None:
    body = json.dumps(load_example("invoice.new"))
    await pipeline.dispatcher.submit(body)
    again = await pipeline.dispatcher.submit(body)
    assert again.duplicate
    assert len(pipeline.transport.sent) == 1
    assert pipeline.statuses() == ["queued", "sent"]


async def test_same_id_for_another_tenant_is_another_request(pipeline: Pipeline) -> None:
    event = load_example("invoice.new")
    await pipeline.dispatcher.submit(json.dumps(event))
    event["tenant"] = "globex"
    await pipeline.dispatcher.submit(json.dumps(event))
    assert len(pipeline.transport.sent) == 2


async def test_a_worker_killed_mid_send_is_taken_over_once_its_lease_ends(
    pipeline: Pipeline,
) -> None:
    body = json.dumps(load_example("invoice.reminder"))
    pipeline.transport.die_on_next_send = True
    with pytest.raises(WorkerDied):
        await pipeline.dispatcher.submit(body)
    await pipeline.dispatcher.submit(body)  # redelivered while the dead worker's lease is live
    assert await pipeline.dispatcher.run_due() == 0
    assert pipeline.transport.sent == []
    pipeline.clock.now += timedelta(minutes=6)
    await pipeline.dispatcher.submit(body)  # redelivered again after the lease ran out
    await pipeline.dispatcher.run_due()
    assert len(pipeline.transport.sent) == 1
    assert pipeline.statuses() == ["queued", "sent"]


async def test_send_at_in_the_future_waits_for_its_time(pipeline: Pipeline) -> None:
    event = load_example("invoice.new.fr-scheduled")
    pipeline.clock.now = datetime(2026, 11, 30, tzinfo=UTC)
    await pipeline.dispatcher.submit(json.dumps(event))
    assert pipeline.transport.sent == []
    assert await pipeline.dispatcher.run_due() == 0
    pipeline.clock.now = datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC)
    assert await pipeline.dispatcher.run_due() == 1
    [(envelope, raw)] = pipeline.transport.sent
    assert set(envelope.recipients) == {"client42@example.org", "accounts@example.org"}
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert "Facture" in message["Subject"]


async def test_temporary_failure_defers_then_retries(pipeline: Pipeline) -> None:
    pipeline.transport.script["customer1@example.org"] = [Outcome.TEMPORARY_FAILURE]
    await pipeline.dispatcher.submit(json.dumps(load_example("invoice.new")))
    assert pipeline.statuses() == ["queued", "deferred"]
    assert await pipeline.dispatcher.run_due() == 0  # not before the backoff delay
    pipeline.clock.now += timedelta(seconds=61)
    assert await pipeline.dispatcher.run_due() == 1
    assert pipeline.statuses() == ["queued", "deferred", "sent"]
    first, second = (raw for _, raw in pipeline.transport.sent)
    assert first == second  # same Message-ID, same bytes on every attempt


async def test_still_deferred_at_the_horizon_fails(pipeline: Pipeline) -> None:
    pipeline.transport.script["customer1@example.org"] = [Outcome.TEMPORARY_FAILURE] * 20
    await pipeline.dispatcher.submit(json.dumps(load_example("invoice.new")))
    for _ in range(20):
        pipeline.clock.now += timedelta(minutes=10, seconds=1)
        await pipeline.dispatcher.run_due()
    statuses = pipeline.statuses()
    assert statuses[-1] == "failed" and statuses.count("failed") == 1
    assert 2 < len(pipeline.transport.sent) < 10


async def test_permanent_failure_is_per_recipient(pipeline: Pipeline) -> None:
    event = load_example("invoice.new")
    event["cc"] = [{"email": "gone@example.org"}]
    event["bcc"] = [{"email": "audit@acme.example"}]
    pipeline.transport.script["gone@example.org"] = [Outcome.PERMANENT_FAILURE]
    await pipeline.dispatcher.submit(json.dumps(event))
    assert pipeline.statuses("gone@example.org") == ["queued", "failed"]
    assert pipeline.statuses("customer1@example.org") == ["queued", "sent"]
    [(envelope, raw)] = pipeline.transport.sent
    assert "audit@acme.example" in envelope.recipients
    assert b"audit@acme.example" not in raw  # Bcc stays out of the headers


async def test_disabled_template_is_skipped_until_the_tenant_enables_it(pipeline: Pipeline) -> None:
    event = load_example("invoice.thank_you")
    await pipeline.dispatcher.submit(json.dumps(event))
    assert pipeline.statuses() == ["skipped"]
    async with pipeline.sessions() as session:
        session.add(TemplateSetting(tenant="acme", template="invoice.thank_you", enabled=True))
        await session.commit()
    event["id"] = "evt-thanks-2"
    await pipeline.dispatcher.submit(json.dumps(event))
    assert pipeline.statuses()[-1] == "sent"


async def test_tenant_can_turn_the_pdf_off_and_the_event_can_turn_it_back_on(
    pipeline: Pipeline,
) -> None:
    async with pipeline.sessions() as session:
        session.add(TemplateSetting(tenant="acme", template="invoice.new", attach_pdf=False))
        await session.commit()
    event = load_example("invoice.new")
    await pipeline.dispatcher.submit(json.dumps(event))
    event["id"], event["attach_pdf"] = "evt-with-pdf", True
    await pipeline.dispatcher.submit(json.dumps(event))
    without, with_pdf = (
        email.message_from_bytes(raw, policy=email.policy.default)
        for _, raw in pipeline.transport.sent
    )
    assert list(without.iter_attachments()) == []
    assert len(list(with_pdf.iter_attachments())) == 1


async def test_invalid_event_is_rejected_stored_and_does_not_claim_its_id(
    pipeline: Pipeline,
) -> None:
    event = load_example("invoice.new")
    event["to"] = [{"email": "x@example.org\r\nBcc: everyone@example.org"}]
    outcome = await pipeline.dispatcher.submit(json.dumps(event))
    assert outcome.status is DeliveryStatus.REJECTED and "CR, LF" in (outcome.detail or "")
    assert pipeline.transport.sent == []
    [status] = pipeline.publisher.statuses
    assert (status.tenant, status.request_id, status.status) == (
        "acme",
        event["id"],
        DeliveryStatus.REJECTED,
    )
    async with pipeline.sessions() as session:
        history = await repository.status_history(session, "acme", event["id"])
    assert [record.status for record in history] == ["rejected"]
    await pipeline.dispatcher.submit(json.dumps(load_example("invoice.new")))  # the fixed event
    assert len(pipeline.transport.sent) == 1


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.stem)
async def test_every_example_event_gets_a_final_outcome(pipeline: Pipeline, path: Path) -> None:
    await pipeline.dispatcher.submit(path.read_bytes())
    pipeline.clock.now = datetime(2026, 12, 2, tzinfo=UTC)  # past any send_at
    await pipeline.dispatcher.run_due()
    final = {s.status for s in pipeline.publisher.statuses if s.status.is_final}
    assert final <= {DeliveryStatus.SENT, DeliveryStatus.SKIPPED} and final
    async with pipeline.sessions() as session:
        stored = await repository.find_request(session, "acme", json.loads(path.read_text())["id"])
    assert isinstance(stored, SendRequest) and not stored.pending


async def _suppress(pipeline: Pipeline, address: str) -> None:
    async with pipeline.sessions() as session:
        await inbox.suppress(session, "acme", address, "userunknown", None, pipeline.clock.now)
        await session.commit()


async def test_a_suppressed_address_is_not_attempted(pipeline: Pipeline) -> None:
    await _suppress(pipeline, "Customer1@Example.org")
    event = load_example("invoice.new")
    event["cc"] = [{"email": "accounts@example.org"}]
    await pipeline.dispatcher.submit(json.dumps(event))
    assert pipeline.statuses("customer1@example.org") == ["suppressed"]
    [(envelope, _)] = pipeline.transport.sent
    assert envelope.recipients == ("accounts@example.org",)


async def test_suppression_after_scheduling_stops_the_send(pipeline: Pipeline) -> None:
    await pipeline.dispatcher.submit(json.dumps(load_example("invoice.new.fr-scheduled")))
    await _suppress(pipeline, "client42@example.org")
    await _suppress(pipeline, "accounts@example.org")
    pipeline.clock.now = datetime(2026, 12, 2, tzinfo=UTC)
    await pipeline.dispatcher.run_due()
    assert pipeline.transport.sent == []
    assert pipeline.statuses("client42@example.org") == ["queued", "suppressed"]


async def test_sent_messages_join_their_thread_once(pipeline: Pipeline) -> None:
    pipeline.transport.script["customer1@example.org"] = [Outcome.TEMPORARY_FAILURE]
    await pipeline.dispatcher.submit(json.dumps(load_example("invoice.new")))
    pipeline.clock.now += timedelta(minutes=2)
    await pipeline.dispatcher.run_due()
    reminder = load_example("invoice.reminder")
    reminder["data"]["invoice"]["number"] = "INV-10001"
    await pipeline.dispatcher.submit(json.dumps(reminder))
    async with pipeline.sessions() as session:
        threads = (await session.execute(select(Thread).where(Thread.tenant == "acme"))).scalars()
        [thread] = list(threads)
        entries = (
            await session.execute(select(ThreadEntry).where(ThreadEntry.thread_id == thread.id))
        ).scalars()
        outgoing = [entry for entry in entries if entry.direction == "outgoing"]
    assert thread.key == "INV-10001" and "INV-10001" in thread.subject
    assert [entry.details["request_id"] for entry in outgoing] == [
        "evt-invoice-new-0001",
        "evt-invoice-reminder-0001",
    ]
    assert "INV-10001" in outgoing[0].body_text
    for _, raw in pipeline.transport.sent:
        assert f"reply+{thread.reply_token}@bounces.mailer.test".encode() in raw
