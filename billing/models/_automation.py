"""Tables of what runs on its own: schedules, runs, notifications, automatic sends, outbox."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from billing.models._amount import Amount, amount_column
from mailer.store.models import Base


class Schedule(Base):
    """A recurring invoice: what to bill, how often, how many times; `done` occurrences so far."""

    __tablename__ = "billing_schedules"
    __table_args__ = (Index("ix_billing_schedules_due", "state", "next_run_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    name: Mapped[str] = mapped_column(String(200))
    frequency: Mapped[str] = mapped_column(String(16), default="monthly")
    start_date: Mapped[date] = mapped_column(Date)
    total_occurrences: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    next_run_on: Mapped[date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="active")
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    subtotal: Mapped[Decimal | None] = mapped_column(Amount())
    discount: Mapped[Decimal] = amount_column()
    tax_rate: Mapped[Decimal] = amount_column()
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    payment_method: Mapped[str] = mapped_column(String(16), default="any")
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Charge(Base):
    """Something a customer owes that no invoice carries yet; billing runs collect these."""

    __tablename__ = "billing_charges"
    __table_args__ = (Index("ix_billing_charges_open", "tenant", "customer_id", "billed"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    description: Mapped[str] = mapped_column(String(500))
    amount: Mapped[Decimal] = amount_column()
    currency: Mapped[str] = mapped_column(String(3))
    charge_date: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    billed: Mapped[bool] = mapped_column(Boolean, default=False)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id"))
    payment_link_id: Mapped[int | None] = mapped_column(ForeignKey("billing_payment_links.id"))
    created_at: Mapped[datetime]


class PaymentLink(Base):
    """A request to pay a total online, without an invoice (billing runs in payment-link mode)."""

    __tablename__ = "billing_payment_links"
    __table_args__ = (UniqueConstraint("token", name="uq_billing_payment_links_token"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("billing_runs.id"))
    token: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = amount_column()
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]


class BillingRun(Base):
    """One pass of automatic billing or of the recurring schedules, for one firm and one day."""

    __tablename__ = "billing_runs"
    __table_args__ = (
        UniqueConstraint("tenant", "kind", "scheduled_on", name="uq_billing_runs_day"),
        Index("ix_billing_runs_tenant", "tenant", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    scheduled_on: Mapped[date | None] = mapped_column(Date)
    mode: Mapped[str | None] = mapped_column(String(24))
    notify: Mapped[str | None] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class RunItem(Base):
    """What a run did for one customer: an invoice, a payment link, or why it did nothing."""

    __tablename__ = "billing_run_items"
    __table_args__ = (Index("ix_billing_run_items_run", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id"))
    payment_link_id: Mapped[int | None] = mapped_column(ForeignKey("billing_payment_links.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class Notification(Base):
    """An email or SMS the billing core asked for, and where it stands (from the status events)."""

    __tablename__ = "billing_notifications"
    __table_args__ = (
        UniqueConstraint("tenant", "request_id", name="uq_billing_notifications_request"),
        Index("ix_billing_notifications_run", "run_id"),
        Index("ix_billing_notifications_invoice", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(8))
    template: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("billing_runs.id"))
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AutoSend(Base):
    """A document waiting out its grace delay before its automatic email; settled exactly once."""

    __tablename__ = "billing_auto_sends"
    __table_args__ = (
        UniqueConstraint("document", "document_id", "template", name="uq_billing_auto_sends"),
        Index("ix_billing_auto_sends_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    document: Mapped[str] = mapped_column(String(16))
    document_id: Mapped[int] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    settled_at: Mapped[datetime | None]
    detail: Mapped[str | None] = mapped_column(Text)


class ReminderSent(Base):
    """One reminder step already sent for an invoice (never twice, never backwards)."""

    __tablename__ = "billing_reminders_sent"
    __table_args__ = (
        UniqueConstraint("invoice_id", "kind", "days", name="uq_billing_reminders_sent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id"))
    kind: Mapped[str] = mapped_column(String(16))
    days: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime]


class StatementRecord(Base):
    """A statement produced for a customer and period; monthly ones are made once per period."""

    __tablename__ = "billing_statements"
    __table_args__ = (
        UniqueConstraint(
            "tenant",
            "customer_id",
            "currency",
            "period_start",
            "period_end",
            "source",
            "sequence",
            name="uq_billing_statements_period",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    opening_balance: Mapped[Decimal] = amount_column()
    closing_balance: Mapped[Decimal] = amount_column()
    created_at: Mapped[datetime]


class OutboxEvent(Base):
    """An event written with the change it announces; the relay publishes it at least once."""

    __tablename__ = "billing_outbox"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_billing_outbox_event"),
        Index("ix_billing_outbox_pending", "published_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
