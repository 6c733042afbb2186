"""Inputs and views of reminders, statements, estimates and payment plans (amounts as strings)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing.documents import money_text, quantity_text
from billing.ledger import StatementFigures
from billing.models import BillingSettings, Estimate, PaymentPlan, StatementRecord
from billing.schemas import AmountsIn, CurrencyCode, LongText, RecordId
from billing.views import LineView

ReminderDays = Annotated[list[int], Field(max_length=12)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReminderSettingsInput(_Input):
    """A firm's reminder cadence and its payment emails (the whole set is given each time)."""

    days_before: ReminderDays = Field(
        default_factory=list, description="Email `invoice.reminder` this many days before due."
    )
    days_after: ReminderDays = Field(
        default_factory=list, description="Email `invoice.late_reminder` this many days after due."
    )
    thank_you_enabled: bool = Field(default=False, description="`invoice.thank_you` when paid.")
    receipts_enabled: bool = Field(default=True, description="`payment.receipt` on payments.")
    monthly_statements: bool = Field(
        default=False, description="Email each active customer a statement of the month before."
    )


class ReminderSettingsView(ReminderSettingsInput):
    tenant: str
    updated_at: datetime

    @classmethod
    def of(cls, settings: BillingSettings) -> ReminderSettingsView:
        return cls(
            tenant=settings.tenant,
            days_before=sorted(settings.reminder_days_before, reverse=True),
            days_after=sorted(settings.reminder_days_after),
            thank_you_enabled=settings.thank_you_enabled,
            receipts_enabled=settings.receipts_enabled,
            monthly_statements=settings.monthly_statements,
            updated_at=settings.updated_at,
        )


class StatementRequest(_Input):
    """A statement of account for a period, shown and optionally emailed."""

    period_start: date
    period_end: date
    currency: CurrencyCode | None = Field(default=None, description="Default: the customer's.")
    send: bool = Field(default=False, description="Also email it to the customer.")


class StatementEntryView(BaseModel):
    date: date
    description: str
    amount: str = Field(description="+ adds to what the customer owes, - takes off.")
    balance: str


class StatementSentView(BaseModel):
    """The recorded statement and the email that carries it."""

    statement_id: int
    sequence: int
    request_id: str = Field(description="The `mail.send` id; its outcome is in /api/messages.")
    status: str = Field(description="queued, or failed with the reason when there is no email.")


class StatementView(BaseModel):
    customer_id: int
    currency: str
    period_start: date
    period_end: date
    opening_balance: str
    closing_balance: str
    entries: list[StatementEntryView]
    sent: StatementSentView | None = Field(default=None, description="Set when it was emailed.")

    @classmethod
    def of(
        cls, record: StatementRecord, figures: StatementFigures, sent: StatementSentView | None
    ) -> StatementView:
        currency = record.currency
        return cls(
            customer_id=record.customer_id,
            currency=currency,
            period_start=record.period_start,
            period_end=record.period_end,
            opening_balance=money_text(figures.opening_balance, currency),
            closing_balance=money_text(figures.closing_balance, currency),
            entries=[
                StatementEntryView(
                    date=line.on,
                    description=line.description,
                    amount=money_text(line.amount, currency),
                    balance=money_text(line.balance, currency),
                )
                for line in figures.lines
            ],
            sent=sent,
        )


class StatementRecordView(BaseModel):
    """A statement that was emailed: on request, or monthly."""

    id: int
    customer_id: int
    currency: str
    period_start: date
    period_end: date
    source: str = Field(description="request or monthly.")
    sequence: int = Field(description="0 for the first of its period and source, then 1, 2...")
    opening_balance: str
    closing_balance: str
    created_at: datetime

    @classmethod
    def of(cls, record: StatementRecord) -> StatementRecordView:
        currency = record.currency
        return cls(
            id=record.id,
            customer_id=record.customer_id,
            currency=currency,
            period_start=record.period_start,
            period_end=record.period_end,
            source=record.source,
            sequence=record.sequence,
            opening_balance=money_text(record.opening_balance, currency),
            closing_balance=money_text(record.closing_balance, currency),
            created_at=record.created_at,
        )


class EstimateInput(AmountsIn):
    """A new estimate (quote); it starts as a draft."""

    customer_id: RecordId
    currency: CurrencyCode | None = Field(default=None, description="Default: the customer's.")
    issue_date: date | None = Field(default=None, description="Default: today.")
    expiry_date: date | None = Field(default=None, description="Last day it can be accepted.")
    notes: LongText | None = None


class EstimateUpdate(AmountsIn):
    """A draft estimate's new content (all amounts are given again)."""

    issue_date: date | None = None
    expiry_date: date | None = None
    notes: LongText | None = None


class EstimateView(BaseModel):
    id: int
    number: str | None = Field(description="Given when the estimate is issued; null for drafts.")
    customer_id: int
    state: str = Field(description="draft, issued, accepted or declined.")
    currency: str
    issue_date: date
    expiry_date: date | None
    lines: list[LineView]
    subtotal: str
    discount: str
    tax_rate: str
    tax: str
    total: str
    notes: str | None
    invoice_id: int | None = Field(description="The draft invoice made when it was accepted.")
    version: int
    issued_at: datetime | None
    sent_at: datetime | None

    @classmethod
    def of(cls, estimate: Estimate) -> EstimateView:
        currency = estimate.currency
        return cls(
            id=estimate.id,
            number=estimate.number,
            customer_id=estimate.customer_id,
            state=estimate.state,
            currency=currency,
            issue_date=estimate.issue_date,
            expiry_date=estimate.expiry_date,
            lines=[LineView.stored(line, currency) for line in estimate.lines],
            subtotal=money_text(estimate.subtotal, currency),
            discount=money_text(estimate.discount, currency),
            tax_rate=quantity_text(estimate.tax_rate),
            tax=money_text(estimate.tax, currency),
            total=money_text(estimate.total, currency),
            notes=estimate.notes,
            invoice_id=estimate.invoice_id,
            version=estimate.version,
            issued_at=estimate.issued_at,
            sent_at=estimate.sent_at,
        )


class EmailQueued(BaseModel):
    """The email a send produced."""

    request_id: str = Field(description="The `mail.send` id; its outcome is in /api/messages.")
    status: str = Field(description="queued, or failed with the reason when there is no email.")
    detail: str | None = None


class EstimateSent(BaseModel):
    estimate: EstimateView
    email: EmailQueued


class InstallmentIn(_Input):
    """One installment of a payment plan."""

    date: date
    amount: Decimal = Field(description="At the invoice currency's scale, more than zero.")


class PaymentPlanInput(_Input):
    """Installments that together pay the invoice's whole balance, in date order."""

    installments: list[InstallmentIn] = Field(min_length=1, max_length=120)


class InstallmentView(BaseModel):
    date: date
    amount: str


class PaymentPlanView(BaseModel):
    id: int
    invoice_id: int
    currency: str
    installments: list[InstallmentView]
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, plan: PaymentPlan, currency: str) -> PaymentPlanView:
        return cls(
            id=plan.id,
            invoice_id=plan.invoice_id,
            currency=currency,
            installments=[
                InstallmentView(
                    date=date.fromisoformat(item["date"]),
                    amount=money_text(Decimal(item["amount"]), currency),
                )
                for item in plan.installments
            ],
            created_at=plan.created_at,
            sent_at=plan.sent_at,
        )


class PaymentPlanSent(BaseModel):
    plan: PaymentPlanView
    email: EmailQueued
