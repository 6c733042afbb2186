"""Turn raw input into a valid SmsSendEvent, or say exactly why not (`InvalidEvent`)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from mailer.events import describe_validation_error
from mailer.intake import MAX_EVENT_BYTES, InvalidEvent
from mailer.sms.events import SmsSendEvent

__all__ = ["NO_MOBILE_NUMBER", "InvalidEvent", "parse_sms_event"]

NO_MOBILE_NUMBER = "the customer has no mobile number"
INVALID_MOBILE_NUMBER = "the customer has no valid mobile number"
# Every SMS template names the invoice and its amount.
_REQUIRED_DATA = ("invoice",)


def parse_sms_event(raw: bytes | str | dict[str, Any]) -> SmsSendEvent:
    """Decode and validate one `sms.send` event; raises InvalidEvent with the reason."""
    document = _decode(raw)
    tenant, request_id = _printable(document.get("tenant")), _printable(document.get("id"))
    if document.get("to") in (None, ""):
        raise InvalidEvent(f"to: {NO_MOBILE_NUMBER}", tenant, request_id)
    try:
        event = SmsSendEvent.model_validate(document)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = exc.errors(include_url=False)  # type: ignore[assignment]
        raise InvalidEvent(_describe(errors), tenant, request_id) from None
    missing = [key for key in _REQUIRED_DATA if getattr(event.data, key) is None]
    if missing:
        needed = ", ".join(f"data.{key}" for key in missing)
        raise InvalidEvent(f"template {event.template} needs {needed}", tenant, request_id)
    return event


def _describe(errors: list[dict[str, Any]]) -> str:
    """The validation errors, with a bad `to` said in the customer's terms first."""
    phone = [error for error in errors if tuple(error.get("loc", ())) == ("to",)]
    others = [error for error in errors if error not in phone]
    parts = [f"to: {INVALID_MOBILE_NUMBER} ({_message(error)})" for error in phone]
    if others:
        parts.append(describe_validation_error(others))
    return "; ".join(parts)


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def _decode(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event is larger than {MAX_EVENT_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidEvent("event must be a JSON object")
    return document


def _printable(value: object) -> str | None:
    if isinstance(value, str) and value.isprintable() and 0 < len(value) <= 200:
        return value
    return None
