"""Tables of the billing core, in the service's store: customers, documents, money, schedules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from mailer.store.models import Base


class Amount(TypeDecorator[Decimal]):
    """Exact decimals everywhere: NUMERIC on PostgreSQL, text on SQLite (whose numbers are floats).

    Sums are therefore taken in Python, never with SQL SUM. PostgreSQL hands values back at
    scale 4 (150.1000): present amounts with `billing.money.round_money`."""

    impl = Numeric(20, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(20, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("amounts are stored from Decimal only")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


def _amount() -> Mapped[Decimal]:
    return mapped_column(Amount(), default=Decimal(0))


class BillingSettings(Base):
    """One firm's billing preferences: identity, numbering, triggers, reminders, runs."""

    __tablename__ = "billing_settings"
    __table_args__ = (UniqueConstraint("tenant", name="uq_billing_settings_tenant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    company_name: Mapped[str] = mapped_column(String(200))
    company_email: Mapped[str | None] = mapped_column(String(320))
    company_address: Mapped[str | None] = mapped_column(Text)
    company_phone: Mapped[str | None] = mapped_column(String(40))
    company_tax_id: Mapped[str | None] = mapped_column(String(60))
    portal_url: Mapped[str | None] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    default_currency: Mapped[str] = mapped_column(String(3), default="EUR")
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    invoice_prefix: Mapped[str] = mapped_column(String(20), default="INV-")
    estimate_prefix: Mapped[str] = mapped_column(String(20), default="EST-")
    credit_note_prefix: Mapped[str] = mapped_column(String(20), default="CN-")
    next_invoice_number: Mapped[int] = mapped_column(Integer, default=1)
    next_estimate_number: Mapped[int] = mapped_column(Integer, default=1)
    next_credit_note_number: Mapped[int] = mapped_column(Integer, default=1)
    auto_send_grace_seconds: Mapped[int] = mapped_column(Integer, default=300)
    auto_send_invoice: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_send_estimate: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_send_payment_plan: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_send_credit_note: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_partial_payments: Mapped[bool] = mapped_column(Boolean, default=True)
    prepayments_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    reminder_days_before: Mapped[list[int]] = mapped_column(JSON, default=list)
    reminder_days_after: Mapped[list[int]] = mapped_column(JSON, default=list)
    thank_you_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    receipts_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    monthly_statements: Mapped[bool] = mapped_column(Boolean, default=False)
    run_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    run_cycle: Mapped[str] = mapped_column(String(16), default="monthly")
    run_weekday: Mapped[int] = mapped_column(Integer, default=0)
    run_month_day: Mapped[int] = mapped_column(Integer, default=1)
    run_mode: Mapped[str] = mapped_column(String(24), default="draft")
    run_notify: Mapped[str] = mapped_column(String(8), default="email")
    run_enabled_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime]


class Customer(Base):
    """Someone a firm bills; `email_undeliverable` is set by hard bounces and suppressions."""

    __tablename__ = "billing_customers"
    __table_args__ = (Index("ix_billing_customers_email", "tenant", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    cc_emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    mobile_phone: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(35), default="en")
    currency: Mapped[str] = mapped_column(String(3))
    address: Mapped[str | None] = mapped_column(Text)
    email_undeliverable: Mapped[bool] = mapped_column(Boolean, default=False)
    email_undeliverable_reason: Mapped[str | None] = mapped_column(Text)
    email_undeliverable_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Invoice(Base):
    """An invoice; `version` changes whenever its PDF would change (idempotency of its emails)."""

    __tablename__ = "billing_invoices"
    __table_args__ = (
        UniqueConstraint("tenant", "number", name="uq_billing_invoices_number"),
        UniqueConstraint("schedule_id", "schedule_index", name="uq_billing_invoices_occurrence"),
        Index("ix_billing_invoices_customer", "tenant", "customer_id"),
        Index("ix_billing_invoices_state", "tenant", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    number: Mapped[str | None] = mapped_column(String(60))  # given when issued: no gaps
    state: Mapped[str] = mapped_column(String(16), default="draft")
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    subtotal: Mapped[Decimal] = _amount()
    discount: Mapped[Decimal] = _amount()
    tax_rate: Mapped[Decimal] = _amount()
    tax: Mapped[Decimal] = _amount()
    total: Mapped[Decimal] = _amount()
    amount_paid: Mapped[Decimal] = _amount()
    notes: Mapped[str | None] = mapped_column(Text)
    payment_method: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="manual")
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("billing_schedules.id"))
    schedule_index: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("billing_runs.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    issued_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    sent_by: Mapped[str | None] = mapped_column(String(16))
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]

    lines: Mapped[list[InvoiceLine]] = relationship(
        cascade="all, delete-orphan", order_by="InvoiceLine.position", lazy="selectin"
    )
    customer: Mapped[Customer] = relationship(lazy="selectin")

    @property
    def balance(self) -> Decimal:
        return self.total - self.amount_paid


class InvoiceLine(Base):
    """One line item of an invoice."""

    __tablename__ = "billing_invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = _amount()
    unit_price: Mapped[Decimal] = _amount()
    amount: Mapped[Decimal] = _amount()


class Estimate(Base):
    """A quote: sent, then accepted (becoming a draft invoice) or declined. Lines are JSON."""

    __tablename__ = "billing_estimates"
    __table_args__ = (UniqueConstraint("tenant", "number", name="uq_billing_estimates_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    number: Mapped[str | None] = mapped_column(String(60))  # given when issued: no gaps
    state: Mapped[str] = mapped_column(String(16), default="draft")
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)
    lines: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    subtotal: Mapped[Decimal] = _amount()
    discount: Mapped[Decimal] = _amount()
    tax_rate: Mapped[Decimal] = _amount()
    tax: Mapped[Decimal] = _amount()
    total: Mapped[Decimal] = _amount()
    notes: Mapped[str | None] = mapped_column(Text)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    issued_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


class CreditNote(Base):
    """Money given back to a customer: applied to an invoice, the rest kept as credit."""

    __tablename__ = "billing_credit_notes"
    __table_args__ = (UniqueConstraint("tenant", "number", name="uq_billing_credit_notes_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    number: Mapped[str] = mapped_column(String(60))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id"))
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date] = mapped_column(Date)
    lines: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    total: Mapped[Decimal] = _amount()
    to_invoice: Mapped[Decimal] = _amount()
    to_credit: Mapped[Decimal] = _amount()
    reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Payment(Base):
    """Money received from a customer; `unapplied` is the part that went to its credit."""

    __tablename__ = "billing_payments"
    __table_args__ = (
        Index("ix_billing_payments_customer", "tenant", "customer_id"),
        Index("ix_billing_payments_received", "tenant", "received_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    amount: Mapped[Decimal] = _amount()
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default="succeeded")
    received_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(200))
    prepayment: Mapped[bool] = mapped_column(Boolean, default=False)
    unapplied: Mapped[Decimal] = _amount()
    refunded: Mapped[Decimal] = _amount()
    created_at: Mapped[datetime]


class Application(Base):
    """Money put on an invoice: from a payment, from credit, or from a credit note.

    A refund that takes money back off an invoice adds a negative row for the same payment."""

    __tablename__ = "billing_applications"
    __table_args__ = (
        Index("ix_billing_applications_invoice", "invoice_id"),
        Index("ix_billing_applications_payment", "payment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id"))
    source: Mapped[str] = mapped_column(String(16))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("billing_payments.id"))
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("billing_credit_notes.id"))
    amount: Mapped[Decimal] = _amount()
    applied_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime]


