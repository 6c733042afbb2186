"""The SMS table: one row per accepted `sms.send` event, delivered until its status is final."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailer.events import DeliveryStatus
from mailer.store.leases import LeasedWork
from mailer.store.models import Base

WAITING = (DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value)


class SmsRequest(LeasedWork, Base):
    """One SMS: its rendered text, where it stands, and who holds the lease on sending it."""

    __tablename__ = "sms_requests"
    __table_args__ = (
        UniqueConstraint("tenant", "request_id", name="uq_sms_requests_tenant_request"),
        Index("ix_sms_requests_due", "status", "next_attempt_at"),
    )

    tenant: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(35))
    to: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @classmethod
    def is_waiting(cls) -> ColumnElement[bool]:
        """Queued or deferred: the SMS still waits for an attempt."""
        return cls.status.in_(WAITING)
