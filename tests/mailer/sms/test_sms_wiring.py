"""Building the SMS side from settings, and the local JSON Lines outbox it defaults to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mailer.errors import ConfigurationError
from mailer.settings import Settings
from mailer.sms.outbox import SmsOutboxProvider
from mailer.sms.provider import SmsOutcome, TwilioProvider
from mailer.sms.wiring import build_sms_provider, build_sms_side
from mailer.store.database import create_engine, session_factory
from tests.support.pipeline import CollectingPublisher


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)


async def test_without_a_provider_url_sms_go_to_the_local_outbox(tmp_path: Path) -> None:
    provider = build_sms_provider(settings(tmp_path))
    assert isinstance(provider, SmsOutboxProvider)
    first = await provider.send("+4512345678", "Hej €", idempotency_key="k1")
    second = await provider.send("+4512345679", "two\nlines", idempotency_key="k2")
    assert first.outcome is second.outcome is SmsOutcome.ACCEPTED
    lines = (tmp_path / "sms-outbox.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["to"], r["body"], r["idempotency_key"]) for r in records] == [
        ("+4512345678", "Hej €", "k1"),
        ("+4512345679", "two\nlines", "k2"),
    ]
    assert records[0]["id"] == first.provider_id


async def test_an_unwritable_outbox_is_a_temporary_failure(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    provider = SmsOutboxProvider(tmp_path / "blocker" / "sms-outbox.jsonl")
    result = await provider.send("+4512345678", "x", idempotency_key="k")
    assert result.outcome is SmsOutcome.TEMPORARY and "outbox write failed" in (result.detail or "")


async def test_a_provider_url_builds_the_twilio_adapter(tmp_path: Path) -> None:
    configured = settings(
        tmp_path,
        sms_provider_url="https://api.twilio.example",
        sms_account_sid="AC123",
        sms_auth_token="tok",
        sms_from="+4570000000",
    )
    provider = build_sms_provider(configured)
    assert isinstance(provider, TwilioProvider) and "tok" not in repr(provider)
    await provider.aclose()
    with pytest.raises(ConfigurationError, match="SID, _AUTH_TOKEN and _FROM"):
        build_sms_provider(settings(tmp_path, sms_provider_url="https://api.twilio.example"))


async def test_build_sms_side_gives_a_dispatcher_and_its_close(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        dispatcher, close = build_sms_side(
            settings(tmp_path), session_factory(engine), CollectingPublisher()
        )
        assert dispatcher.worker_id
        await close()
    finally:
        await engine.dispose()