class Refund(Base):
    """Money given back out of one payment."""

    __tablename__ = "billing_refunds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    payment_id: Mapped[int] = mapped_column(ForeignKey("billing_payments.id"))
    amount: Mapped[Decimal] = _amount()
    from_credit: Mapped[Decimal] = _amount()
    reason: Mapped[str | None] = mapped_column(Text)
    refunded_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime]


class CreditEntry(Base):
    """One movement of a customer's credit balance (+ in, - out); the balance is their sum."""

    __tablename__ = "billing_credit_entries"
    __table_args__ = (Index("ix_billing_credit_customer", "tenant", "customer_id", "currency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = _amount()
    kind: Mapped[str] = mapped_column(String(16))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("billing_payments.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id"))
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("billing_credit_notes.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("billing_refunds.id"))
    on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime]


class PaymentPlan(Base):
    """Installments an invoice is paid in; the customer is asked to approve them."""

    __tablename__ = "billing_payment_plans"
    __table_args__ = (UniqueConstraint("invoice_id", name="uq_billing_payment_plans_invoice"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id"))
    installments: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


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
    discount: Mapped[Decimal] = _amount()
    tax_rate: Mapped[Decimal] = _amount()
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
    amount: Mapped[Decimal] = _amount()
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
    amount: Mapped[Decimal] = _amount()
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
    opening_balance: Mapped[Decimal] = _amount()
    closing_balance: Mapped[Decimal] = _amount()
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
