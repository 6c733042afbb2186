"""Billing run records: started once per firm, kind and day, finished with an event, and
reported on read from their items and their notifications' current states."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents import money_text
from billing.events import BillingEvent, BillingEventType, RunFacts
from billing.ledger import InvoiceState
from billing.models import BillingRun, Customer, Invoice, Notification, PaymentLink, RunItem
from billing.outbox import record_event
from billing.records import get_owned
from billing.run_schemas import (
    ChannelCounts,
    RunFailure,
    RunItemView,
    RunKind,
    RunReport,
    RunSummary,
)

__all__ = [
    "channel_counts",
    "day_run",
    "find_run",
    "finish_run",
    "is_failure",
    "list_runs",
    "run_facts",
    "run_report",
    "start_run",
]

RUNNING: Final = "running"
COMPLETED: Final = "completed"

PENDING = frozenset({"queued", "deferred"})
NOT_SENT = frozenset({"failed", "rejected", "skipped"})
FAILURES = NOT_SENT | {"bounced", "suppressed"}


async def start_run(
    session: AsyncSession,
    tenant: str,
    kind: RunKind,
    scheduled_on: date | None,
    now: datetime,
    *,
    mode: str | None,
    notify_by: str | None,
) -> BillingRun:
    """A new run; a second (tenant, kind, date) raises IntegrityError at once: the key decides."""
    run = BillingRun(
        tenant=tenant,
        kind=kind.value,
        scheduled_on=scheduled_on,
        mode=mode,
        notify=notify_by,
        state=RUNNING,
        started_at=now,
    )
    session.add(run)
    await session.flush()
    return run


async def day_run(
    session: AsyncSession, tenant: str, kind: RunKind, day: date, now: datetime, **how: str | None
) -> BillingRun:
    """The (tenant, kind, day) run, created by whichever transaction gets there first."""
    found = await find_run(session, tenant, kind, day)
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            return await start_run(session, tenant, kind, day, now, **how)
    except IntegrityError:  # a concurrent transaction created it and committed
        found = await find_run(session, tenant, kind, day)
        if found is None:
            raise
        return found


async def find_run(
    session: AsyncSession, tenant: str, kind: RunKind, day: date
) -> BillingRun | None:
    query = select(BillingRun).where(
        BillingRun.tenant == tenant, BillingRun.kind == kind.value, BillingRun.scheduled_on == day
    )
    return (await session.execute(query)).scalar_one_or_none()


async def finish_run(session: AsyncSession, run: BillingRun, now: datetime) -> RunReport:
    """Mark the run completed and announce it with its figures (`billing.run.completed`)."""
    run.state, run.finished_at = COMPLETED, now
    await session.flush()
    report = await run_report(session, run.tenant, run.id)
    event = BillingEvent.new(BillingEventType.RUN_COMPLETED, run.tenant, now, run_facts(report))
    record_event(session, event)
    return report


def is_failure(status: str) -> bool:
    """Whether a notification in `status` did not (and will not) reach its customer."""
    return status in FAILURES


def channel_counts(statuses: Iterable[str]) -> ChannelCounts:
    """How many notifications stand where, from their statuses."""
    tally = Counter(statuses)
    return ChannelCounts(
        requested=sum(tally.values()),
        pending=sum(tally[status] for status in PENDING),
        sent=tally["sent"],
        bounced=tally["bounced"],
        suppressed=tally["suppressed"],
        failed=sum(tally[status] for status in NOT_SENT),
    )


async def run_report(session: AsyncSession, tenant: str, run_id: int) -> RunReport:
    """The tenant's run with its counts, failures (with reasons) and what it did per customer."""
    run = await _get_run(session, tenant, run_id)
    items = await _items(session, tenant, run.id)
    notes = await _notifications(session, tenant, run.id)
    by_channel: dict[str, list[str]] = defaultdict(list)
    for note, _name, _number in notes:
        by_channel[note.channel].append(note.status)
    failures = [
        _failure(note, name, number) for note, name, number in notes if is_failure(note.status)
    ]
    return RunReport(
        **_summary_fields(run),
        invoices_created=sum(1 for item in items if item.invoice_id is not None),
        payment_links_created=sum(1 for item in items if item.payment_link_id is not None),
        notifications=len(notes),
        failures=len(failures),
        drafts_awaiting_confirmation=sum(
            1 for item in items if item.invoice_state == InvoiceState.DRAFT.value
        ),
        emails=channel_counts(by_channel["email"]),
        sms=channel_counts(by_channel["sms"]),
        failure_list=failures,
        items=items,
    )


def run_facts(report: RunReport) -> RunFacts:
    """The figures `billing.run.completed` announces."""
    return RunFacts(
        run_id=report.id,
        run_kind=report.kind,
        mode=report.mode,
        scheduled_on=report.scheduled_on,
        invoices_created=report.invoices_created,
        payment_links_created=report.payment_links_created,
        emails_requested=report.emails.requested,
        sms_requested=report.sms.requested,
        failures=report.failures,
    )


