"""`mailer rotate-secrets`: every stored secret moves under the current key and still decrypts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer import domain_service, tenant_settings
from mailer.cli import main
from mailer.secrets import SecretBox, generate_secret_key
from mailer.store.database import create_engine, migrate, session_factory
from mailer.store.domain_models import DkimKey
from mailer.tenant_schemas import SendingSettingsInput

NOW = datetime(2026, 11, 22, tzinfo=UTC)


async def _store_secrets(url: str, box: SecretBox) -> None:
    engine = create_engine(url)
    await migrate(engine)
    async with session_factory(engine)() as session:
        body = SendingSettingsInput.model_validate({
            "mode": "own_smtp", "smtp_host": "smtp.acme.example", "smtp_port": 587,
            "smtp_tls": "starttls_required", "smtp_username": "acme", "password": "s3cret",
            "from_email": "billing@acme.example"})  # fmt: skip
        await tenant_settings.put_sending(session, box, "acme", body, NOW)
        await domain_service.add_domain(session, box, "acme", "acme.example", now=NOW)
    await engine.dispose()


async def _read_back(url: str, box: SecretBox) -> tuple[str, str]:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        config = await tenant_settings.sending_config(session, box, "acme")
        key = (await session.execute(select(DkimKey))).scalar_one()
    await engine.dispose()
    assert config is not None and config.smtp_password is not None
    assert key.private_key is not None
    return config.smtp_password.get_secret_value(), key.private_key


def test_rotation_reencrypts_passwords_and_dkim_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}"
    old, new = generate_secret_key("k1"), generate_secret_key("k2")
    asyncio.run(_store_secrets(url, SecretBox.parse(old)))
    monkeypatch.setenv("MAILER_DATABASE_URL", url)
    monkeypatch.setenv("MAILER_SECRET_KEY", f"{new},{old}")
    assert main(["rotate-secrets"]) == 0
    assert "re-encrypted 1 tenant secrets and 1 DKIM keys under key k2" in capsys.readouterr().out
    password, key_token = asyncio.run(_read_back(url, SecretBox.parse(new)))
    assert password == "s3cret" and key_token.startswith("k2$")
