"""Work rows attempted under a lease: their shared columns, insert-once, claim and due queries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import ClassVar

from sqlalchemy import ColumnElement, Integer, String, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

__all__ = ["LeasedWork", "claim_due", "due_ids", "insert_once"]


class LeasedWork:
    """Columns of a row that workers attempt, retry and hold a lease on (a declarative mixin).

    `is_waiting` says in SQL which rows still have attempts to come; each table keeps its own
    way of telling (a flag, a status).
    """

    # Mixin columns follow the table's own; the key still comes first.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, sort_order=-1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    first_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]

    # A classmethod of each table: its own way of telling waiting rows (a flag, a status).
    is_waiting: ClassVar[Callable[[], ColumnElement[bool]]]


async def insert_once(session: AsyncSession, row: LeasedWork) -> bool:
    """Insert a new row (with what cascades from it); False when its unique key already exists."""
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return False
    return True


def _free(model: type[LeasedWork], now: datetime) -> ColumnElement[bool]:
    """No live lease holds the row."""
    return or_(model.lease_until.is_(None), model.lease_until < now)


async def claim_due(
    session: AsyncSession,
    model: type[LeasedWork],
    pk: int,
    owner: str,
    until: datetime,
    now: datetime,
) -> bool:
    """Take the lease on a waiting row that is due, unless another worker holds a live one."""
    result = await session.execute(
        update(model)
        .where(
            model.id == pk,
            model.is_waiting(),
            model.next_attempt_at <= now,
            _free(model, now),
        )
        .values(lease_owner=owner, lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def due_ids(
    session: AsyncSession, model: type[LeasedWork], now: datetime, limit: int
) -> Sequence[int]:
    """Waiting rows whose time has come and that no live lease holds, the longest due first."""
    query = (
        select(model.id)
        .where(model.is_waiting(), model.next_attempt_at <= now, _free(model, now))
        .order_by(model.next_attempt_at)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()
