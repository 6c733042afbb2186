"""The inbox's read side and staff actions on threads and suppressions, all scoped by tenant."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from mailer.events import DeliveryStatus
from mailer.store.inbox_models import (
    BounceRecord,
    EntryDirection,
    Suppression,
    Thread,
    ThreadEntry,
    ThreadStatus,
)
from mailer.store.models import StatusRecord

STATS_DAYS = 30
TOP_DOMAINS = 10
DEFAULT_AUTHOR = "staff"
SENT, SUPPRESSED = DeliveryStatus.SENT.value, DeliveryStatus.SUPPRESSED.value


@dataclass(frozen=True)
class ThreadPage:
    """One page of a tenant's threads, newest activity first, and how many match in all."""

    threads: Sequence[Thread]
    total: int


@dataclass(frozen=True)
class ThreadChange:
    """What staff change on a thread; `assign` tells "unassign" (None) from "leave as is"."""

    status: ThreadStatus | None = None
    assign: bool = False
    assignee: str | None = None
    note: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Lifted:
    """A suppression staff lifted, and the thread that got a note about it (if any)."""

    suppression: Suppression
    note_thread_id: int | None


@dataclass(frozen=True)
class DayCounts:
    """One UTC day of a tenant's mail: recipients sent, bounced (hard, soft) and suppressed."""

    day: date
    sent: int = 0
    hard: int = 0
    soft: int = 0
    suppressed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.hard + self.soft + self.suppressed


@dataclass(frozen=True)
class DomainRate:
    """Sends and bounces to one recipient domain; the rate is bounced / sent."""

    domain: str
    sent: int
    hard: int
    soft: int

    @property
    def bounced(self) -> int:
        return self.hard + self.soft

    @property
    def rate(self) -> float | None:
        return self.bounced / self.sent if self.sent else None


@dataclass(frozen=True)
class Deliverability:
    """A tenant's last days at a glance (days oldest first) and its busiest domains."""

    days: list[DayCounts]
    domains: list[DomainRate]

    def total(self, field: str) -> int:
        return sum(int(getattr(day, field)) for day in self.days)


def _thread_filters(
    tenant: str, status: ThreadStatus | None, has_bounce: bool | None
) -> list[ColumnElement[bool]]:
    conditions = [Thread.tenant == tenant]
    if status is not None:
        conditions.append(Thread.status == status.value)
    if has_bounce is not None:
        conditions.append(Thread.has_bounce.is_(has_bounce))
    return conditions


