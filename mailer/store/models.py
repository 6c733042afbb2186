"""Tables of the message log: send requests, their recipients, status history, template settings."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from mailer.store.leases import LeasedWork


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table of the store."""

    type_annotation_map = {datetime: UtcDateTime()}


class SendRequest(LeasedWork, Base):
    """One accepted send event: one email to its recipients, delivered until every one is final."""

    __tablename__ = "send_requests"
    __table_args__ = (
        UniqueConstraint("tenant", "request_id", name="uq_send_requests_tenant_request"),
        Index("ix_send_requests_due", "pending", "next_attempt_at"),
    )

    tenant: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(35))
    thread: Mapped[str] = mapped_column(String(256))
    event: Mapped[dict[str, object]] = mapped_column(JSON)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    verp_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    pending: Mapped[bool] = mapped_column(Boolean, default=True)

    recipients: Mapped[list[Recipient]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="Recipient.id"
    )

    @classmethod
    def is_waiting(cls) -> ColumnElement[bool]:
        """Some recipient still waits for an attempt."""
        return cls.pending.is_(True)


class Recipient(Base):
    """Where one recipient of one request stands now."""

    __tablename__ = "recipients"
    __table_args__ = (UniqueConstraint("send_request_id", "address", name="uq_recipients_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    send_request_id: Mapped[int] = mapped_column(ForeignKey("send_requests.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    smtp_code: Mapped[int | None]
    enhanced_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]

    request: Mapped[SendRequest] = relationship(back_populates="recipients")


class StatusRecord(Base):
    """Every status change ever reported, in order: the log behind `GET /api/messages`."""

    __tablename__ = "status_log"
    __table_args__ = (Index("ix_status_log_request", "tenant", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str | None] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(255))
    recipient: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16))
    smtp_code: Mapped[int | None]
    enhanced_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(32))
    hard: Mapped[bool | None] = mapped_column(Boolean)
    at: Mapped[datetime]


class TemplateSetting(Base):
    """A tenant's override of a catalog entry: switched on or off, PDF attached or not."""

    __tablename__ = "template_settings"
    __table_args__ = (UniqueConstraint("tenant", "template", name="uq_template_settings"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    template: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool | None] = mapped_column(Boolean)
    attach_pdf: Mapped[bool | None] = mapped_column(Boolean)
