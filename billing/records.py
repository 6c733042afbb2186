"""Tenant-owned records: fetch one by id (or NotFound) and list them with optional filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from billing.errors import NotFound
from mailer.store.models import Base

M = TypeVar("M", bound=Base)


def _column(model: type[Base], name: str) -> InstrumentedAttribute[Any]:
    column: InstrumentedAttribute[Any] = getattr(model, name)
    return column


async def get_owned(
    session: AsyncSession, model: type[M], tenant: str, id_: int, what: str, *, lock: bool = False
) -> M:
    """The tenant's `model` record with this id, or NotFound naming it as `what`; `lock` holds
    it (freshly loaded) until the transaction ends."""
    query = select(model).where(_column(model, "tenant") == tenant, _column(model, "id") == id_)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no {what} {id_}")
    return found


async def list_owned(
    session: AsyncSession,
    model: type[M],
    tenant: str,
    *,
    order_by: Sequence[Any] | None = None,
    limit: int = 100,
    offset: int = 0,
    **filters: object,
) -> Sequence[M]:
    """The tenant's `model` records matching every filter that is not None (column name to
    value), newest first unless `order_by` says otherwise."""
    query = select(model).where(_column(model, "tenant") == tenant)
    for column, value in filters.items():
        if value is not None:
            query = query.where(_column(model, column) == value)
    order = order_by if order_by is not None else (_column(model, "id").desc(),)
    query = query.order_by(*order).limit(limit).offset(offset)
    return (await session.execute(query)).scalars().all()
