"""The billing core's public events (`billing.*`, version 1), published at least once."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

BILLING_CONTRACT_VERSION = 1
BILLING_SUBJECT_PREFIX = "billing."


class BillingEventType(enum.StrEnum):
    """Every `billing.*` event; the value is also the broker subject."""

    INVOICE_ISSUED = "billing.invoice.issued"
    INVOICE_PAID = "billing.invoice.paid"
    INVOICE_VOIDED = "billing.invoice.voided"
    PAYMENT_RECEIVED = "billing.payment.received"
    CREDIT_APPLIED = "billing.credit.applied"
    RUN_COMPLETED = "billing.run.completed"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True)


class InvoiceFacts(_Data):
    """An invoice as it stands after the change."""

    kind: Literal["invoice"] = "invoice"
    invoice_id: int
    number: str
    customer_id: int
    state: str = Field(description="draft, issued, partially_paid, paid or void.")
    currency: str
    total: Decimal
    amount_paid: Decimal
    balance: Decimal
    issue_date: date
    due_date: date | None = None
    version: int = Field(description="The document version; it changes when the PDF would.")


class AppliedAmount(_Data):
    invoice_id: int
    number: str
    amount: Decimal


class PaymentFacts(_Data):
    """A payment as recorded: where its money went."""

    kind: Literal["payment"] = "payment"
    payment_id: int
    customer_id: int
    amount: Decimal
    currency: str
    method: str = Field(description="card, echeck or offline.")
    received_on: date
    reference: str | None = None
    applied: list[AppliedAmount] = Field(default_factory=list)
    to_credit: Decimal = Field(description="The part kept as the customer's credit.")


class CreditFacts(_Data):
    """Customer credit put on an invoice."""

    kind: Literal["credit"] = "credit"
    customer_id: int
    invoice_id: int
    number: str
    amount: Decimal
    currency: str
    credit_balance: Decimal = Field(description="The customer's credit left afterwards.")


class RunFacts(_Data):
    """The outcome of a billing run when it finished (its report keeps being updated)."""

    kind: Literal["run"] = "run"
    run_id: int
    run_kind: str = Field(description="automatic, recurring or manual.")
    mode: str | None = Field(description="draft, send_invoice or send_payment_link.")
    scheduled_on: date | None
    invoices_created: int
    payment_links_created: int
    emails_requested: int
    sms_requested: int
    failures: int


EventData = Annotated[
    InvoiceFacts | PaymentFacts | CreditFacts | RunFacts, Field(discriminator="kind")
]


class BillingEvent(BaseModel):
    """One `billing.*` event. Delivery is at least once: consumers deduplicate by `id`."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Unique event id; the same id is the same event.")
    type: BillingEventType
    tenant: str
    occurred_at: datetime
    version: int = BILLING_CONTRACT_VERSION
    data: EventData

    @classmethod
    def new(
        cls, type_: BillingEventType, tenant: str, occurred_at: datetime, data: EventData
    ) -> BillingEvent:
        return cls(
            id=f"bill-{uuid.uuid4().hex}",
            type=type_,
            tenant=tenant,
            occurred_at=occurred_at,
            data=data,
        )


EVENT_DESCRIPTIONS: dict[BillingEventType, str] = {
    BillingEventType.INVOICE_ISSUED: "An invoice was issued (its number and amounts are final).",
    BillingEventType.INVOICE_PAID: "An invoice's balance reached zero.",
    BillingEventType.INVOICE_VOIDED: "An invoice was voided; it is no longer owed.",
    BillingEventType.PAYMENT_RECEIVED: "A payment was recorded and applied.",
    BillingEventType.CREDIT_APPLIED: "Customer credit was used to pay (part of) an invoice.",
    BillingEventType.RUN_COMPLETED: "A billing run (automatic or recurring) finished.",
}
