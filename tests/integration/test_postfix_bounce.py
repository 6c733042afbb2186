"""A real bounce: Postfix relays our email, the far server refuses it, Postfix's DSN comes home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.bootstrap import running
from mailer.embedded_nats import free_port
from mailer.store import repository
from mailer.store.inbox_models import BounceRecord, Suppression, Thread, ThreadEntry
from tests.conftest import load_example
from tests.integration.conftest import make_settings, wait_for
from tests.support.postfix import running_postfix
from tests.support.smtp_servers import Faults, running_smtp_server

pytestmark = pytest.mark.integration
BOUNCE_DOMAIN = "bounces.mailer.test"
DEAD = "customer1@example.org"


async def test_postfix_dsn_marks_the_message_threads_it_and_suppresses_the_address(
    tmp_path: Path,
) -> None:
    refusal = Faults(
        rcpt={DEAD: "550 5.1.1 <customer1@example.org>: Recipient address rejected: User unknown"}
    )
    relay_port, listener_port = free_port(), free_port()
    settings = make_settings(
        tmp_path,
        relay_url=f"smtp://127.0.0.1:{relay_port}",
        bounce_domain=BOUNCE_DOMAIN,
        bounce_listen=f"127.0.0.1:{listener_port}",
    )
    routes = {"example.org": 0, BOUNCE_DOMAIN: listener_port}
    async with running_smtp_server(faults=refusal) as far:
        routes["example.org"] = far.port
        async with (
            running(settings, consume=True, bounces=True) as runtime,
            running_postfix(port=relay_port, routes=routes) as maillog,
        ):
            await runtime.publisher.publish_send(json.dumps(load_example("invoice.new")).encode())

            async def bounced() -> bool:
                async with runtime.sessions() as session:
                    history = await repository.status_history(
                        session, "acme", "evt-invoice-new-0001"
                    )
                return [record.status for record in history][-1:] == ["bounced"]

            try:
                await wait_for(bounced, timeout=60)
            except AssertionError:
                raise AssertionError(maillog.read_text()[-4000:]) from None

            second = load_example("invoice.reminder") | {"to": [{"email": DEAD}]}
            await runtime.publisher.publish_send(json.dumps(second).encode())

            async def suppressed() -> bool:
                async with runtime.sessions() as session:
                    history = await repository.status_history(session, "acme", second["id"])
                return [record.status for record in history] == ["suppressed"]

            await wait_for(suppressed, timeout=30)

            async with runtime.sessions() as session:
                [record] = (await session.execute(select(BounceRecord))).scalars().all()
                [suppression] = (await session.execute(select(Suppression))).scalars().all()
                thread = (
                    await session.execute(select(Thread).where(Thread.key == "INV-10001"))
                ).scalar_one()
                entries = (
                    (
                        await session.execute(
                            select(ThreadEntry).where(ThreadEntry.thread_id == thread.id)
                        )
                    )
                    .scalars()
                    .all()
                )
                history = await repository.status_history(session, "acme", "evt-invoice-new-0001")

    assert (record.address, record.reason, record.hard, record.status) == (
        DEAD,
        "userunknown",
        True,
        "5.1.1",
    )
    assert "User unknown" in (record.diagnostic or "")
    assert (suppression.tenant, suppression.address) == ("acme", DEAD)
    assert thread.has_bounce
    assert [entry.direction for entry in entries] == ["outgoing", "bounce"]
    assert "Undelivered Mail Returned to Sender" in entries[1].subject
    assert [r.status for r in history] == ["queued", "sent", "bounced"]
    assert history[-1].hard is True and history[-1].reason == "userunknown"
    assert far.messages == []  # Postfix never got it through, and the second send was not tried
