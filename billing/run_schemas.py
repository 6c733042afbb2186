"""Inputs and views of recurring schedules, charges, billing runs and their reports."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from billing.calendar import Frequency, RunCycle
from billing.documents import money_text, quantity_text
from billing.ledger import InvoiceTotals
from billing.models import BillingSettings, Charge, Notification, Schedule
from billing.notify import NotifyBy
from billing.schemas import AmountsIn, CurrencyCode, RecordId, RecurringPaymentMethod, Text
from billing.views import InvoiceView, LineView

# An occurrence's notes are the schedule's name, a blank line and these notes: together they
# stay within an invoice's 2000 characters.
ScheduleNotes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1500)]
ChargeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class RunMode(enum.StrEnum):
    """What an automatic billing run makes of a customer's charges (seed 003)."""

    DRAFT = "draft"
    SEND_INVOICE = "send_invoice"
    SEND_PAYMENT_LINK = "send_payment_link"


class RunKind(enum.StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    RECURRING = "recurring"


class ScheduleState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ScheduleInput(AmountsIn):
    """A recurring invoice (seed 000); its first invoice goes out when it is created."""

    customer_id: RecordId
    name: Text = Field(description="Customer-facing name, shown on every invoice.")
    frequency: Frequency = Frequency.MONTHLY
    start_date: date | None = Field(
        default=None, description="The first invoice's date; default today. A future date waits."
    )
    occurrences: int | None = Field(
        default=None, ge=1, le=1000, description="How many invoices; null repeats until cancelled."
    )
    payment_method: RecurringPaymentMethod = RecurringPaymentMethod.ANY
    currency: CurrencyCode | None = Field(default=None, description="Default: the customer's.")
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    notes: ScheduleNotes | None = None


class RunSettingsInput(BaseModel):
    """Automatic billing runs of a firm: when, what they make, how customers are told."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(description="On: every customer's due charges are billed each cycle.")
    cycle: RunCycle = RunCycle.MONTHLY
    weekday: int = Field(default=0, ge=0, le=6, description="Weekly cycle: 0 Monday .. 6 Sunday.")
    month_day: int = Field(
        default=1, ge=1, le=31, description="Monthly cycle: the day, clamped to short months."
    )
    mode: RunMode = RunMode.DRAFT
    notify: NotifyBy = NotifyBy.EMAIL


class ChargeInput(BaseModel):
    """Something a customer owes that the next billing run collects."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: RecordId
    description: ChargeText
    amount: Decimal = Field(description="More than zero, at the currency's scale.")
    currency: CurrencyCode | None = Field(default=None, description="Default: the customer's.")
    charge_date: date | None = Field(default=None, description="Default: today.")
    due_on: date | None = None


class ScheduleView(BaseModel):
    id: int
    customer_id: int
    name: str
    frequency: str
    start_date: date
    occurrences: int | None = Field(description="The total; null when open-ended.")
    done: int = Field(description="Invoices issued so far.")
    next_run_on: date | None = Field(description="The next invoice's date; null when finished.")
    state: str = Field(description="active, paused, completed or cancelled.")
    currency: str
    lines: list[LineView]
    subtotal: str
    discount: str
    tax_rate: str
    total: str = Field(description="Each invoice's total.")
    payment_method: str
    payment_terms_days: int
    notes: str | None
    created_at: datetime

    @classmethod
    def of(cls, schedule: Schedule, totals: InvoiceTotals) -> ScheduleView:
        currency = schedule.currency
        return cls(
            id=schedule.id,
            customer_id=schedule.customer_id,
            name=schedule.name,
            frequency=schedule.frequency,
            start_date=schedule.start_date,
            occurrences=schedule.total_occurrences,
            done=schedule.done,
            next_run_on=schedule.next_run_on,
            state=schedule.state,
            currency=currency,
            lines=[LineView.of(line, currency) for line in totals.lines],
            subtotal=money_text(totals.subtotal, currency),
            discount=money_text(totals.discount, currency),
            tax_rate=quantity_text(schedule.tax_rate),
            total=money_text(totals.total, currency),
            payment_method=schedule.payment_method,
            payment_terms_days=schedule.payment_terms_days,
            notes=schedule.notes,
            created_at=schedule.created_at,
        )


class RunSettingsView(BaseModel):
    enabled: bool
    cycle: str
    weekday: int
    month_day: int
    mode: str
    notify: str
    enabled_on: date | None = Field(description="Runs dated before this day never happen.")
    next_run_on: date | None = Field(description="The next automatic run; today if it is due.")

    @classmethod
    def of(cls, settings: BillingSettings, next_run_on: date | None) -> RunSettingsView:
        return cls(
            enabled=settings.run_enabled,
            cycle=settings.run_cycle,
            weekday=settings.run_weekday,
            month_day=settings.run_month_day,
            mode=settings.run_mode,
            notify=settings.run_notify,
            enabled_on=settings.run_enabled_on,
            next_run_on=next_run_on,
        )


class ChargeView(BaseModel):
    id: int
    customer_id: int
    description: str
    amount: str
    currency: str
    charge_date: date
    due_on: date | None
    billed: bool
    invoice_id: int | None
    payment_link_id: int | None

    @classmethod
    def of(cls, charge: Charge) -> ChargeView:
        return cls(
            id=charge.id,
            customer_id=charge.customer_id,
            description=charge.description,
            amount=money_text(charge.amount, charge.currency),
            currency=charge.currency,
            charge_date=charge.charge_date,
            due_on=charge.due_on,
            billed=charge.billed,
            invoice_id=charge.invoice_id,
            payment_link_id=charge.payment_link_id,
        )


class ChannelCounts(BaseModel):
    """A run's emails or texts by where they stand now."""

    requested: int = 0
    pending: int = Field(default=0, description="Queued or deferred: no outcome yet.")
    sent: int = 0
    bounced: int = 0
    suppressed: int = 0
    failed: int = Field(default=0, description="Failed, rejected or skipped (never sent).")


class RunFailure(BaseModel):
    """One email or SMS of a run that did not reach its customer, and why."""

    notification_id: int
    customer_id: int
    customer_name: str
    channel: str
    recipient: str = Field(description="Empty when the customer had no address for the channel.")
    status: str
    reason: str | None
    detail: str | None
    template: str
    invoice_id: int | None
    invoice_number: str | None


class RunItemView(BaseModel):
    customer_id: int
    customer_name: str
    outcome: str = Field(description="draft_created, invoice_sent or payment_link_sent.")
    invoice_id: int | None
    invoice_number: str | None
    invoice_state: str | None
    payment_link_id: int | None
    amount: str | None
    currency: str | None


class RunSummary(BaseModel):
    id: int
    kind: str = Field(description="automatic, manual or recurring.")
    mode: str | None
    notify: str | None
    state: str = Field(description="running or completed.")
    scheduled_on: date | None
    started_at: datetime
    finished_at: datetime | None
    invoices_created: int
    payment_links_created: int
    notifications: int
    failures: int


class RunReport(RunSummary):
    """What a run did, computed when read: bounces arriving hours later show up."""

    drafts_awaiting_confirmation: int
    emails: ChannelCounts
    sms: ChannelCounts
    failure_list: list[RunFailure] = Field(description="Each failed notification with its reason.")
    items: list[RunItemView]


class NotificationView(BaseModel):
    id: int
    channel: str
    template: str
    recipient: str
    status: str
    detail: str | None

    @classmethod
    def of(cls, note: Notification) -> NotificationView:
        return cls(
            id=note.id,
            channel=note.channel,
            template=note.template,
            recipient=note.recipient,
            status=note.status,
            detail=note.detail,
        )


class ConfirmedDraft(BaseModel):
    """A run's draft after confirming it: issued, and the notices it produced."""

    invoice: InvoiceView
    notifications: list[NotificationView]
