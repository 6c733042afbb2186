"""What callers send to the billing core: validated inputs for customers and documents."""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from mailer.events import EmailAddress
from mailer.sms.events import check_e164

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
CurrencyCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]
Mobile = Annotated[str, AfterValidator(check_e164)]
MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL: larger ones can only be unknown
RecordId = Annotated[int, Field(ge=1, le=MAX_ID)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PaymentMethod(enum.StrEnum):
    """How money arrives: online by card or bank debit (eCheck), or recorded by staff."""

    CARD = "card"
    ECHECK = "echeck"
    OFFLINE = "offline"


class RecurringPaymentMethod(enum.StrEnum):
    """How a recurring invoice asks to be paid (seed 000)."""

    CARD = "card"
    ECHECK = "echeck"
    ANY = "any"


class CustomerInput(_Input):
    """A customer of the firm."""

    name: Text
    email: EmailAddress | None = Field(default=None, description="Where documents are emailed.")
    cc_emails: list[EmailAddress] = Field(default_factory=list, max_length=10)
    mobile_phone: Mobile | None = Field(default=None, description="E.164, for SMS notices.")
    locale: str = Field(default="en", max_length=35, description="en, fr, de, da, ro.")
    currency: CurrencyCode | None = Field(
        default=None, description="ISO 4217; default: the firm's currency."
    )
    address: LongText | None = None


class CustomerUpdate(_Input):
    """Changes to a customer; absent fields stay. A new email clears the undeliverable flag."""

    name: Text | None = None
    email: EmailAddress | None = None
    cc_emails: list[EmailAddress] | None = Field(default=None, max_length=10)
    mobile_phone: Mobile | None = None
    locale: str | None = Field(default=None, max_length=35)
    address: LongText | None = None


class LineIn(_Input):
    """One line item."""

    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ]
    quantity: Decimal = Field(default=Decimal(1), gt=0)
    unit_price: Decimal


class AmountsIn(_Input):
    """How a document's amount is given: line items, or a plain subtotal (seed 000)."""

    lines: list[LineIn] = Field(default_factory=list, max_length=500)
    subtotal: Decimal | None = Field(default=None, description="Instead of line items.")
    discount: Decimal = Decimal(0)
    tax_rate: Decimal = Field(default=Decimal(0), description="Percent, e.g. 20 for 20%.")


class InvoiceInput(AmountsIn):
    """A new invoice; it starts as a draft."""

    customer_id: RecordId
    currency: CurrencyCode | None = Field(default=None, description="Default: the customer's.")
    issue_date: date | None = Field(
        default=None, description="Default: today; a future date sends it on that day."
    )
    due_date: date | None = Field(default=None, description="Default: issue date + terms.")
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    notes: LongText | None = None
    payment_method: RecurringPaymentMethod | None = None


class InvoiceUpdate(AmountsIn):
    """A draft's new content (all amounts are given again)."""

    issue_date: date | None = None
    due_date: date | None = None
    notes: LongText | None = None
