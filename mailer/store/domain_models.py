"""Tables of custom sending domains and their DKIM keys."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.store.models import Base

VERIFIED_ONLY = text("status = 'verified'")


class DomainStatus(enum.StrEnum):
    """Whether a tenant may send from a domain."""

    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


class KeyState(enum.StrEnum):
    """A DKIM key's life: published and checked (pending), signing (active), retired."""

    PENDING = "pending"
    ACTIVE = "active"
    RETIRED = "retired"


class SendingDomain(Base):
    """A domain a tenant sends from; verified by one tenant at most (the partial unique index)."""

    __tablename__ = "sending_domains"
    __table_args__ = (
        UniqueConstraint("tenant", "domain", name="uq_sending_domains_tenant_domain"),
        Index(
            "uq_sending_domains_verified",
            "domain",
            unique=True,
            sqlite_where=VERIFIED_ONLY,
            postgresql_where=VERIFIED_ONLY,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    domain: Mapped[str] = mapped_column(String(253))
    status: Mapped[str] = mapped_column(String(16), default=DomainStatus.PENDING)
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    last_check: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    keys: Mapped[list[DkimKey]] = relationship(
        back_populates="domain", cascade="all, delete-orphan", order_by="DkimKey.id"
    )


class DkimKey(Base):
    """One DKIM key of a domain; the private key is stored encrypted and erased on retirement."""

    __tablename__ = "dkim_keys"
    __table_args__ = (UniqueConstraint("domain_id", "selector", name="uq_dkim_keys_selector"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("sending_domains.id", ondelete="CASCADE"))
    selector: Mapped[str] = mapped_column(String(63))
    private_key: Mapped[str | None] = mapped_column(Text)
    public_txt: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=KeyState.PENDING)
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]

    domain: Mapped[SendingDomain] = relationship(back_populates="keys")
