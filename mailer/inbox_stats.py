"""A tenant's deliverability statistics: sends, bounces and suppressions per day and per domain."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.events import DeliveryStatus
from mailer.store.inbox_models import BounceRecord
from mailer.store.models import StatusRecord

STATS_DAYS = 30
TOP_DOMAINS = 10
SENT, SUPPRESSED = DeliveryStatus.SENT.value, DeliveryStatus.SUPPRESSED.value


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
