"""Run reports: counts by outcome, each failure with its reason, bounces that arrive later."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import reports
from billing.errors import NotFound
from billing.models import Notification
from billing.notify import Channel
from billing.reports import channel_counts
from billing.run_schemas import ChannelCounts, RunReport, RunSummary
from billing.status_feed import StatusFeed
from mailer.events import DeliveryStatus, StatusEvent
from tests.billing.conftest import TENANT, FakeClock, queued
from tests.billing.test_runs import charge, configure, new_customer, run_now

Sessions = async_sessionmaker[AsyncSession]


def test_statuses_are_counted_where_they_stand() -> None:
    statuses = ["queued", "deferred", "sent", "sent", "bounced", "suppressed", "failed", "skipped"]

    assert channel_counts(statuses) == ChannelCounts(
        requested=8, pending=2, sent=2, bounced=1, suppressed=1, failed=2
    )
    assert channel_counts([]) == ChannelCounts()


async def emailed_run(sessions: Sessions, clock: FakeClock) -> int:
    """A send-invoice run that emailed Ada and Bob."""
    await configure(sessions, clock, mode="send_invoice", notify="email")
    for name in ("Ada", "Bob"):
        await charge(sessions, clock, await new_customer(sessions, clock, name), "10.00")
    return (await run_now(sessions, clock)).id


async def request_of(sessions: Sessions, recipient: str) -> str:
    async with sessions() as session:
        query = select(Notification.request_id).where(Notification.recipient == recipient)
        return (await session.execute(query)).scalar_one()


async def report_of(sessions: Sessions, run_id: int, tenant: str = TENANT) -> RunReport:
    async with sessions() as session:
        return await reports.run_report(session, tenant, run_id)


async def test_a_bounce_hours_later_shows_in_the_report_with_its_reason(
    sessions: Sessions, clock: FakeClock
) -> None:
    run_id = await emailed_run(sessions, clock)
    before = await report_of(sessions, run_id)
    assert (before.emails.requested, before.emails.pending, before.failures) == (2, 2, 0)

    feed = StatusFeed(sessions, clock)
    await feed.apply(
        Channel.EMAIL,
        StatusEvent(
            request_id=await request_of(sessions, "ada@example.org"),
            tenant=TENANT,
            recipient="ada@example.org",
            status=DeliveryStatus.SENT,
        ),
    )
    clock.advance(hours=5)
    await feed.apply(
        Channel.EMAIL,
        StatusEvent(
            request_id=await request_of(sessions, "bob@example.org"),
            tenant=TENANT,
            recipient="bob@example.org",
            status=DeliveryStatus.BOUNCED,
            hard=True,
            reason="mailbox_unknown",
            detail="550 5.1.1 <bob@example.org>: mailbox unknown",
        ),
    )

    after = await report_of(sessions, run_id)
    assert after.emails == ChannelCounts(requested=2, sent=1, bounced=1)
    [failure] = after.failure_list
    assert (failure.customer_name, failure.channel, failure.recipient, failure.status) == (
        "Bob", "email", "bob@example.org", "bounced",
    )  # fmt: skip
    assert (failure.reason, failure.detail) == (
        "mailbox_unknown",
        "550 5.1.1 <bob@example.org>: mailbox unknown",
    )
    assert failure.invoice_number == "INV-0002"
    [summary] = await _list(sessions)
    assert (summary.id, summary.notifications, summary.failures) == (run_id, 2, 1)


async def test_the_completed_event_carries_the_run_figures(
    sessions: Sessions, clock: FakeClock
) -> None:
    run_id = await emailed_run(sessions, clock)

    [event] = await queued(sessions, "billing.run.completed")

    assert event["data"] == {
        "kind": "run",
        "run_id": run_id,
        "run_kind": "manual",
        "mode": "send_invoice",
        "scheduled_on": None,
        "invoices_created": 2,
        "payment_links_created": 0,
        "emails_requested": 2,
        "sms_requested": 0,
        "failures": 0,
    }


async def test_runs_are_listed_newest_first_and_only_for_their_firm(
    sessions: Sessions, clock: FakeClock
) -> None:
    first = await emailed_run(sessions, clock)
    clock.advance(minutes=1)
    second = (await run_now(sessions, clock)).id

    assert [run.id for run in await _list(sessions)] == [second, first]
    assert [run.invoices_created for run in await _list(sessions)] == [0, 2]
    assert await _list(sessions, kind="automatic") == []
    assert await _list(sessions, tenant="other") == []
    with pytest.raises(NotFound, match=f"no billing run {first}"):
        await report_of(sessions, first, tenant="other")


async def _list(
    sessions: Sessions, *, tenant: str = TENANT, kind: str | None = None
) -> list[RunSummary]:
    async with sessions() as session:
        return await reports.list_runs(session, tenant, kind=kind)
