"""What the payment and credit endpoints take and show: payments, refunds, credit, credit notes."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing.documents import money_text
from billing.models import Application, CreditEntry, CreditNote, Payment, Refund
from billing.schemas import CurrencyCode, LineIn, LongText, PaymentMethod, RecordId
from billing.views import LineView

MAX_AMOUNT = Decimal(10) ** 13  # the stored columns hold 16 integer digits

AmountIn = Annotated[
    Decimal,
    Field(gt=0, lt=MAX_AMOUNT, description="At the currency's scale: 10.005 EUR is refused."),
]
Reference = Annotated[str, Field(min_length=1, max_length=200)]


class PaymentStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AllocationIn(_Input):
    invoice_id: RecordId
    amount: AmountIn


class _Received(_Input):
    amount: AmountIn
    method: PaymentMethod = Field(description="card, echeck, or offline (recorded by staff).")
    received_on: date | None = Field(default=None, description="Default: today, firm's zone.")
    reference: Reference | None = None


class PaymentInput(_Received):
    """A payment from a customer: put on the invoices named, or on the oldest due first.

    Whatever is left over becomes the customer's credit when the firm takes prepayments."""

    customer_id: RecordId
    currency: CurrencyCode | None = Field(default=None, description="Default: the customer's.")
    allocations: list[AllocationIn] | None = Field(
        default=None, min_length=1, max_length=500, description="Exact amounts per invoice."
    )
    invoice_ids: list[RecordId] | None = Field(
        default=None, min_length=1, max_length=500, description="Pay these, oldest due first."
    )

    @model_validator(mode="after")
    def _one_way_to_choose_invoices(self) -> PaymentInput:
        if self.allocations is not None and self.invoice_ids is not None:
            raise ValueError("give either allocations or invoice_ids, not both")
        chosen = self.invoice_ids or [entry.invoice_id for entry in self.allocations or []]
        if len(set(chosen)) != len(chosen):
            raise ValueError("an invoice is listed more than once")
        return self


class InvoicePaymentInput(_Input):
    """A payment for one invoice; without an amount, its whole balance."""

    amount: AmountIn | None = None
    method: PaymentMethod
    received_on: date | None = None
    reference: Reference | None = None


class PrepaymentInput(_Received):
    """Money paid in advance: all of it becomes the customer's credit (seed 001)."""

    customer_id: RecordId
    currency: CurrencyCode | None = Field(default=None, description="Default: the customer's.")


class RefundInput(_Input):
    """Money given back out of a payment; without an amount, all that is still refundable."""

    amount: AmountIn | None = None
    reason: LongText | None = None


class CreditApplicationInput(_Input):
    """Customer credit to put on an invoice."""

    amount: AmountIn


class CreditNoteInput(_Input):
    """A credit note: line items or a total; against an open invoice, or all to credit."""

    customer_id: RecordId
    invoice_id: RecordId | None = Field(
        default=None, description="An open invoice of the customer; its balance is paid first."
    )
    currency: CurrencyCode | None = Field(
        default=None, description="Default: the invoice's, else the customer's."
    )
    issue_date: date | None = Field(default=None, description="Default: today, firm's zone.")
    lines: list[LineIn] = Field(default_factory=list, max_length=500)
    total: AmountIn | None = Field(default=None, description="Instead of line items.")
    tax_rate: Decimal = Field(default=Decimal(0), description="Percent, on the line items.")
    reason: LongText | None = None

    @model_validator(mode="after")
    def _lines_or_total(self) -> CreditNoteInput:
        if self.lines and self.total is not None:
            raise ValueError("give either lines or a total, not both")
        if not self.lines and self.total is None:
            raise ValueError("a credit note needs lines or a total")
        if self.total is not None and self.tax_rate != 0:
            raise ValueError("a total already includes tax: tax_rate applies to lines only")
        return self


class PaymentView(BaseModel):
    id: int
    customer_id: int
    amount: str
    currency: str
    method: str
    status: str = Field(description="succeeded, partially_refunded or refunded.")
    received_on: date
    reference: str | None
    prepayment: bool
    unapplied: str = Field(description="The part that went to the customer's credit.")
    refunded: str
    created_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentView:
        currency = payment.currency
        return cls(
            id=payment.id,
            customer_id=payment.customer_id,
            amount=money_text(payment.amount, currency),
            currency=currency,
            method=payment.method,
            status=payment.status,
            received_on=payment.received_on,
            reference=payment.reference,
            prepayment=payment.prepayment,
            unapplied=money_text(payment.unapplied, currency),
            refunded=money_text(payment.refunded, currency),
            created_at=payment.created_at,
        )


