"""The inbox's JSON API: a tenant's threads, staff changes, suppressions and deliverability."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bounce.reasons import explain_reason
from mailer import inbox_queries as queries
from mailer.auth import ApiTenant
from mailer.inbox_stats import Deliverability, deliverability
from mailer.store.inbox_models import (
    EntryDirection,
    Suppression,
    Thread,
    ThreadEntry,
    ThreadStatus,
)

logger = logging.getLogger(__name__)

MAX_PAGE = 200
MAX_ID = 2**31 - 1  # the id columns are 32-bit on PostgreSQL; larger ids cannot exist
ThreadId = Annotated[int, Path(ge=1, le=MAX_ID, description="The thread's id.")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip.")]


class ThreadSummary(BaseModel):
    """One thread as the list shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str = Field(description="What the thread is about: an invoice number or a customer.")
    subject: str
    status: str = Field(description="open, pending or closed.")
    assignee: str | None
    has_bounce: bool
    created_at: datetime
    updated_at: datetime = Field(description="Time of the latest activity.")


class BounceView(BaseModel):
    """Why a recipient did not get the email, in plain words and as the server said it."""

    address: str | None
    reason: str = Field(description="Reason code, e.g. userunknown, mailboxfull.")
    explanation: str = Field(description="The reason in plain words.")
    hard: bool = Field(description="True: the address will not work; false: it may later.")
    status: str | None = Field(description="Enhanced status code, e.g. 5.1.1.")
    reply_code: int | None
    diagnostic: str | None = Field(description="The receiving server's own words.")


class EntryView(BaseModel):
    """One message or note of a thread."""

    id: int
    at: datetime
    direction: str = Field(description="outgoing, bounce, reply, autoreply, feedback or note.")
    sender: str | None
    recipients: list[str]
    subject: str
    body_text: str
    message_id: str | None
    author: str | None = Field(description="Who wrote a note.")
    details: dict[str, Any]
    bounce: BounceView | None = Field(description="Set on bounce and feedback entries.")

    @classmethod
    def of(cls, entry: ThreadEntry) -> EntryView:
        details = entry.details if isinstance(entry.details, dict) else {}
        return cls(
            id=entry.id,
            at=entry.at,
            direction=entry.direction,
            sender=entry.sender,
            recipients=[str(r) for r in entry.recipients or []],
            subject=entry.subject or "",
            body_text=entry.body_text or "",
            message_id=entry.message_id,
            author=entry.author,
            details=details,
            bounce=bounce_of(entry.direction, details),
        )


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def bounce_of(direction: str, details: dict[str, Any]) -> BounceView | None:
    """The bounce a bounce or feedback entry reports, read defensively from its details."""
    if direction not in (EntryDirection.BOUNCE, EntryDirection.FEEDBACK):
        return None
    default = "feedback" if direction == EntryDirection.FEEDBACK else "undefined"
    reason = str(details.get("reason") or default).strip().lower()[:32]
    code = details.get("reply_code")
    return BounceView(
        address=_text(details.get("address")),
        reason=reason,
        explanation=explain_reason(reason),
        hard=details.get("hard") is True,
        status=_text(details.get("status")),
        reply_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        diagnostic=_text(details.get("diagnostic")),
    )


class ThreadDetail(ThreadSummary):
    """A thread and its whole conversation, oldest first."""

    entries: list[EntryView]

    @classmethod
    def of(cls, thread: Thread) -> ThreadDetail:
        summary = ThreadSummary.model_validate(thread)
        return cls(**summary.model_dump(), entries=[EntryView.of(e) for e in thread.entries])


class ThreadList(BaseModel):
    items: list[ThreadSummary]
    total: int = Field(description="Threads matching the filters, on all pages.")
    limit: int
    offset: int


class ThreadPatch(BaseModel):
    """Staff changes to a thread; give at least one of status, assignee and note."""

    model_config = ConfigDict(extra="forbid")

    status: ThreadStatus | None = Field(default=None, description="open, pending or closed.")
    assignee: str | None = Field(
        default=None, max_length=200, description="Who handles it; null or empty unassigns."
    )
    note: str | None = Field(default=None, max_length=20_000, description="A note to add.")
    author: str | None = Field(default=None, max_length=200, description="Who writes the note.")

    @model_validator(mode="after")
    def _something_to_do(self) -> ThreadPatch:
        if not ({"status", "assignee"} & self.model_fields_set or (self.note or "").strip()):
            raise ValueError("give at least one of status, assignee or a non-empty note")
        if "status" in self.model_fields_set and self.status is None:
            raise ValueError("status cannot be null")
        return self

    def change(self) -> queries.ThreadChange:
        return queries.ThreadChange(
            status=self.status,
            assign="assignee" in self.model_fields_set,
            assignee=self.assignee,
            note=self.note,
            author=self.author,
        )


class SuppressionView(BaseModel):
    """An address the tenant does not mail."""

    address: str
    reason: str
    explanation: str
    detail: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Suppression) -> SuppressionView:
        return cls(
            address=row.address,
            reason=row.reason,
            explanation=explain_reason(row.reason),
            detail=row.detail,
            created_at=row.created_at,
        )


