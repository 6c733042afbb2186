"""Turn raw input (broker body, HTTP JSON, file) into a valid SendEvent, or say exactly why not."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from mailer.catalog import CATALOG
from mailer.events import SendEvent, describe_validation_error

MAX_EVENT_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class InvalidEvent(Exception):
    """The input is not an acceptable send event; `reason` says why in plain words."""

    reason: str
    tenant: str | None = None
    request_id: str | None = None

    def __str__(self) -> str:
        return self.reason


def parse_event(raw: bytes | str | dict[str, Any]) -> SendEvent:
    """Decode and validate one send event; raises InvalidEvent with the reason."""
    document = _decode(raw)
    tenant, request_id = _identity(document)
    try:
        event = SendEvent.model_validate(document)
    except ValidationError as exc:
        reason = describe_validation_error(exc.errors(include_url=False))  # type: ignore[arg-type]
        raise InvalidEvent(reason, tenant, request_id) from None
    missing = [key for key in CATALOG[event.template].requires if getattr(event.data, key) is None]
    if missing:
        needed = ", ".join(f"data.{key}" for key in missing)
        raise InvalidEvent(f"template {event.template} needs {needed}", tenant, request_id)
    return event


def _decode(raw: bytes | str | dict[str, Any]) -> Any:
    if isinstance(raw, dict):
        return raw
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event is larger than {MAX_EVENT_BYTES} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"body is not valid JSON: {exc}") from None


def _identity(document: Any) -> tuple[str | None, str | None]:
    """The tenant and id, when present and printable, so a rejection can be attributed."""
    if not isinstance(document, dict):
        raise InvalidEvent("event must be a JSON object")
    tenant, request_id = document.get("tenant"), document.get("id")
    return (_printable(tenant), _printable(request_id))


def _printable(value: object) -> str | None:
    if isinstance(value, str) and value.isprintable() and 0 < len(value) <= 200:
        return value
    return None