async def list_runs(
    session: AsyncSession,
    tenant: str,
    *,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[RunSummary]:
    """The tenant's runs, newest first, each with its headline counts."""
    query = select(BillingRun).where(BillingRun.tenant == tenant)
    if kind is not None:
        query = query.where(BillingRun.kind == kind)
    query = query.order_by(BillingRun.started_at.desc(), BillingRun.id.desc())
    runs = (await session.execute(query.limit(limit).offset(offset))).scalars().all()
    ids = [run.id for run in runs]
    made = await _made_by_run(session, tenant, ids)
    statuses = await _statuses_by_run(session, tenant, ids)
    return [
        RunSummary(
            **_summary_fields(run),
            invoices_created=made[run.id][0],
            payment_links_created=made[run.id][1],
            notifications=sum(statuses[run.id].values()),
            failures=sum(count for status, count in statuses[run.id].items() if is_failure(status)),
        )
        for run in runs
    ]


async def _get_run(session: AsyncSession, tenant: str, run_id: int) -> BillingRun:
    return await get_owned(session, BillingRun, tenant, run_id, "billing run")


def _summary_fields(run: BillingRun) -> dict[str, object]:
    return {
        "id": run.id,
        "kind": run.kind,
        "mode": run.mode,
        "notify": run.notify,
        "state": run.state,
        "scheduled_on": run.scheduled_on,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


async def _items(session: AsyncSession, tenant: str, run_id: int) -> list[RunItemView]:
    query = (
        select(RunItem, Customer.name, Invoice, PaymentLink)
        .join(Customer, Customer.id == RunItem.customer_id)
        .outerjoin(Invoice, Invoice.id == RunItem.invoice_id)
        .outerjoin(PaymentLink, PaymentLink.id == RunItem.payment_link_id)
        .where(RunItem.tenant == tenant, RunItem.run_id == run_id)
        .order_by(RunItem.id)
    )
    views = []
    for item, name, invoice, link in (await session.execute(query)).all():
        priced = invoice if invoice is not None else link
        views.append(
            RunItemView(
                customer_id=item.customer_id,
                customer_name=name,
                outcome=item.outcome,
                invoice_id=item.invoice_id,
                invoice_number=invoice.number if invoice is not None else None,
                invoice_state=invoice.state if invoice is not None else None,
                payment_link_id=item.payment_link_id,
                amount=_amount_of(priced),
                currency=priced.currency if priced is not None else None,
            )
        )
    return views


def _amount_of(priced: Invoice | PaymentLink | None) -> str | None:
    if isinstance(priced, Invoice):
        return money_text(priced.total, priced.currency)
    if isinstance(priced, PaymentLink):
        return money_text(priced.amount, priced.currency)
    return None


async def _notifications(
    session: AsyncSession, tenant: str, run_id: int
) -> Sequence[tuple[Notification, str, str | None]]:
    query = (
        select(Notification, Customer.name, Invoice.number)
        .join(Customer, Customer.id == Notification.customer_id)
        .outerjoin(Invoice, Invoice.id == Notification.invoice_id)
        .where(Notification.tenant == tenant, Notification.run_id == run_id)
        .order_by(Notification.id)
    )
    return [(note, name, number) for note, name, number in await session.execute(query)]


def _failure(note: Notification, customer_name: str, invoice_number: str | None) -> RunFailure:
    return RunFailure(
        notification_id=note.id,
        customer_id=note.customer_id,
        customer_name=customer_name,
        channel=note.channel,
        recipient=note.recipient,
        status=note.status,
        reason=note.reason,
        detail=note.detail,
        template=note.template,
        invoice_id=note.invoice_id,
        invoice_number=invoice_number,
    )


async def _made_by_run(
    session: AsyncSession, tenant: str, run_ids: list[int]
) -> defaultdict[int, tuple[int, int]]:
    """(invoices, payment links) each run made."""
    made: defaultdict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
    if not run_ids:
        return made
    query = (
        select(RunItem.run_id, func.count(RunItem.invoice_id), func.count(RunItem.payment_link_id))
        .where(RunItem.tenant == tenant, RunItem.run_id.in_(run_ids))
        .group_by(RunItem.run_id)
    )
    for run_id, invoices, links in (await session.execute(query)).all():
        made[run_id] = (int(invoices), int(links))
    return made


async def _statuses_by_run(
    session: AsyncSession, tenant: str, run_ids: list[int]
) -> defaultdict[int, Counter[str]]:
    statuses: defaultdict[int, Counter[str]] = defaultdict(Counter)
    if not run_ids:
        return statuses
    query = (
        select(Notification.run_id, Notification.status, func.count(Notification.id))
        .where(Notification.tenant == tenant, Notification.run_id.in_(run_ids))
        .group_by(Notification.run_id, Notification.status)
    )
    for run_id, status, count in (await session.execute(query)).all():
        if run_id is not None:
            statuses[run_id][status] += int(count)
    return statuses
