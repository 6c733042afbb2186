"""How the API shows customers, invoices and a firm's billing settings (amounts as strings)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from billing.documents import money_text, quantity_text
from billing.ledger import PricedLine
from billing.models import BillingSettings, Customer, Invoice, InvoiceLine
from billing.schemas import CurrencyCode, Text


class CustomerView(BaseModel):
    id: int
    name: str
    email: str | None
    cc_emails: list[str]
    mobile_phone: str | None
    locale: str
    currency: str
    address: str | None
    email_undeliverable: bool = Field(
        description="A hard bounce or suppression hit this address: reminders are paused."
    )
    email_undeliverable_reason: str | None
    email_undeliverable_at: datetime | None

    @classmethod
    def of(cls, customer: Customer) -> CustomerView:
        return cls(
            id=customer.id,
            name=customer.name,
            email=customer.email,
            cc_emails=list(customer.cc_emails),
            mobile_phone=customer.mobile_phone,
            locale=customer.locale,
            currency=customer.currency,
            address=customer.address,
            email_undeliverable=customer.email_undeliverable,
            email_undeliverable_reason=customer.email_undeliverable_reason,
            email_undeliverable_at=customer.email_undeliverable_at,
        )


class LineView(BaseModel):
    """One line item of an invoice, estimate, credit note or schedule."""

    description: str
    quantity: str
    unit_price: str
    amount: str

    @classmethod
    def of(cls, line: PricedLine | InvoiceLine, currency: str) -> LineView:
        return cls(
            description=line.description,
            quantity=quantity_text(line.quantity),
            unit_price=money_text(line.unit_price, currency),
            amount=money_text(line.amount, currency),
        )

    @classmethod
    def stored(cls, line: Mapping[str, str], currency: str) -> LineView:
        """A line as documents keep it in JSON."""
        return cls(
            description=line["description"],
            quantity=quantity_text(Decimal(line["quantity"])),
            unit_price=money_text(Decimal(line["unit_price"]), currency),
            amount=money_text(Decimal(line["amount"]), currency),
        )


class InvoiceView(BaseModel):
    id: int
    number: str | None = Field(description="Given when the invoice is issued; null for drafts.")
    customer_id: int
    state: str = Field(description="draft, issued, partially_paid, paid or void.")
    currency: str
    issue_date: date
    due_date: date | None
    lines: list[LineView]
    subtotal: str
    discount: str
    tax_rate: str
    tax: str
    total: str
    amount_paid: str
    balance: str
    notes: str | None
    source: str = Field(description="manual, schedule, run or estimate.")
    version: int
    issued_at: datetime | None
    sent_at: datetime | None
    sent_by: str | None = Field(description="staff, auto, schedule, run, or marked (by hand).")
    paid_at: datetime | None
    voided_at: datetime | None

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceView:
        currency = invoice.currency
        return cls(
            id=invoice.id,
            number=invoice.number,
            customer_id=invoice.customer_id,
            state=invoice.state,
            currency=currency,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            lines=[LineView.of(line, currency) for line in invoice.lines],
            subtotal=money_text(invoice.subtotal, currency),
            discount=money_text(invoice.discount, currency),
            tax_rate=quantity_text(invoice.tax_rate),
            tax=money_text(invoice.tax, currency),
            total=money_text(invoice.total, currency),
            amount_paid=money_text(invoice.amount_paid, currency),
            balance=money_text(invoice.balance, currency),
            notes=invoice.notes,
            source=invoice.source,
            version=invoice.version,
            issued_at=invoice.issued_at,
            sent_at=invoice.sent_at,
            sent_by=invoice.sent_by,
            paid_at=invoice.paid_at,
            voided_at=invoice.voided_at,
        )


class FirmSettingsInput(BaseModel):
    """A firm's billing identity, numbering, auto-send triggers and payment rules."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    company_name: Text
    company_email: str | None = Field(default=None, max_length=320)
    company_address: str | None = Field(default=None, max_length=2000)
    company_phone: str | None = Field(default=None, max_length=40)
    company_tax_id: str | None = Field(default=None, max_length=60)
    portal_url: HttpUrl | None = Field(
        default=None, description="Base of the view and pay links in emails."
    )
    timezone: str = Field(default="UTC", max_length=64, description="IANA zone, e.g. Europe/Paris.")
    default_currency: CurrencyCode = "EUR"
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    invoice_prefix: str = Field(default="INV-", max_length=20)
    estimate_prefix: str = Field(default="EST-", max_length=20)
    credit_note_prefix: str = Field(default="CN-", max_length=20)
    auto_send_invoice: bool = Field(default=False, description="Email new invoices on issue.")
    auto_send_estimate: bool = False
    auto_send_payment_plan: bool = False
    auto_send_credit_note: bool = False
    auto_send_grace_seconds: int = Field(
        default=300,
        ge=0,
        le=7 * 86400,
        description="Delay between issue and the automatic email, for corrections (5 minutes).",
    )
    allow_partial_payments: bool = Field(default=True, description="On by default (seed 001).")
    prepayments_enabled: bool = Field(
        default=False, description="Customers may pay ahead into credit; admins switch it on."
    )


class FirmSettingsView(FirmSettingsInput):
    tenant: str
    portal_url: str | None = None  # type: ignore[assignment]
    updated_at: datetime

    @classmethod
    def of(cls, settings: BillingSettings) -> FirmSettingsView:
        fields = {name: getattr(settings, name) for name in FirmSettingsInput.model_fields}
        return cls(tenant=settings.tenant, updated_at=settings.updated_at, **fields)
