"""SMS providers: the one-method interface, its result value, and a Twilio-compatible adapter."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from mailer.errors import ConfigurationError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "SmsOutcome",
    "SmsProvider",
    "SmsResult",
    "TwilioConfig",
    "TwilioProvider",
    "classify_response",
    "mask_number",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
DEFAULT_CONNECT_TIMEOUT = 5.0
MAX_DETAIL_LENGTH = 500
_IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


class SmsOutcome(enum.StrEnum):
    """What the provider made of one message."""

    ACCEPTED = "accepted"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class SmsResult:
    """The provider's answer: outcome, its id for the message, error code, detail, retry hint."""

    outcome: SmsOutcome
    provider_id: str | None = None
    code: int | None = None
    detail: str | None = None
    retry_after: float | None = None


class SmsProvider(Protocol):
    """Hands one text to a carrier gateway; never raises for delivery problems."""

    async def send(self, to: str, body: str, *, idempotency_key: str) -> SmsResult: ...

    async def aclose(self) -> None: ...


def mask_number(number: str) -> str:
    """`+4512345678` -> `+45****5678`: enough to tell numbers apart in logs."""
    return number[:3] + "*" * max(0, len(number) - 7) + number[-4:] if len(number) > 7 else "***"


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    """Where and as whom to call a Twilio-compatible Messages API."""

    base_url: str
    account_sid: str
    auth_token: SecretStr
    sender: str
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    def __post_init__(self) -> None:
        if not self.base_url.lower().startswith(("https://", "http://")):
            raise ConfigurationError("the SMS provider URL must be http(s)")
        if not (self.account_sid and self.auth_token.get_secret_value() and self.sender):
            raise ConfigurationError("an SMS provider needs an account SID, a token and a sender")

    @property
    def messages_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"


class TwilioProvider:
    """POSTs to `{base_url}/2010-04-01/Accounts/{sid}/Messages.json` over one pooled client.

    2xx is accepted (the message SID is the provider id); 429, 5xx, timeouts and connection
    errors are temporary (Retry-After honoured); any other 4xx is permanent, with Twilio's
    error code and message. A sender starting with `MG` is a messaging service SID.
    """

    def __init__(self, config: TwilioConfig, *, transport: httpx.AsyncBaseTransport | None = None):
        self._config = config
        self._client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/"),
            auth=httpx.BasicAuth(config.account_sid, config.auth_token.get_secret_value()),
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"Accept": "application/json"},
            transport=transport,
        )

    def __repr__(self) -> str:  # the token stays out of reprs and logs
        return f"TwilioProvider({self._config.base_url!r}, account={self._config.account_sid!r})"

    async def send(self, to: str, body: str, *, idempotency_key: str) -> SmsResult:
        sender_field = "MessagingServiceSid" if self._config.sender.startswith("MG") else "From"
        form = {"To": to, sender_field: self._config.sender, "Body": body}
        try:
            response = await self._client.post(
                self._config.messages_path,
                data=form,
                headers={_IDEMPOTENCY_HEADER: idempotency_key},
            )
        except httpx.TimeoutException as exc:
            return self._log(to, SmsResult(SmsOutcome.TEMPORARY, detail=f"timeout: {_name(exc)}"))
        except httpx.TransportError as exc:
            detail = f"connection error: {_name(exc)}"
            return self._log(to, SmsResult(SmsOutcome.TEMPORARY, detail=detail))
        return self._log(to, classify_response(response))

    async def aclose(self) -> None:
        await self._client.aclose()

    def _log(self, to: str, result: SmsResult) -> SmsResult:
        level = logging.INFO if result.outcome is SmsOutcome.ACCEPTED else logging.WARNING
        logger.log(
            level,
            "sms to %s: %s %s %s",
            mask_number(to),
            result.outcome.value,
            result.code or "",
            result.provider_id or result.detail or "",
        )
        return result


def classify_response(response: httpx.Response) -> SmsResult:
    """Map an HTTP answer of the Messages API to an SmsResult."""
    status, document = response.status_code, _json(response)
    if 200 <= status < 300:
        sid = document.get("sid")
        return SmsResult(SmsOutcome.ACCEPTED, provider_id=str(sid) if sid else None, code=status)
    code = document.get("code")
    message = str(document.get("message") or response.reason_phrase or "no message")
    error_code = code if isinstance(code, int) else None
    detail = f"HTTP {status}" + (f", error {error_code}" if error_code else "") + f": {message}"
    detail = detail[:MAX_DETAIL_LENGTH]
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return SmsResult(
            SmsOutcome.TEMPORARY, code=error_code or status, detail=detail, retry_after=retry_after
        )
    return SmsResult(SmsOutcome.PERMANENT, code=error_code or status, detail=detail)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _name(exc: Exception) -> str:
    """The exception's type and text, which never contain the credentials."""
    text = str(exc)
    return f"{type(exc).__name__}" + (f" ({text[:200]})" if text else "")
