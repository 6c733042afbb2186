"""Tables of the A/R inbox: raw inbound mail, threads and their entries, bounces, suppressions."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.store.models import Base


class InboundState(enum.StrEnum):
    """Where a received message is in its processing."""

    PENDING = "pending"
    PROCESSED = "processed"
    UNMATCHED = "unmatched"
    FAILED = "failed"


class ThreadStatus(enum.StrEnum):
    OPEN = "open"
    PENDING = "pending"
    CLOSED = "closed"


class EntryDirection(enum.StrEnum):
    """What kind of entry a thread holds."""

    OUTGOING = "outgoing"
    BOUNCE = "bounce"
    REPLY = "reply"
    AUTOREPLY = "autoreply"
    FEEDBACK = "feedback"
    NOTE = "note"


class InboundMessage(Base):
    """A message the listener accepted, kept raw; parsing and matching happen afterwards."""

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_state", "state", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime]
    peer: Mapped[str | None] = mapped_column(String(100))
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default=InboundState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    tenant: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str | None] = mapped_column(String(16))
    processed_at: Mapped[datetime | None]


class Thread(Base):
    """One conversation of a tenant's A/R inbox: an invoice's, or a customer's."""

    __tablename__ = "threads"
    __table_args__ = (
        UniqueConstraint("tenant", "key", name="uq_threads_tenant_key"),
        Index("ix_threads_tenant_updated", "tenant", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(256))
    subject: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default=ThreadStatus.OPEN.value)
    assignee: Mapped[str | None] = mapped_column(String(200))
    reply_token: Mapped[str] = mapped_column(String(64), unique=True)
    has_bounce: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    entries: Mapped[list[ThreadEntry]] = relationship(
        back_populates="thread", cascade="all, delete-orphan", order_by="ThreadEntry.at"
    )


class ThreadEntry(Base):
    """One message or note in a thread, newest last; the raw message is kept for inbound mail."""

    __tablename__ = "thread_entries"
    __table_args__ = (
        Index("ix_thread_entries_thread", "thread_id", "at"),
        Index("ix_thread_entries_send_request", "send_request_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    tenant: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    direction: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str | None] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(500), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(255))
    send_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("send_requests.id", ondelete="SET NULL")
    )
    inbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    author: Mapped[str | None] = mapped_column(String(200))

    thread: Mapped[Thread] = relationship(back_populates="entries")


class BounceRecord(Base):
    """One recipient's bounce of one message: the facts suppression and the charts count."""

    __tablename__ = "bounces"
    __table_args__ = (
        Index("ix_bounces_tenant_address", "tenant", "address", "at"),
        Index("ix_bounces_tenant_at", "tenant", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime]
    hard: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    reply_code: Mapped[int | None]
    diagnostic: Mapped[str | None] = mapped_column(Text)
    send_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("send_requests.id", ondelete="SET NULL")
    )
    inbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )


class Suppression(Base):
    """An address a tenant will not mail until staff lift it."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("tenant", "address", name="uq_suppressions_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class ForwardingAddress(Base):
    """The address a tenant forwards bounces to when it sends through its own server."""

    __tablename__ = "forwarding_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