class SuppressionList(BaseModel):
    items: list[SuppressionView]
    total: int
    limit: int
    offset: int


class LiftedSuppression(BaseModel):
    """The suppression that was lifted and the thread that got a note about it."""

    lifted: SuppressionView
    note_thread_id: int | None


class DayView(BaseModel):
    day: date
    sent: int
    hard_bounced: int
    soft_bounced: int
    suppressed: int


class DomainView(BaseModel):
    domain: str
    sent: int
    hard_bounced: int
    soft_bounced: int
    bounce_rate: float | None = Field(description="Bounced / sent; null when nothing was sent.")


class DeliverabilityView(BaseModel):
    """The last 30 UTC days, oldest first, and the 10 busiest recipient domains."""

    days: list[DayView]
    domains: list[DomainView]

    @classmethod
    def of(cls, stats: Deliverability) -> DeliverabilityView:
        return cls(
            days=[DayView(day=d.day, sent=d.sent, hard_bounced=d.hard, soft_bounced=d.soft,
                          suppressed=d.suppressed) for d in stats.days],
            domains=[DomainView(domain=d.domain, sent=d.sent, hard_bounced=d.hard,
                                soft_bounced=d.soft, bounce_rate=d.rate) for d in stats.domains],
        )  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


def inbox_api_router(
    sessions: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime] = _now,
) -> APIRouter:
    """The JSON API of the inbox; every query runs for the caller's tenant only."""
    router = APIRouter(prefix="/api", tags=["inbox"])
    not_found = "no such thread"  # the same for another tenant's id: existence is not revealed

    @router.get("/threads", response_model=ThreadList)
    async def threads(
        tenant: ApiTenant,
        status: Annotated[ThreadStatus | None, Query(description="Only this status.")] = None,
        has_bounce: Annotated[bool | None, Query(description="Only with/without bounces.")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ThreadList:
        """The tenant's threads, most recently active first."""
        async with sessions() as session:
            page = await queries.list_threads(
                session, tenant, status=status, has_bounce=has_bounce, limit=limit, offset=offset
            )
        items = [ThreadSummary.model_validate(thread) for thread in page.threads]
        return ThreadList(items=items, total=page.total, limit=limit, offset=offset)

    @router.get("/threads/{thread_id}", response_model=ThreadDetail)
    async def thread(tenant: ApiTenant, thread_id: ThreadId) -> ThreadDetail:
        """One thread with its conversation; bounces explained in plain words."""
        async with sessions() as session:
            found = await queries.get_thread(session, tenant, thread_id)
        if found is None:
            raise HTTPException(404, not_found)
        return ThreadDetail.of(found)

    @router.patch("/threads/{thread_id}", response_model=ThreadDetail)
    async def patch_thread(
        tenant: ApiTenant, thread_id: ThreadId, body: ThreadPatch
    ) -> ThreadDetail:
        """Change status or assignee, or add a note."""
        async with sessions() as session:
            found = await queries.update_thread(session, tenant, thread_id, body.change(), clock())
        if found is None:
            raise HTTPException(404, not_found)
        logger.info(
            "thread %d of %s changed (%s)", thread_id, tenant, sorted(body.model_fields_set)
        )
        return ThreadDetail.of(found)

    @router.get("/suppressions", response_model=SuppressionList)
    async def suppressions(
        tenant: ApiTenant, limit: Limit = 100, offset: Offset = 0
    ) -> SuppressionList:
        """Addresses the tenant does not mail, newest first."""
        async with sessions() as session:
            rows, total = await queries.list_suppressions(
                session, tenant, limit=limit, offset=offset
            )
        items = [SuppressionView.of(row) for row in rows]
        return SuppressionList(items=items, total=total, limit=limit, offset=offset)

    @router.delete("/suppressions", response_model=LiftedSuppression)
    async def lift(
        tenant: ApiTenant,
        address: Annotated[str, Query(min_length=3, max_length=320, description="The address.")],
        author: Annotated[str | None, Query(max_length=200, description="Who lifts it.")] = None,
    ) -> LiftedSuppression:
        """Mail the address again; the address's latest thread gets a note."""
        async with sessions() as session:
            lifted = await queries.lift_suppression(
                session, tenant, address, author=author, now=clock()
            )
        if lifted is None:
            raise HTTPException(404, "this address is not suppressed")
        logger.info("suppression lifted for tenant %s (thread %s)", tenant, lifted.note_thread_id)
        return LiftedSuppression(
            lifted=SuppressionView.of(lifted.suppression), note_thread_id=lifted.note_thread_id
        )

    @router.get("/deliverability", response_model=DeliverabilityView)
    async def stats(tenant: ApiTenant) -> DeliverabilityView:
        """Sent, bounced and suppressed per day, and bounce rates of the busiest domains."""
        async with sessions() as session:
            found = await deliverability(session, tenant, today=clock().date())
        return DeliverabilityView.of(found)

    return router
