"""The Twilio-compatible adapter against a real local HTTP server: the request and the mapping."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from mailer.errors import ConfigurationError
from mailer.sms.provider import (
    SmsOutcome,
    TwilioConfig,
    TwilioProvider,
    parse_retry_after,
)
from tests.mailer.sms.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    Reply,
    running_fake_twilio,
    twilio_error,
)


@pytest.fixture
async def server() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


def make_provider(server: FakeTwilio, sender: str = "+4570000000", **kw: float) -> TwilioProvider:
    config = TwilioConfig(server.url, ACCOUNT_SID, SecretStr(AUTH_TOKEN), sender, **kw)
    return TwilioProvider(config)


async def test_201_is_accepted_and_the_request_is_exactly_twilios(server: FakeTwilio) -> None:
    server.replies.append(Reply(201, {"sid": "SM0123456789abcdef0123456789abcdef"}))
    provider = make_provider(server)
    try:
        result = await provider.send("+4512345678", "Hej æøå €5", idempotency_key="key-1")
    finally:
        await provider.aclose()
    assert result.outcome is SmsOutcome.ACCEPTED
    assert result.provider_id == "SM0123456789abcdef0123456789abcdef"
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.form == {"To": "+4512345678", "From": "+4570000000", "Body": "Hej æøå €5"}
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["i-twilio-idempotency-token"] == "key-1"


async def test_a_messaging_service_sender_is_sent_as_such(server: FakeTwilio) -> None:
    provider = make_provider(server, sender="MG" + "1" * 32)
    try:
        await provider.send("+4512345678", "hi", idempotency_key="k")
    finally:
        await provider.aclose()
    assert server.requests[0].form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in server.requests[0].form


async def test_connections_are_reused(server: FakeTwilio) -> None:
    provider = make_provider(server)
    try:
        for n in range(3):
            await provider.send("+4512345678", f"n{n}", idempotency_key=f"k{n}")
    finally:
        await provider.aclose()
    assert len(server.requests) == 3 and server.connections == 1


async def test_invalid_to_number_is_permanent_with_twilios_code(server: FakeTwilio) -> None:
    server.replies.append(
        twilio_error(400, 21211, "The 'To' number +4512345678 is not a valid phone number.")
    )
    provider = make_provider(server)
    try:
        result = await provider.send("+4512345678", "hi", idempotency_key="k")
    finally:
        await provider.aclose()
    assert result.outcome is SmsOutcome.PERMANENT and result.code == 21211
    assert (
        result.detail and "21211" in result.detail and "not a valid phone number" in result.detail
    )


async def test_429_is_temporary_and_honours_retry_after(server: FakeTwilio) -> None:
    server.replies.append(twilio_error(429, 20429, "Too Many Requests", **{"Retry-After": "120"}))
    provider = make_provider(server)
    try:
        result = await provider.send("+4512345678", "hi", idempotency_key="k")
    finally:
        await provider.aclose()
    assert result.outcome is SmsOutcome.TEMPORARY and result.retry_after == 120.0


async def test_500_is_temporary(server: FakeTwilio) -> None:
    server.replies.append(Reply(500, {"message": "internal"}))
    provider = make_provider(server)
    try:
        result = await provider.send("+4512345678", "hi", idempotency_key="k")
    finally:
        await provider.aclose()
    assert result.outcome is SmsOutcome.TEMPORARY and result.code == 500


async def test_a_timeout_is_temporary(server: FakeTwilio) -> None:
    server.replies.append(Reply(hang=True))
    provider = make_provider(server, timeout=0.3, connect_timeout=0.3)
    try:
        result = await provider.send("+4512345678", "hi", idempotency_key="k")
    finally:
        await provider.aclose()
    assert result.outcome is SmsOutcome.TEMPORARY
    assert result.detail and result.detail.startswith("timeout")


async def test_a_refused_connection_is_temporary() -> None:
    async with running_fake_twilio() as fake:
        url = fake.url
    config = TwilioConfig(url, ACCOUNT_SID, SecretStr(AUTH_TOKEN), "+4570000000")
    provider = TwilioProvider(config)
    try:
        result = await provider.send("+4512345678", "hi", idempotency_key="k")
    finally:
        await provider.aclose()
    assert result.outcome is SmsOutcome.TEMPORARY
    assert result.detail and result.detail.startswith("connection error")


async def test_the_token_never_reaches_logs_or_repr(
    server: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.replies.append(twilio_error(401, 20003, "Authenticate"))
    provider = make_provider(server)
    try:
        await provider.send("+4512345678", "secret body", idempotency_key="k")
    finally:
        await provider.aclose()
    assert AUTH_TOKEN not in caplog.text and AUTH_TOKEN not in repr(provider)
    assert "+4512345678" not in caplog.text and "secret body" not in caplog.text


def test_incomplete_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        TwilioConfig("ftp://x", ACCOUNT_SID, SecretStr(AUTH_TOKEN), "+4570000000")
    with pytest.raises(ConfigurationError):
        TwilioConfig("https://api.example", ACCOUNT_SID, SecretStr(""), "+4570000000")


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("Sun, 22 Nov 2026 09:01:00 GMT", now) == 60.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