async def list_threads(
    session: AsyncSession,
    tenant: str,
    *,
    status: ThreadStatus | None = None,
    has_bounce: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ThreadPage:
    """A tenant's threads, most recently active first, optionally by status and bounce."""
    conditions = _thread_filters(tenant, status, has_bounce)
    total = await session.scalar(select(func.count()).select_from(Thread).where(*conditions))
    query = (
        select(Thread)
        .where(*conditions)
        .order_by(Thread.updated_at.desc(), Thread.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return ThreadPage((await session.execute(query)).scalars().all(), int(total or 0))


async def get_thread(session: AsyncSession, tenant: str, thread_id: int) -> Thread | None:
    """One of the tenant's threads with its entries (oldest first); None for another's id."""
    query = (
        select(Thread)
        .where(Thread.tenant == tenant, Thread.id == thread_id)
        .options(selectinload(Thread.entries))
    )
    return (await session.execute(query)).scalar_one_or_none()


def _add_note(thread: Thread, text: str, author: str | None, now: datetime) -> ThreadEntry:
    entry = ThreadEntry(
        tenant=thread.tenant,
        at=now,
        direction=EntryDirection.NOTE.value,
        recipients=[],
        subject="",
        body_text=text,
        details={},
        author=(author or "").strip() or DEFAULT_AUTHOR,
    )
    thread.entries.append(entry)
    thread.updated_at = now
    return entry


async def update_thread(
    session: AsyncSession, tenant: str, thread_id: int, change: ThreadChange, now: datetime
) -> Thread | None:
    """Change status and assignee and add a note, in one transaction; None for another's id."""
    thread = await get_thread(session, tenant, thread_id)
    if thread is None:
        return None
    if change.status is not None:
        thread.status = change.status.value
    if change.assign:
        thread.assignee = (change.assignee or "").strip() or None
    if change.note and change.note.strip():
        _add_note(thread, change.note.strip(), change.author, now)
    thread.updated_at = now
    await session.commit()
    return thread


async def list_suppressions(
    session: AsyncSession, tenant: str, *, limit: int = 100, offset: int = 0
) -> tuple[Sequence[Suppression], int]:
    """A tenant's suppressed addresses, newest first, and how many there are in all."""
    total = await session.scalar(
        select(func.count()).select_from(Suppression).where(Suppression.tenant == tenant)
    )
    query = (
        select(Suppression)
        .where(Suppression.tenant == tenant)
        .order_by(Suppression.created_at.desc(), Suppression.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return (await session.execute(query)).scalars().all(), int(total or 0)


async def latest_thread_with(session: AsyncSession, tenant: str, address: str) -> Thread | None:
    """The tenant's most recently active thread that mentions the address in any entry."""
    address = address.strip().lower()
    mentions = or_(
        func.lower(ThreadEntry.details["address"].as_string()) == address,
        func.lower(ThreadEntry.sender) == address,
        func.lower(ThreadEntry.sender).contains(f"<{address}>", autoescape=True),
        func.lower(cast(ThreadEntry.recipients, Text)).contains(
            json.dumps(address), autoescape=True
        ),
    )
    query = (
        select(Thread)
        .join(ThreadEntry, ThreadEntry.thread_id == Thread.id)
        .where(Thread.tenant == tenant, ThreadEntry.tenant == tenant, mentions)
        .order_by(Thread.updated_at.desc(), Thread.id.desc())
        .limit(1)
        .options(selectinload(Thread.entries))
    )
    return (await session.execute(query)).scalars().first()


async def lift_suppression(
    session: AsyncSession, tenant: str, address: str, *, author: str | None, now: datetime
) -> Lifted | None:
    """Mail the address again: delete the suppression, note it on its latest thread."""
    query = select(Suppression).where(
        Suppression.tenant == tenant, func.lower(Suppression.address) == address.strip().lower()
    )
    suppression = (await session.execute(query)).scalars().first()
    if suppression is None:
        return None
    await session.delete(suppression)
    thread = await latest_thread_with(session, tenant, suppression.address)
    if thread is not None:
        who = (author or "").strip() or DEFAULT_AUTHOR
        text = (
            f"{who} lifted the suppression of {suppression.address}: mail to it will be sent "
            f"again. It was suppressed because: {explain_reason(suppression.reason)}"
        )
        _add_note(thread, text, who, now)
    await session.commit()
    return Lifted(suppression, thread.id if thread else None)


def _day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column as 'YYYY-MM-DD' (constants inline, so the
    same expression can be grouped on PostgreSQL)."""
    if dialect == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), column)
        return func.to_char(utc, literal_column("'YYYY-MM-DD'"))
    return func.date(column)


def _domain(column: Any, dialect: str) -> ColumnElement[Any]:
    """The lower-cased domain part of an address column."""
    if dialect == "postgresql":
        return func.lower(func.substring(column, literal_column("'@([^@]*)$'")))
    return func.lower(func.substr(column, func.instr(column, literal_column("'@'")) + 1))


async def deliverability(
    session: AsyncSession, tenant: str, *, today: date, days: int = STATS_DAYS
) -> Deliverability:
    """Per UTC day over `days` days up to `today`, and bounce rates of the busiest domains."""
    since = datetime.combine(today - timedelta(days=days - 1), time(), tzinfo=UTC)
    dialect = session.get_bind().dialect.name
    s_day, b_day = _day(StatusRecord.at, dialect), _day(BounceRecord.at, dialect)
    s_domain, b_domain = (
        _domain(StatusRecord.recipient, dialect),
        _domain(BounceRecord.address, dialect),
    )
    statuses = (StatusRecord.tenant == tenant, StatusRecord.at >= since)
    bounces = (BounceRecord.tenant == tenant, BounceRecord.at >= since)
    status_rows = await session.execute(
        select(s_day, StatusRecord.status, func.count())
        .where(*statuses, StatusRecord.status.in_((SENT, SUPPRESSED)))
        .group_by(s_day, StatusRecord.status)
    )
    bounce_rows = await session.execute(
        select(b_day, BounceRecord.hard, func.count())
        .where(*bounces)
        .group_by(b_day, BounceRecord.hard)
    )
    sent_rows = await session.execute(
        select(s_domain, func.count())
        .where(*statuses, StatusRecord.status == SENT, StatusRecord.recipient.is_not(None))
        .group_by(s_domain)
    )
    bounced_rows = await session.execute(
        select(b_domain, BounceRecord.hard, func.count())
        .where(*bounces)
        .group_by(b_domain, BounceRecord.hard)
    )
    return assemble_deliverability(
        today,
        days,
        daily=[(str(d), str(s), int(n)) for d, s, n in status_rows]
        + [(str(d), "hard" if hard else "soft", int(n)) for d, hard, n in bounce_rows],
        sent_by_domain=[(str(domain or ""), int(n)) for domain, n in sent_rows],
        bounced_by_domain=[
            (str(domain or ""), bool(hard), int(n)) for domain, hard, n in bounced_rows
        ],
    )


def assemble_deliverability(
    today: date,
    days: int,
    *,
    daily: Iterable[tuple[str, str, int]],
    sent_by_domain: Iterable[tuple[str, int]],
    bounced_by_domain: Iterable[tuple[str, bool, int]],
) -> Deliverability:
    """Zero-filled days and the top domains by volume, from grouped counts (pure)."""
    first = today - timedelta(days=days - 1)
    counts: dict[date, dict[str, int]] = {first + timedelta(n): {} for n in range(days)}
    for day_text, kind, count in daily:
        bucket = counts.get(date.fromisoformat(day_text[:10]))
        if bucket is not None:
            bucket[kind] = bucket.get(kind, 0) + count
    domains: dict[str, list[int]] = {}
    for domain, count in sent_by_domain:
        domains.setdefault(domain or "(none)", [0, 0, 0])[0] += count
    for domain, hard, count in bounced_by_domain:
        domains.setdefault(domain or "(none)", [0, 0, 0])[1 if hard else 2] += count
    ranked = sorted(domains.items(), key=lambda item: (-item[1][0], -sum(item[1][1:]), item[0]))
    return Deliverability(
        days=[DayCounts(day, **values) for day, values in counts.items()],
        domains=[DomainRate(name, *numbers) for name, numbers in ranked[:TOP_DOMAINS]],
    )


REASONS: dict[str, str] = {
    "userunknown": "The mailbox does not exist. Check the address with the customer.",
    "hostunknown": "The email domain (the part after @) does not exist. Check its spelling.",
    "hasmoved": "The recipient has moved to a new address; the old one no longer works.",
    "notaccept": "The recipient's domain does not accept any email.",
    "mailboxfull": "The recipient's mailbox is full.",
    "exceedlimit": "The email is larger than the recipient's mailbox allows.",
    "mesgtoobig": "The email is too large for the recipient's mail server.",
    "filtered": "The recipient's mail server refused it (a filter, or the mailbox is disabled).",
    "rejected": "The recipient's mail server refused our sender address.",
    "blocked": "The recipient's mail server blocks mail from our sending server.",
    "spamdetected": "The recipient's mail server took the email for spam.",
    "virusdetected": "The recipient's mail server thought the email carried a virus.",
    "policyviolation": "The email broke a rule of the recipient's organisation.",
    "securityerror": "The recipient's mail server refused it for a security reason.",
    "authfailure": "The email failed the recipient's sender checks (SPF, DKIM or DMARC).",
    "norelaying": "The recipient's mail server refused to pass the email on.",
    "requireptr": "The recipient's mail server wants our server to have a reverse DNS name.",
    "notcompliantrfc": "The recipient's mail server says the email breaks the email standards.",
    "contenterror": "The recipient's mail server could not accept the email's content.",
    "expired": "Delivery kept failing until we gave up; the server could not be reached in time.",
    "networkerror": "A network problem stopped the delivery.",
    "systemerror": "The recipient's mail server had an internal error.",
    "systemfull": "The recipient's mail server has run out of space.",
    "toomanyconn": "The recipient's mail server was too busy (too many connections).",
    "speeding": "The recipient's mail server asked us to send more slowly.",
    "suspend": "The recipient's mailbox is suspended or no longer in use.",
    "syntaxerror": "The recipient's mail server did not understand our server.",
    "mailererror": "The recipient's mail program failed to deliver the email.",
    "onhold": "The bounce could not be classified yet; delivery is on hold.",
    "failedstarttls": "No encrypted connection to the recipient's mail server was possible.",
    "badreputation": "The recipient's mail server distrusts our sending server's reputation.",
    "undefined": "The bounce does not say why the email could not be delivered.",
    "feedback": "The recipient marked the email as spam.",
    "vacation": "An automatic reply (for example, out of office); the email did arrive.",
}


def explain_reason(code: str | None) -> str:
    """A bounce reason code (Sisimai's vocabulary) in plain words for accounting staff."""
    key = (code or "undefined").strip().lower()
    return REASONS.get(key, f"The email could not be delivered (reason code: {key}).")
