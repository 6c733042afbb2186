"""The inbox's read side and staff actions on threads and suppressions, all scoped by tenant."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Text, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bounce.reasons import explain_reason
from mailer.store.inbox_models import (
    EntryDirection,
    Suppression,
    Thread,
    ThreadEntry,
    ThreadStatus,
)

DEFAULT_AUTHOR = "staff"


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
