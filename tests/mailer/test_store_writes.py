"""Batched writes past the ORM: defaults as the ORM applies them, attempt state by address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.store import inbox_repository as inbox
from mailer.store import repository
from mailer.store.database import create_engine, migrate, session_factory
from mailer.store.inbox_models import Thread
from mailer.store.models import Recipient, SendRequest
from tests.support.databases import temporary_database

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def session(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncSession]:
    async with temporary_database(request.param, tmp_path) as url:
        engine = create_engine(url)
        await migrate(engine)
        try:
            async with session_factory(engine)() as session:
                yield session
        finally:
            await engine.dispose()


async def test_insert_all_gives_attributes_left_none_their_column_default(
    session: AsyncSession,
) -> None:
    plain = inbox.new_thread("acme", "INV-1", "", NOW)
    closed = inbox.new_thread("acme", "INV-2", "Invoice 2", NOW)
    closed.status, closed.has_bounce, closed.assignee = "closed", True, "ann@acme.test"
    await repository.insert_all(session, [plain, closed])
    await session.commit()
    rows = (await session.execute(select(Thread).order_by(Thread.key))).scalars().all()
    assert [(t.key, t.subject, t.status, t.has_bounce, t.assignee) for t in rows] == [
        ("INV-1", "", "open", False, None),
        ("INV-2", "Invoice 2", "closed", True, "ann@acme.test"),
    ]
    assert plain.id is None  # transient: no key comes back


def stored_request(request_id: str, addresses: list[str]) -> SendRequest:
    return SendRequest(
        tenant="acme",
        request_id=request_id,
        template="invoice.reminder",
        locale="en",
        thread="INV-1",
        event={},
        message_id=f"<{request_id}@mailer.test>",
        verp_token=request_id,
        created_at=NOW,
        pending=True,
        attempts=0,
        lease_owner="worker-1",
        recipients=[
            Recipient(address=a, kind="to", status="queued", updated_at=NOW) for a in addresses
        ],
    )


async def test_save_attempts_writes_the_request_and_only_the_recipients_named(
    session: AsyncSession,
) -> None:
    request = stored_request("r-1", ["a@client.example.com", "b@client.example.com"])
    session.add(request)
    await session.commit()
    # Meanwhile a bounce processor marked b bounced: an attempt that did not touch b keeps it.
    [b] = [r for r in request.recipients if r.address.startswith("b")]
    b.status = "bounced"
    await session.commit()
    session.expunge_all()
    a = next(r for r in request.recipients if r.address.startswith("a"))
    a.status, a.smtp_code, a.detail = "sent", 250, "250 ok"
    request.attempts, request.pending, request.lease_owner = 1, False, None
    request.first_attempt_at = NOW
    b.status = "queued"  # a stale copy of b must not be written back
    await repository.save_attempts(session, [request], [a])
    await session.commit()
    stored = (await session.execute(select(SendRequest))).scalar_one()
    await session.refresh(stored, ["recipients"])
    assert (stored.attempts, stored.pending, stored.lease_owner) == (1, False, None)
    assert stored.first_attempt_at == NOW
    assert sorted((r.address, r.status, r.smtp_code) for r in stored.recipients) == [
        ("a@client.example.com", "sent", 250),
        ("b@client.example.com", "bounced", None),
    ]


async def test_insert_all_identified_by_unique_columns_gives_each_row_its_key(
    session: AsyncSession,
) -> None:
    requests = [stored_request(f"r-{n}", []) for n in range(5)]
    await repository.insert_all(session, requests, identified_by=("tenant", "request_id"))
    await session.commit()
    stored = {r.request_id: r.id for r in (await session.execute(select(SendRequest))).scalars()}
    assert {r.request_id: r.id for r in requests} == stored
    assert len(set(stored.values())) == 5
