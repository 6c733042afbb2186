"""Tables of what a firm bills with: its settings, customers and documents."""

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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.models._amount import amount_column
from mailer.store.models import Base


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
    subtotal: Mapped[Decimal] = amount_column()
    discount: Mapped[Decimal] = amount_column()
    tax_rate: Mapped[Decimal] = amount_column()
    tax: Mapped[Decimal] = amount_column()
    total: Mapped[Decimal] = amount_column()
    amount_paid: Mapped[Decimal] = amount_column()
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
    quantity: Mapped[Decimal] = amount_column()
    unit_price: Mapped[Decimal] = amount_column()
    amount: Mapped[Decimal] = amount_column()


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
    subtotal: Mapped[Decimal] = amount_column()
    discount: Mapped[Decimal] = amount_column()
    tax_rate: Mapped[Decimal] = amount_column()
    tax: Mapped[Decimal] = amount_column()
    total: Mapped[Decimal] = amount_column()
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
    total: Mapped[Decimal] = amount_column()
    to_invoice: Mapped[Decimal] = amount_column()
    to_credit: Mapped[Decimal] = amount_column()
    reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


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