class ApplicationView(BaseModel):
    id: int
    invoice_id: int
    invoice_number: str | None
    source: str = Field(description="payment, credit or credit_note.")
    amount: str = Field(description="Negative when a refund took money back off the invoice.")
    applied_on: date

    @classmethod
    def of(cls, row: Application, number: str | None, currency: str) -> ApplicationView:
        return cls(
            id=row.id,
            invoice_id=row.invoice_id,
            invoice_number=number,
            source=row.source,
            amount=money_text(row.amount, currency),
            applied_on=row.applied_on,
        )


class RefundView(BaseModel):
    id: int
    payment_id: int
    amount: str
    from_credit: str = Field(description="The part taken from the customer's credit.")
    from_invoices: str = Field(description="The part taken back off invoices (they reopen).")
    reason: str | None
    refunded_on: date
    created_at: datetime

    @classmethod
    def of(cls, refund: Refund, currency: str) -> RefundView:
        return cls(
            id=refund.id,
            payment_id=refund.payment_id,
            amount=money_text(refund.amount, currency),
            from_credit=money_text(refund.from_credit, currency),
            from_invoices=money_text(refund.amount - refund.from_credit, currency),
            reason=refund.reason,
            refunded_on=refund.refunded_on,
            created_at=refund.created_at,
        )


class PaymentDetailView(PaymentView):
    applications: list[ApplicationView]
    refunds: list[RefundView]


class CreditApplicationView(BaseModel):
    invoice_id: int
    number: str | None
    state: str
    currency: str
    applied: str
    invoice_balance: str
    credit_balance: str = Field(description="The customer's credit left in this currency.")


class CreditMovementView(BaseModel):
    id: int
    currency: str
    amount: str = Field(description="+ into the customer's credit, - out of it.")
    kind: str = Field(
        description="prepayment, overpayment, credit_note, applied (to an invoice) or refund."
    )
    on: date
    payment_id: int | None
    invoice_id: int | None
    credit_note_id: int | None
    refund_id: int | None

    @classmethod
    def of(cls, entry: CreditEntry) -> CreditMovementView:
        return cls(
            id=entry.id,
            currency=entry.currency,
            amount=money_text(entry.amount, entry.currency),
            kind=entry.kind,
            on=entry.on,
            payment_id=entry.payment_id,
            invoice_id=entry.invoice_id,
            credit_note_id=entry.credit_note_id,
            refund_id=entry.refund_id,
        )


class CustomerCreditView(BaseModel):
    customer_id: int
    balances: dict[str, str] = Field(description="Credit per currency, e.g. {'EUR': '40.00'}.")
    movements: list[CreditMovementView]


class CreditNoteView(BaseModel):
    id: int
    number: str
    customer_id: int
    invoice_id: int | None
    currency: str
    issue_date: date
    lines: list[LineView]
    total: str
    to_invoice: str = Field(description="The part that paid the invoice's balance.")
    to_credit: str = Field(description="The part added to the customer's credit.")
    reason: str | None
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, note: CreditNote) -> CreditNoteView:
        currency = note.currency
        return cls(
            id=note.id,
            number=note.number,
            customer_id=note.customer_id,
            invoice_id=note.invoice_id,
            currency=currency,
            issue_date=note.issue_date,
            lines=[LineView.stored(line, currency) for line in note.lines],
            total=money_text(note.total, currency),
            to_invoice=money_text(note.to_invoice, currency),
            to_credit=money_text(note.to_credit, currency),
            reason=note.reason,
            created_at=note.created_at,
            sent_at=note.sent_at,
        )


class CreditNoteSendResult(BaseModel):
    """The credit note after sending, and the email request it produced."""

    credit_note: CreditNoteView
    request_id: str = Field(description="The `mail.send` id; its outcome is in /api/messages.")
    status: str = Field(description="queued, or failed with the reason when there is no email.")
    detail: str | None = None
