"""Tables of money moving: payments, what they paid, refunds and customer credit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from billing.models._amount import amount_column
from mailer.store.models import Base


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
    amount: Mapped[Decimal] = amount_column()
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default="succeeded")
    received_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(200))
    prepayment: Mapped[bool] = mapped_column(Boolean, default=False)
    unapplied: Mapped[Decimal] = amount_column()
    refunded: Mapped[Decimal] = amount_column()
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
    amount: Mapped[Decimal] = amount_column()
    applied_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime]


class Refund(Base):
    """Money given back out of one payment."""

    __tablename__ = "billing_refunds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    payment_id: Mapped[int] = mapped_column(ForeignKey("billing_payments.id"))
    amount: Mapped[Decimal] = amount_column()
    from_credit: Mapped[Decimal] = amount_column()
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
    amount: Mapped[Decimal] = amount_column()
    kind: Mapped[str] = mapped_column(String(16))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("billing_payments.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id"))
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("billing_credit_notes.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("billing_refunds.id"))
    on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime]
