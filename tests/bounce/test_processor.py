"""Inbound processing: bounces find their message and thread, mark it, suppress dead addresses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bounce.processor import InboundProcessor
from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer
from mailer.store import inbox_repository as inbox
from mailer.store import repository
from mailer.store.database import create_engine, migrate
from mailer.store.inbox_models import (
    BounceRecord,
    InboundMessage,
    Suppression,
    Thread,
    ThreadEntry,
)
from tests.conftest import load_example
from tests.support.bounces import dsn, reply
from tests.support.databases import temporary_database
from tests.support.pipeline import Pipeline, ScriptedTransport, build_pipeline

DOMAIN = "bounces.mailer.test"


class Setup:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.processor = InboundProcessor(pipeline.sessions, pipeline.publisher, pipeline.clock)

    async def send(self, name: str = "invoice.new", **changes: object) -> tuple[bytes, str]:
        """Send an example event; returns the message as sent and its VERP token."""
        event = load_example(name) | changes
        await self.pipeline.dispatcher.submit(json.dumps(event))
        envelope, raw = self.pipeline.transport.sent[-1]  # type: ignore[attr-defined]
        return raw, envelope.sender.split("+", 1)[1].split("@", 1)[0]

    async def receive(self, raw: bytes, rcpt: str, mail_from: str = "") -> int:
        async with self.pipeline.sessions() as session:
            message = InboundMessage(
                received_at=self.pipeline.clock.now,
                peer="127.0.0.1",
                mail_from=mail_from,
                rcpt_tos=[rcpt],
                raw=raw,
                state="pending",
                attempts=0,
            )
            session.add(message)
            await session.commit()
        await self.processor.run_pending()
        return message.id

    async def rows(self, model: type, **where: object) -> list:  # type: ignore[type-arg]
        async with self.pipeline.sessions() as session:
            query = select(model).filter_by(**where)
            return list((await session.execute(query)).scalars())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def setup(
    request: pytest.FixtureRequest, tmp_path: Path, pdfs: PdfRenderer, renderer: EmailRenderer
) -> AsyncIterator[Setup]:
    async with temporary_database(request.param, tmp_path) as url:
        engine = create_engine(url)
        await migrate(engine)
        try:
            yield Setup(build_pipeline(engine, ScriptedTransport(), pdfs, renderer))
        finally:
            await engine.dispose()


async def test_hard_bounce_marks_threads_and_suppresses(setup: Setup) -> None:
    raw, token = await setup.send(attach_pdf=False)
    await setup.receive(
        dsn(raw, "customer1@example.org", to=f"bounces+{token}@{DOMAIN}"),
        f"bounces+{token}@{DOMAIN}",
    )
    bounced = [s for s in setup.pipeline.publisher.statuses if s.status.value == "bounced"]
    assert [(s.recipient, s.reason, s.hard, s.enhanced_status) for s in bounced] == [
        ("customer1@example.org", "userunknown", True, "5.1.1")
    ]
    async with setup.pipeline.sessions() as session:
        stored = await repository.find_request(session, "acme", "evt-invoice-new-0001")
        history = await repository.status_history(session, "acme", "evt-invoice-new-0001")
    assert stored is not None and stored.recipients[0].status == "bounced"
    assert [record.status for record in history] == ["queued", "sent", "bounced"]
    [thread] = await setup.rows(Thread, tenant="acme", key="INV-10001")
    assert thread.has_bounce
    entries = await setup.rows(ThreadEntry, thread_id=thread.id)
    assert [entry.direction for entry in entries] == ["outgoing", "bounce"]
    assert entries[1].details["bounces"][0]["reason"] == "userunknown"
    [suppression] = await setup.rows(Suppression, tenant="acme")
    assert suppression.address == "customer1@example.org"
    [inbound] = await setup.rows(InboundMessage)
    assert (inbound.state, inbound.tenant, inbound.kind) == ("processed", "acme", "dsn")

    await setup.send(id="evt-next")  # the next send to the dead address is not attempted
    assert setup.pipeline.statuses("customer1@example.org")[-1] == "suppressed"


async def test_soft_bounces_suppress_after_three_in_a_week(setup: Setup) -> None:
    for number in range(3):
        raw, token = await setup.send(id=f"evt-{number}", attach_pdf=False)
        full = dsn(
            raw,
            "customer1@example.org",
            to="x",
            status="4.2.2",
            diagnostic="smtp; 452 4.2.2 Mailbox full",
        )
        await setup.receive(full, f"bounces+{token}@{DOMAIN}")
        suppressed = await setup.rows(Suppression, tenant="acme")
        assert bool(suppressed) == (number == 2)
        setup.pipeline.clock.now += timedelta(days=1)
    records = await setup.rows(BounceRecord, tenant="acme")
    assert {(r.reason, r.hard) for r in records} == {("mailboxfull", False)}


async def test_forwarded_bounce_is_matched_within_the_tenant_only(setup: Setup) -> None:
    raw, _token = await setup.send(attach_pdf=False)
    async with setup.pipeline.sessions() as session:
        acme = await inbox.forwarding_token(session, "acme", setup.pipeline.clock.now)
        globex = await inbox.forwarding_token(session, "globex", setup.pipeline.clock.now)
        await session.commit()
    returned = dsn(raw, "customer1@example.org", to="billing@acme.example", headers_only=True)
    await setup.receive(returned, f"forward+{globex}@{DOMAIN}")
    assert await setup.rows(BounceRecord, tenant="acme") == []  # another tenant's message: no
    await setup.receive(returned, f"forward+{acme}@{DOMAIN}")
    [record] = await setup.rows(BounceRecord, tenant="acme")
    assert record.send_request_id is not None and record.hard


async def test_customer_reply_lands_in_the_thread(setup: Setup) -> None:
    await setup.send(attach_pdf=False)
    [thread] = await setup.rows(Thread, tenant="acme")
    answer = reply(
        sender="Customer 1 <customer1@example.org>",
        to=f"reply+{thread.reply_token}@{DOMAIN}",
        subject="Re: Invoice INV-10001",
        text="We paid this yesterday.\n<script>x</script>",
    )
    await setup.receive(answer, f"reply+{thread.reply_token}@{DOMAIN}", "customer1@example.org")
    entries = await setup.rows(ThreadEntry, thread_id=thread.id)
    assert [entry.direction for entry in entries] == ["outgoing", "reply"]
    assert "We paid this yesterday." in entries[1].body_text
    assert await setup.rows(Suppression) == []


async def test_out_of_office_is_not_a_bounce(setup: Setup) -> None:
    _raw, token = await setup.send(attach_pdf=False)
    away = reply(
        sender="customer1@example.org",
        to=f"bounces+{token}@{DOMAIN}",
        subject="Out of office",
        text="I am away until Monday.",
        auto=True,
    )
    await setup.receive(away, f"bounces+{token}@{DOMAIN}")
    assert await setup.rows(BounceRecord) == []
    assert setup.pipeline.statuses()[-1] == "sent"


async def test_unknown_tokens_are_kept_as_unmatched(setup: Setup) -> None:
    await setup.receive(
        dsn(b"Subject: x\r\n\r\nx\r\n", "a@example.org", to="x"), f"bounces+ffffffff@{DOMAIN}"
    )
    [inbound] = await setup.rows(InboundMessage)
    assert (inbound.state, inbound.tenant) == ("unmatched", None)
    assert await setup.rows(Thread) == []
