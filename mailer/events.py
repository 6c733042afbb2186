"""The public event contract: `mail.send` requests and `mail.status` outcomes (version 1)."""

from __future__ import annotations

import enum
import functools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

SEND_SUBJECT = "mail.send"
STATUS_SUBJECT = "mail.status"
CONTRACT_VERSION = 1

_FORBIDDEN_CHARACTERS = ("\r", "\n", "\x00")


def _no_line_breaks(value: str) -> str:
    if any(ch in value for ch in _FORBIDDEN_CHARACTERS):
        raise ValueError("must not contain CR, LF or NUL characters")
    return value


@functools.lru_cache(maxsize=8192)
def _valid_address(value: str) -> str:
    """The normalized address; cached, as the same firms and customers come back all day."""
    _no_line_breaks(value)
    try:
        # Internationalized domains are fine (sent as punycode); non-ASCII local parts would
        # need SMTPUTF8 end to end, which many receiving servers still refuse.
        checked = validate_email(
            value, check_deliverability=False, allow_quoted_local=True, allow_smtputf8=False
        )
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc
    return checked.normalized


EmailAddress = Annotated[str, AfterValidator(_valid_address)]
HeaderText = Annotated[str, AfterValidator(_no_line_breaks), Field(max_length=256)]
Money = Decimal


class TemplateName(enum.StrEnum):
    """The email templates of the catalog."""

    INVOICE_NEW = "invoice.new"
    INVOICE_REMINDER = "invoice.reminder"
    INVOICE_LATE_REMINDER = "invoice.late_reminder"
    INVOICE_THANK_YOU = "invoice.thank_you"
    PAYMENT_PLAN_ONBOARDING = "payment_plan.onboarding"
    CREDIT_NOTE_NEW = "credit_note.new"
    PAYMENT_RECEIPT = "payment.receipt"
    PAYMENT_REFUND = "payment.refund"
    AUTOPAY_FAILED = "autopay.failed"
    STATEMENT = "statement"
    SUBSCRIPTION_CONFIRMATION = "subscription.confirmation"
    SUBSCRIPTION_BILLED_SOON = "subscription.billed_soon"
    SUBSCRIPTION_CANCELLATION = "subscription.cancellation"
    ESTIMATE_NEW = "estimate.new"
    PAYMENT_LINK = "payment.link"


class DeliveryStatus(enum.StrEnum):
    """Where one recipient of one request stands."""

    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"

    @property
    def is_final(self) -> bool:
        return self not in (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)


class _Open(BaseModel):
    """Context objects accept keys they do not know: templates ignore what they do not use."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Address(BaseModel):
    """One mailbox: an address and an optional display name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: EmailAddress = Field(description="The mailbox address.")
    name: HeaderText | None = Field(default=None, description="Display name, optional.")


class Company(_Open):
    name: str = Field(description="The firm's name, shown as the sender's display name.")
    email: EmailAddress | None = Field(default=None, description="Where replies go (Reply-To).")
    address: str | None = Field(default=None, description="Postal address for documents.")
    phone: str | None = None
    tax_id: str | None = None


class Customer(_Open):
    name: str = Field(description="The customer's name.")
    email: EmailAddress | None = None
    address: str | None = None


class LineItem(_Open):
    description: str
    quantity: Decimal = Decimal(1)
    unit_price: Money | None = None
    amount: Money


def _check_sum(parts: list[Decimal], expected: Decimal, what: str) -> None:
    if sum(parts, Decimal(0)) != expected:
        raise ValueError(f"{what} does not add up ({' + '.join(map(str, parts))} != {expected})")


class Invoice(_Open):
    number: str = Field(description="Invoice number, also the default A/R thread.")
    issue_date: date
    due_date: date | None = None
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code.")
    lines: list[LineItem] = Field(default_factory=list)
    subtotal: Money
    discount: Money = Decimal(0)
    tax: Money = Decimal(0)
    total: Money
    amount_paid: Money = Decimal(0)
    balance: Money | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _totals_add_up(self) -> Invoice:
        if self.lines:
            _check_sum([line.amount for line in self.lines], self.subtotal, "invoice lines")
        _check_sum([self.subtotal, -self.discount, self.tax], self.total, "invoice total")
        if self.balance is not None:
            _check_sum([self.total, -self.amount_paid], self.balance, "invoice balance")
        return self

    @property
    def balance_due(self) -> Decimal:
        return self.total - self.amount_paid if self.balance is None else self.balance


class CreditNote(_Open):
    number: str
    date: date
    currency: str = Field(min_length=3, max_length=3)
    lines: list[LineItem] = Field(default_factory=list)
    total: Money
    invoice_number: str | None = Field(default=None, description="The invoice it credits.")
    reason: str | None = None


