"""Tables of a tenant's own settings: how its mail is sent, and how it takes payments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailer.store.models import Base


class TenantSending(Base):
    """How one tenant's mail leaves: the shared relay (maybe from its own domain) or its SMTP.

    `smtp_password` holds a `mailer.secrets` token, never the password itself."""

    __tablename__ = "tenant_sending"
    __table_args__ = (UniqueConstraint("tenant", name="uq_tenant_sending_tenant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(16), default="shared")
    smtp_host: Mapped[str | None] = mapped_column(String(253))
    smtp_port: Mapped[int | None] = mapped_column(Integer)
    smtp_tls: Mapped[str | None] = mapped_column(String(24))
    smtp_username: Mapped[str | None] = mapped_column(String(320))
    smtp_password: Mapped[str | None] = mapped_column(Text)
    smtp_password_set_at: Mapped[datetime | None]
    from_email: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    custom_domain: Mapped[str | None] = mapped_column(String(253))
    on_auth_failure: Mapped[str] = mapped_column(String(16), default="hold")
    broken_at: Mapped[datetime | None]
    broken_reason: Mapped[str | None] = mapped_column(Text)
    last_check_at: Mapped[datetime | None]
    last_check_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_check_detail: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class TenantPayments(Base):
    """One tenant's payment processing: gateway, keys and the methods staff and portal accept.

    `private_key` holds a `mailer.secrets` token, never the key itself."""

    __tablename__ = "tenant_payments"
    __table_args__ = (UniqueConstraint("tenant", name="uq_tenant_payments_tenant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    gateway: Mapped[str | None] = mapped_column(String(100))
    public_key: Mapped[str | None] = mapped_column(Text)
    private_key: Mapped[str | None] = mapped_column(Text)
    private_key_set_at: Mapped[datetime | None]
    staff_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    portal_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime]
