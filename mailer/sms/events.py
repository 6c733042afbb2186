"""The SMS event contract: `sms.send` requests; outcomes are `StatusEvent`s on `sms.status`."""

from __future__ import annotations

import enum
import re
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from mailer.events import TemplateData

__all__ = [
    "SMS_CONTRACT_VERSION",
    "SMS_SEND_SUBJECT",
    "SMS_STATUS_SUBJECT",
    "PhoneNumber",
    "SmsSendEvent",
    "SmsTemplateName",
    "check_e164",
]

SMS_SEND_SUBJECT = "sms.send"
SMS_STATUS_SUBJECT = "sms.status"
SMS_CONTRACT_VERSION = 1

E164_MIN_DIGITS = 8
E164_MAX_DIGITS = 15
_DIGITS = re.compile(r"[0-9]+")


class SmsTemplateName(enum.StrEnum):
    """The short text templates an SMS can be rendered from."""

    INVOICE_NEW = "invoice.new"
    PAYMENT_LINK = "payment.link"
    INVOICE_REMINDER = "invoice.reminder"


def check_e164(value: str) -> str:
    """`value` unchanged if it is `+` and 8 to 15 digits (no spaces), else ValueError saying why.

    Only the format is checked: whether the number is a mobile is the provider's to say.
    """
    example = "e.g. +4512345678"
    if not value.startswith("+"):
        raise ValueError(f"must start with + and the country code (E.164, {example})")
    digits = value[1:]
    if not _DIGITS.fullmatch(digits):
        raise ValueError(f"must be + followed by digits only, no spaces or letters ({example})")
    if digits.startswith("0"):
        raise ValueError("the country code cannot start with 0 (E.164)")
    if not E164_MIN_DIGITS <= len(digits) <= E164_MAX_DIGITS:
        raise ValueError(
            f"must have {E164_MIN_DIGITS} to {E164_MAX_DIGITS} digits after +, got {len(digits)}"
        )
    return value


PhoneNumber = Annotated[str, AfterValidator(check_e164)]


class SmsSendEvent(BaseModel):
    """A request to text one notice to one customer's mobile (subject `sms.send`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        min_length=1,
        max_length=200,
        description="Idempotency key: the same (tenant, id) never produces a second SMS.",
    )
    tenant: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="The firm.",
    )
    to: PhoneNumber = Field(
        description="The customer's mobile number in E.164 form (+ and 8 to 15 digits), "
        "e.g. +4512345678. Missing or invalid: the event is rejected with that reason."
    )
    template: SmsTemplateName = Field(description="Which short text to send.")
    locale: str = Field(
        default="en", max_length=35, description="en, fr, de, da, ro; others fall back to en."
    )
    data: TemplateData = Field(
        description="The template context, as in `mail.send`: company, customer, invoice, links."
    )
    send_at: AwareDatetime | None = Field(default=None, description="Never sent before this time.")

    @field_validator("id")
    @classmethod
    def _printable_id(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("must be printable (no line breaks or control characters)")
        return value
