"""StatusFeed: notification states only move forward; dead addresses flag the customer once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import Customer, Invoice, Notification
from billing.notify import Channel
from billing.status_feed import StatusFeed, status_rank
from mailer.events import DeliveryStatus, StatusEvent
from mailer.store.inbox_models import Thread, ThreadEntry
from tests.billing.conftest import FakeClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Seeded:
    customer_id: int
    invoice_id: int | None
    notification_id: int


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def feed(sessions: Sessions, clock: FakeClock) -> StatusFeed:
    return StatusFeed(sessions, clock)


async def seed(
    sessions: Sessions,
    *,
    tenant: str = "acme",
    request_id: str = "req-1",
    channel: str = Channel.EMAIL,
    email: str | None = "Ana@Example.com",
    invoice_number: str | None = "INV-0001",
    customer_id: int | None = None,
    recipient: str | None = None,
) -> Seeded:
    async with sessions() as session, session.begin():
        if customer_id is None:
            customer = Customer(
                tenant=tenant,
                name="Ana Lima",
                email=email,
                currency="EUR",
                created_at=T0,
                updated_at=T0,
            )
            session.add(customer)
            await session.flush()
            customer_id = customer.id
        invoice_id = None
        if invoice_number is not None:
            invoice = Invoice(
                tenant=tenant,
                customer_id=customer_id,
                number=invoice_number,
                state="issued",
                currency="EUR",
                issue_date=date(2026, 3, 1),
                created_at=T0,
            )
            session.add(invoice)
            await session.flush()
            invoice_id = invoice.id
        notification = Notification(
            tenant=tenant,
            request_id=request_id,
            channel=channel,
            template="invoice.new",
            customer_id=customer_id,
            invoice_id=invoice_id,
            recipient=recipient or (email or "+4512345678").lower(),
            status=DeliveryStatus.QUEUED.value,
            created_at=T0,
            updated_at=T0,
        )
        session.add(notification)
        await session.flush()
        return Seeded(customer_id, invoice_id, notification.id)


def status(
    status: DeliveryStatus,
    *,
    tenant: str | None = "acme",
    request_id: str | None = "req-1",
    recipient: str | None = "ana@example.com",
    **fields: Any,
) -> bytes:
    event = StatusEvent(
        request_id=request_id, tenant=tenant, recipient=recipient, status=status, **fields
    )
    return event.model_dump_json().encode()


def hard_bounce(**fields: Any) -> bytes:
    return status(
        DeliveryStatus.BOUNCED,
        hard=True,
        reason="userunknown",
        detail="550 5.1.1 no such user",
        **fields,
    )


async def notification(sessions: Sessions, notification_id: int) -> Notification:
    async with sessions() as session:
        found = await session.get(Notification, notification_id)
        assert found is not None
        return found


async def customer(sessions: Sessions, customer_id: int) -> Customer:
    async with sessions() as session:
        found = await session.get(Customer, customer_id)
        assert found is not None
        return found


async def notes(sessions: Sessions, tenant: str = "acme") -> list[tuple[str, ThreadEntry]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Thread.key, ThreadEntry)
            .join(Thread, Thread.id == ThreadEntry.thread_id)
            .where(ThreadEntry.tenant == tenant)
            .order_by(ThreadEntry.id)
        )
        return [(key, entry) for key, entry in rows]


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED),
        (DeliveryStatus.DEFERRED, DeliveryStatus.SENT),
        (DeliveryStatus.SENT, DeliveryStatus.BOUNCED),
        (DeliveryStatus.SENT, DeliveryStatus.SUPPRESSED),
        (DeliveryStatus.SENT, DeliveryStatus.FAILED),
        (DeliveryStatus.DEFERRED, DeliveryStatus.REJECTED),
        (DeliveryStatus.QUEUED, DeliveryStatus.SKIPPED),
    ],
)
def test_statuses_are_ordered(lower: DeliveryStatus, higher: DeliveryStatus) -> None:
    assert status_rank(lower.value) < status_rank(higher.value)


def test_final_statuses_rank_alike_and_unknown_ones_lowest() -> None:
    finals = {status_rank(s.value) for s in DeliveryStatus if s.is_final and s.value != "sent"}
    assert len(finals) == 1
    assert status_rank("requested") < status_rank(DeliveryStatus.QUEUED.value)


async def test_statuses_move_forward_and_a_late_bounce_still_applies(
    sessions: Sessions, feed: StatusFeed, clock: FakeClock
) -> None:
    seeded = await seed(sessions)
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.DEFERRED, detail="451 try later"))
    assert (await notification(sessions, seeded.notification_id)).status == "deferred"

    clock.advance(seconds=60)
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.SENT, smtp_code=250))
    clock.advance(seconds=60)
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.QUEUED))  # late and out of order
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.DEFERRED))
    sent = await notification(sessions, seeded.notification_id)
    assert (sent.status, sent.detail, sent.updated_at) == ("sent", None, T0 + timedelta(seconds=60))

    clock.advance(seconds=3 * 3600)  # bounces arrive hours later
    await feed.handle(Channel.EMAIL, hard_bounce())
    bounced = await notification(sessions, seeded.notification_id)
    assert bounced.status == "bounced"
    assert bounced.reason == "userunknown"
    assert bounced.detail == "550 5.1.1 no such user"
    assert bounced.updated_at == clock.now


async def test_sent_after_a_bounce_does_not_overwrite_it(
    sessions: Sessions, feed: StatusFeed, clock: FakeClock
) -> None:
    seeded = await seed(sessions)
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.BOUNCED, hard=False, reason="full"))
    clock.advance(seconds=10)
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.SENT))
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.FAILED, detail="other final"))
    row = await notification(sessions, seeded.notification_id)
    assert (row.status, row.reason, row.updated_at) == ("bounced", "full", T0)


async def test_soft_bounce_does_not_flag_the_customer(sessions: Sessions, feed: StatusFeed) -> None:
    seeded = await seed(sessions)
    await feed.handle(
        Channel.EMAIL,
        status(DeliveryStatus.BOUNCED, hard=False, reason="mailboxfull", detail="452 full"),
    )
    assert (await notification(sessions, seeded.notification_id)).status == "bounced"
    assert not (await customer(sessions, seeded.customer_id)).email_undeliverable
    assert await notes(sessions) == []


async def test_hard_bounce_flags_the_customer_and_leaves_a_note_on_the_invoice_thread(
    sessions: Sessions, feed: StatusFeed, clock: FakeClock
) -> None:
    seeded = await seed(sessions)
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.SENT))
    clock.advance(seconds=3600)
    await feed.handle(Channel.EMAIL, hard_bounce())

    flagged = await customer(sessions, seeded.customer_id)
    assert flagged.email_undeliverable
    assert flagged.email_undeliverable_reason == "hard bounce (userunknown): 550 5.1.1 no such user"
    assert flagged.email_undeliverable_at == clock.now
    [(key, note)] = await notes(sessions)
    assert key == "INV-0001"
    assert note.direction == "note"
    assert note.at == clock.now
    assert "Ana@Example.com" in note.body_text
    assert "undeliverable" in note.body_text
    assert "paused" in note.body_text
    assert "new email address" in note.body_text


async def test_suppression_flags_the_customer_on_the_customer_thread_without_invoice(
    sessions: Sessions, feed: StatusFeed
) -> None:
    seeded = await seed(sessions, invoice_number=None)
    await feed.handle(
        Channel.EMAIL, status(DeliveryStatus.SUPPRESSED, detail="address on the suppression list")
    )
    assert (await notification(sessions, seeded.notification_id)).status == "suppressed"
    flagged = await customer(sessions, seeded.customer_id)
    assert flagged.email_undeliverable_reason == "suppressed: address on the suppression list"
    [(key, _note)] = await notes(sessions)
    assert key == "customer:ana@example.com"


async def test_same_event_twice_changes_nothing_more(
    sessions: Sessions, feed: StatusFeed, clock: FakeClock
) -> None:
    seeded = await seed(sessions)
    body = hard_bounce()
    await feed.handle(Channel.EMAIL, body)
    first = await notification(sessions, seeded.notification_id)
    clock.advance(seconds=600)
    await feed.handle(Channel.EMAIL, body)

    again = await notification(sessions, seeded.notification_id)
    assert (again.status, again.detail, again.updated_at) == (
        first.status,
        first.detail,
        first.updated_at,
    )
    assert (await customer(sessions, seeded.customer_id)).email_undeliverable_at == T0
    assert len(await notes(sessions)) == 1


async def test_one_note_per_customer_flagging_not_per_event(
    sessions: Sessions, feed: StatusFeed
) -> None:
    first = await seed(sessions, request_id="req-1", invoice_number="INV-0001")
    await seed(
        sessions, request_id="req-2", invoice_number="INV-0002", customer_id=first.customer_id
    )
    await feed.handle(Channel.EMAIL, hard_bounce(request_id="req-1"))
    await feed.handle(Channel.EMAIL, hard_bounce(request_id="req-2"))
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.SUPPRESSED, request_id="req-2"))

    assert [key for key, _ in await notes(sessions)] == ["INV-0001"]


async def test_bounce_of_an_address_the_customer_no_longer_uses_does_not_flag(
    sessions: Sessions, feed: StatusFeed
) -> None:
    seeded = await seed(sessions, recipient="old@example.com")
    await feed.handle(Channel.EMAIL, hard_bounce(recipient="old@example.com"))
    assert (await notification(sessions, seeded.notification_id)).status == "bounced"
    assert not (await customer(sessions, seeded.customer_id)).email_undeliverable
    assert await notes(sessions) == []


async def test_unknown_requests_are_ignored(sessions: Sessions, feed: StatusFeed) -> None:
    seeded = await seed(sessions)
    await feed.handle(Channel.EMAIL, hard_bounce(request_id="sent-by-someone-else"))
    await feed.handle(Channel.EMAIL, status(DeliveryStatus.REJECTED, request_id=None, tenant=None))
    await feed.handle(Channel.SMS, status(DeliveryStatus.SENT))  # right id, wrong channel
    assert (await notification(sessions, seeded.notification_id)).status == "queued"
    assert not (await customer(sessions, seeded.customer_id)).email_undeliverable


async def test_sms_statuses_update_sms_notifications_but_never_flag_email(
    sessions: Sessions, feed: StatusFeed
) -> None:
    seeded = await seed(sessions, channel=Channel.SMS, recipient="+4512345678")
    await feed.handle(
        Channel.SMS,
        status(DeliveryStatus.SUPPRESSED, recipient="+4512345678", detail="opted out"),
    )
    assert (await notification(sessions, seeded.notification_id)).status == "suppressed"
    assert not (await customer(sessions, seeded.customer_id)).email_undeliverable


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b'{"tenant": "acme", "request_id": "req-1"}',
        b'{"tenant": "acme", "request_id": "req-1", "status": "exploded"}',
        b"[1, 2, 3]",
    ],
)
async def test_garbage_is_logged_without_the_body_and_dropped(
    sessions: Sessions, feed: StatusFeed, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    seeded = await seed(sessions)
    with caplog.at_level(logging.WARNING, logger="billing.status_feed"):
        await feed.handle(Channel.EMAIL, body)
    assert (await notification(sessions, seeded.notification_id)).status == "queued"
    assert len(caplog.records) == 1
    assert "invalid" in caplog.records[0].getMessage()
    if len(body) > 4:
        assert body.decode(errors="replace") not in caplog.text


async def test_a_tenant_never_touches_another_tenants_notification(
    sessions: Sessions, feed: StatusFeed
) -> None:
    acme = await seed(sessions, tenant="acme", request_id="req-1")
    other = await seed(sessions, tenant="globex", request_id="req-1")
    await feed.handle(Channel.EMAIL, hard_bounce(tenant="acme", request_id="req-1"))

    assert (await notification(sessions, acme.notification_id)).status == "bounced"
    assert (await notification(sessions, other.notification_id)).status == "queued"
    assert not (await customer(sessions, other.customer_id)).email_undeliverable
    assert await notes(sessions, tenant="globex") == []
    assert len(await notes(sessions, tenant="acme")) == 1
