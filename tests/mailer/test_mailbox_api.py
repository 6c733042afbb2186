"""A tenant's forwarding address and the raw messages behind inbound thread entries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.store.inbox_models import InboundMessage, Thread
from tests.support.inbox import ACME_TOKEN, GLOBEX_TOKEN, NOW, TOKENS, Inbox, entry, inbox_app

RAW = b"From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered\r\n\r\nbounced\r\n"


@pytest.fixture
async def inbox(tmp_path: Path, pinned_clock: None) -> AsyncIterator[Inbox]:
    async with inbox_app(tmp_path, tokens=TOKENS) as built:
        yield built


async def _inbound_entry(inbox: Inbox) -> tuple[int, int]:
    async with inbox.runtime.sessions() as session:
        thread = (
            await session.execute(select(Thread).where(Thread.tenant == "acme").limit(1))
        ).scalar_one()
        inbound = InboundMessage(received_at=NOW, mail_from="", rcpt_tos=["x"], raw=RAW,
                                 state="processed", attempts=1, tenant="acme")  # fmt: skip
        session.add(inbound)
        await session.flush()
        bounce = entry("bounce", NOW, thread_id=thread.id, tenant="acme", inbound_id=inbound.id)
        session.add(bounce)
        await session.commit()
        return thread.id, bounce.id


async def test_the_raw_message_of_an_entry_is_served_to_its_tenant_only(inbox: Inbox) -> None:
    thread_id, entry_id = await _inbound_entry(inbox)
    path = f"/api/threads/{thread_id}/entries/{entry_id}/raw"
    async with inbox.client(ACME_TOKEN) as acme, inbox.client(GLOBEX_TOKEN) as globex:
        mine = await acme.get(path)
        assert mine.status_code == 200 and mine.content == RAW
        assert mine.headers["content-type"] == "message/rfc822"
        assert (await globex.get(path)).status_code == 404
        assert (await acme.get(f"/api/threads/{thread_id}/entries/999999/raw")).status_code == 404


async def test_each_tenant_has_one_stable_forwarding_address(inbox: Inbox) -> None:
    async with inbox.client(ACME_TOKEN) as acme, inbox.client(GLOBEX_TOKEN) as globex:
        first = (await acme.get("/api/forwarding-address")).json()
        again = (await acme.get("/api/forwarding-address")).json()
        other = (await globex.get("/api/forwarding-address")).json()
        refused = await globex.get("/api/forwarding-address", params={"tenant": "acme"})
    assert first == again and first["tenant"] == "acme"
    assert first["address"].startswith("forward+") and other["address"] != first["address"]
    assert refused.status_code == 403