class PaymentInvoice(_Open):
    number: str
    amount: Money = Field(description="The part of the payment applied to this invoice.")


class Payment(_Open):
    amount: Money
    currency: str = Field(min_length=3, max_length=3)
    date: date
    method: str | None = None
    reference: str | None = None
    invoices: list[PaymentInvoice] = Field(default_factory=list)


class StatementEntry(_Open):
    date: date
    description: str
    amount: Money
    balance: Money | None = None


class Statement(_Open):
    period_start: date
    period_end: date
    currency: str = Field(min_length=3, max_length=3)
    opening_balance: Money = Decimal(0)
    closing_balance: Money
    entries: list[StatementEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _balances_add_up(self) -> Statement:
        amounts = [entry.amount for entry in self.entries]
        _check_sum([self.opening_balance, *amounts], self.closing_balance, "statement")
        return self


class Subscription(_Open):
    plan: str
    amount: Money | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    next_billing_date: date | None = None


class Installment(_Open):
    date: date
    amount: Money


class PaymentPlan(_Open):
    currency: str = Field(min_length=3, max_length=3)
    installments: list[Installment] = Field(
        default_factory=list, description="What the customer pays on which day, in date order."
    )


class Links(_Open):
    view: str | None = Field(default=None, description="View the document online.")
    pay: str | None = Field(default=None, description="Pay online.")
    manage: str | None = Field(
        default=None, description="Manage the subscription or payment details."
    )

    @field_validator("view", "pay", "manage")
    @classmethod
    def _web_links_only(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("https://", "http://")):
            raise ValueError("links must be http(s) URLs")
        return value


class TemplateData(_Open):
    """The template context. Which objects are required depends on the template."""

    company: Company
    customer: Customer
    invoice: Invoice | None = None
    invoices: list[Invoice] = Field(
        default_factory=list,
        description="Full invoices a payment or refund applies to; the receipt PDF shows each.",
    )
    credit_note: CreditNote | None = None
    payment: Payment | None = None
    statement: Statement | None = None
    subscription: Subscription | None = None
    payment_plan: PaymentPlan | None = Field(
        default=None, description="The installments `payment_plan.onboarding` lists, if given."
    )
    links: Links = Field(default_factory=Links)


class SendEvent(BaseModel):
    """A request to email one document or notice (subject `mail.send`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(
        min_length=1,
        max_length=200,
        description="Idempotency key: the same (tenant, id) never produces a second email.",
    )
    tenant: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="The firm.",
    )
    template: TemplateName = Field(description="Which email of the catalog to send.")
    to: list[Address] = Field(min_length=1, max_length=50, description="Primary recipients.")
    cc: list[Address] = Field(default_factory=list, max_length=50)
    bcc: list[Address] = Field(default_factory=list, max_length=50)
    sender: Address | None = Field(
        default=None,
        alias="from",
        description="One of the tenant's sending addresses, on a domain it has verified; "
        "default: the tenant's configured sender, else the platform's noreply address.",
    )
    locale: str = Field(
        default="en", max_length=35, description="en, fr, de, da, ro; others fall back to en."
    )
    data: TemplateData = Field(description="The template context.")
    attach_pdf: bool | None = Field(default=None, description="null keeps the template's default.")
    thread: HeaderText | None = Field(
        default=None,
        description="A/R inbox thread; default: the invoice number, else the customer.",
    )
    send_at: AwareDatetime | None = Field(default=None, description="Never sent before this time.")

    @field_validator("id")
    @classmethod
    def _printable_id(cls, value: str) -> str:
        return _no_line_breaks(value)

    @property
    def recipients(self) -> list[Address]:
        return [*self.to, *self.cc, *self.bcc]


class StatusEvent(BaseModel):
    """One outcome for one recipient (subject `mail.status`)."""

    model_config = ConfigDict(frozen=True)

    request_id: str | None = Field(description="The send event's id (null if it had none).")
    tenant: str | None = Field(description="The send event's tenant (null if it had none).")
    message_id: str | None = Field(default=None, description="The email's Message-ID header.")
    recipient: str | None = Field(default=None, description="The recipient this outcome is for.")
    status: DeliveryStatus
    smtp_code: int | None = None
    enhanced_status: str | None = Field(default=None, description="RFC 3463 code, e.g. 5.1.1.")
    detail: str | None = Field(default=None, description="Human-readable reason.")
    reason: str | None = Field(
        default=None, description="For `bounced`: the bounce reason, e.g. userunknown, mailboxfull."
    )
    hard: bool | None = Field(
        default=None, description="For `bounced`: true when the address itself is dead."
    )
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    version: int = CONTRACT_VERSION


def describe_validation_error(errors: list[dict[str, Any]]) -> str:
    """One readable line per validation problem, for `rejected` statuses and 422 answers."""
    lines = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ())) or "event"
        lines.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(lines)
