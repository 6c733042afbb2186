"""The `sms.send` contract: E.164 numbers checked strictly by format, with clear reasons."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from pydantic import ValidationError

from mailer.sms.events import SmsSendEvent, SmsTemplateName, check_e164
from mailer.sms.intake import InvalidEvent, parse_sms_event
from tests.conftest import load_example


def sms_event(**overrides: Any) -> dict[str, Any]:
    """An `sms.send` event built from the `invoice.new` email example's data."""
    document: dict[str, Any] = {
        "id": "sms-invoice-new-0001",
        "tenant": "acme",
        "to": "+4512345678",
        "template": "invoice.new",
        "locale": "da",
        "data": copy.deepcopy(load_example("invoice.new")["data"]),
    }
    document.update(overrides)
    return document


@pytest.mark.parametrize(
    "number",
    [
        "+4512345678",  # Danish mobile, 10 digits
        "+14155552671",  # US, 11 digits
        "+12345678",  # the shortest: 8 digits
        "+123456789012345",  # the longest: 15 digits
        "+4533123456",  # a Copenhagen landline: the format is all that is checked
    ],
)
def test_valid_numbers(number: str) -> None:
    assert check_e164(number) == number
    assert SmsSendEvent.model_validate(sms_event(to=number)).to == number


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("4512345678", "must start with +"),
        ("0045 12345678", "must start with +"),
        ("+45 12 34 56 78", "digits only, no spaces or letters"),
        ("+45ABCDEFGH", "digits only, no spaces or letters"),
        ("+4512345678x", "digits only"),
        ("+", "digits only"),
        ("+0451234567", "cannot start with 0"),
        ("+1234567", "8 to 15 digits after +, got 7"),
        ("+1234567890123456", "8 to 15 digits after +, got 16"),
        ("+\uff14\uff1512345678", "digits only"),  # full-width digits are not ASCII digits
    ],
)
def test_invalid_numbers_say_why(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_e164(number)
    with pytest.raises(InvalidEvent) as raised:
        parse_sms_event(sms_event(to=number))
    assert raised.value.reason.startswith("to: the customer has no valid mobile number")
    assert reason in raised.value.reason
    assert (raised.value.tenant, raised.value.request_id) == ("acme", "sms-invoice-new-0001")


@pytest.mark.parametrize("missing", [None, ""])
def test_a_customer_without_a_mobile_number_is_named_as_such(missing: str | None) -> None:
    with pytest.raises(InvalidEvent, match="to: the customer has no mobile number"):
        parse_sms_event(sms_event(to=missing))
    document = sms_event()
    del document["to"]
    with pytest.raises(InvalidEvent, match="the customer has no mobile number"):
        parse_sms_event(document)


def test_templates_and_locales() -> None:
    assert {t.value for t in SmsTemplateName} == {"invoice.new", "payment.link", "invoice.reminder"}
    with pytest.raises(InvalidEvent, match="template"):
        parse_sms_event(sms_event(template="statement"))
    assert parse_sms_event(sms_event(locale="fr-CA")).locale == "fr-CA"  # resolved at render


def test_the_invoice_is_required_and_unknown_data_keys_are_allowed() -> None:
    document = sms_event()
    document["data"]["loyalty_points"] = 12
    assert parse_sms_event(document).data.invoice is not None
    del document["data"]["invoice"]
    with pytest.raises(InvalidEvent, match=r"needs data\.invoice"):
        parse_sms_event(document)


def test_unknown_top_level_keys_and_bad_json_are_rejected() -> None:
    with pytest.raises(InvalidEvent, match="cc"):
        parse_sms_event(sms_event(cc="+4512345679"))
    with pytest.raises(InvalidEvent, match="not valid JSON"):
        parse_sms_event(b'{"id": "x"')
    with pytest.raises(InvalidEvent, match="JSON object"):
        parse_sms_event(b"[1, 2]")


def test_send_at_needs_a_zone() -> None:
    assert parse_sms_event(sms_event(send_at="2026-12-01T09:00:00+01:00")).send_at
    with pytest.raises(InvalidEvent, match="send_at"):
        parse_sms_event(sms_event(send_at="2026-12-01T09:00:00"))


def test_the_model_itself_rejects_bad_numbers() -> None:
    with pytest.raises(ValidationError):
        SmsSendEvent.model_validate(sms_event(to="12345678"))
