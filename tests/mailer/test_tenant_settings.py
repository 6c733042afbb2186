"""Tenant sending and payment settings over the API: write-only secrets, validation, isolation."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mailer import tenant_settings as service
from mailer.auth import INBOX_COOKIE
from mailer.secrets import SecretBox, SecretKeyError
from mailer.store.models import Base
from mailer.tenant_schemas import SendingSettingsInput
from tests.support.inbox import NOW
from tests.support.tenants import ACME_TOKEN, GLOBEX_TOKEN, TenantApp, key_entry, tenant_app

PASSWORD = "s3cret-SMTP-pa55word"
PRIVATE_KEY = "sk_live_PRIVATE_0123456789abcdef"
OWN_SMTP: dict[str, Any] = {
    "mode": "own_smtp",
    "smtp_host": "smtp.acme.example",
    "smtp_port": 587,
    "smtp_tls": "starttls_required",
    "smtp_username": "billing",
    "password": PASSWORD,
    "from_email": "billing@acme.example",
    "from_name": "Acme Billing",
}
PAYMENTS: dict[str, Any] = {
    "enabled": True,
    "gateway": "BNG",
    "public_key": "pk_live_public_0123",
    "private_key": PRIVATE_KEY,
    "staff_methods": ["echeck", "card", "card"],
    "portal_methods": [],
}
SENDING_URL, PAYMENTS_URL = "/api/tenants/acme/sending", "/api/tenants/acme/payments"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def tenants(
    request: pytest.FixtureRequest, tmp_path: Path, pinned_clock: None
) -> AsyncIterator[TenantApp]:
    async with tenant_app(tmp_path, backend=request.param) as built:
        yield built


@pytest.fixture
async def acme(tenants: TenantApp) -> AsyncIterator[httpx.AsyncClient]:
    async with tenants.client(ACME_TOKEN) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def messages(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {error["loc"][1]: error["msg"] for error in response.json()["detail"]}


async def stored_password(tenants: TenantApp) -> str | None:
    rows = await tenants.raw("SELECT smtp_password FROM tenant_sending WHERE tenant = 'acme'")
    return rows[0][0] if rows else None


async def test_defaults_before_anything_is_saved(acme: httpx.AsyncClient) -> None:
    sending = ok(await acme.get(SENDING_URL))
    assert sending["mode"] == "shared" and sending["on_auth_failure"] == "hold"
    assert (sending["password"], sending["password_set"], sending["broken"]) == (None, False, False)
    payments = ok(await acme.get(PAYMENTS_URL))
    assert payments["enabled"] is False and payments["private_key_set"] is False
    assert payments["staff_methods"] == payments["portal_methods"] == []


async def test_the_password_is_write_only_and_encrypted_at_rest(
    tenants: TenantApp, acme: httpx.AsyncClient
) -> None:
    saved = ok(await acme.put(SENDING_URL, json=OWN_SMTP))
    assert saved["password"] == "********" and saved["password_set"] is True
    assert saved["password_set_at"].startswith("2026-11-22T15:00")
    assert PASSWORD not in str(saved) and PASSWORD not in (await acme.get(SENDING_URL)).text
    token = await stored_password(tenants)
    assert token is not None and token.startswith("k1$") and PASSWORD not in token
    dump = await tenants.raw("SELECT * FROM tenant_sending")
    assert PASSWORD not in repr(dump)
    async with tenants.runtime.sessions() as session:
        config = await service.sending_config(session, tenants.box, "acme")
    assert config is not None and config.smtp_password is not None
    assert config.smtp_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(config) and config.sender_email == "billing@acme.example"
    smtp = config.smtp_config(timeout=5.0)
    assert smtp is not None and (smtp.host, smtp.port, smtp.tls) == (
        "smtp.acme.example", 587, "starttls_required"
    )  # fmt: skip
    assert PASSWORD not in repr(smtp)


async def test_absent_or_masked_keeps_null_clears_new_replaces(
    tenants: TenantApp, acme: httpx.AsyncClient
) -> None:
    first = ok(await acme.put(SENDING_URL, json=OWN_SMTP))
    token = await stored_password(tenants)
    round_trip = ok(await acme.put(SENDING_URL, json=first | {"from_name": "Acme AR"}))
    assert round_trip["password_set"] and round_trip["from_name"] == "Acme AR"
    assert await stored_password(tenants) == token
    without = {k: v for k, v in OWN_SMTP.items() if k != "password"}
    assert ok(await acme.put(SENDING_URL, json=without))["password_set"]
    assert await stored_password(tenants) == token
    ok(await acme.put(SENDING_URL, json=OWN_SMTP | {"password": "another-one"}))
    assert await stored_password(tenants) not in (None, token)
    cleared = ok(await acme.put(SENDING_URL, json={"mode": "shared", "password": None}))
    assert (cleared["password"], cleared["password_set"], cleared["password_set_at"]) == (
        None, False, None
    )  # fmt: skip
    assert await stored_password(tenants) is None


async def test_set_at_moves_only_when_the_secret_changes(tenants: TenantApp) -> None:
    body = SendingSettingsInput.model_validate(OWN_SMTP)
    later = NOW + timedelta(days=3)
    async with tenants.runtime.sessions() as session:
        await service.put_sending(session, tenants.box, "acme", body, NOW)
        kept = SendingSettingsInput.model_validate(OWN_SMTP | {"password": "********"})
        view = await service.put_sending(session, tenants.box, "acme", kept, later)
        assert (view.password_set_at, view.updated_at) == (NOW, later)
        replaced = SendingSettingsInput.model_validate(OWN_SMTP | {"password": "new-pass"})
        view = await service.put_sending(session, tenants.box, "acme", replaced, later)
        assert view.password_set_at == later


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"smtp_host": None}, "smtp_host", "required"),
        ({"smtp_port": None}, "smtp_port", "required"),
        ({"smtp_tls": None}, "smtp_tls", "required"),
        ({"from_email": None}, "from_email", "required"),
        ({"smtp_tls": "none"}, "smtp_tls", "implicit"),
        ({"smtp_tls": "starttls"}, "smtp_tls", "implicit"),
        ({"smtp_port": 0}, "smtp_port", "greater than or equal to 1"),
        ({"smtp_port": 70000}, "smtp_port", "less than or equal"),
        ({"smtp_host": "smtp host!"}, "smtp_host", "host name"),
        ({"smtp_username": None}, "smtp_username", "required with a password"),
        ({"from_email": "not-an-address"}, "from_email", "email"),
        ({"from_name": "Acme\r\nBcc: victim@example.org"}, "from_name", "single line"),
        ({"password": ""}, "password", "must not be empty"),
        ({"password": "x" * 5000}, "password", "too long"),
        ({"mode": "carrier_pigeon"}, "mode", "shared"),
        ({"on_auth_failure": "retry"}, "on_auth_failure", "hold"),
    ],
)  # fmt: skip
async def test_invalid_sending_settings_are_422_naming_the_field(
    tenants: TenantApp, acme: httpx.AsyncClient, change: dict[str, Any], field: str, words: str
) -> None:
    response = await acme.put(SENDING_URL, json=OWN_SMTP | change)
    found = messages(response)
    assert field in found and words in found[field], found
    assert PASSWORD not in response.text
    assert await stored_password(tenants) is None


async def test_a_username_needs_a_password_and_custom_domains_need_their_address(
    acme: httpx.AsyncClient,
) -> None:
    no_password = {k: v for k, v in OWN_SMTP.items() if k != "password"}
    assert "password" in messages(await acme.put(SENDING_URL, json=no_password))
    masked_but_unset = OWN_SMTP | {"password": "********"}
    assert "password" in messages(await acme.put(SENDING_URL, json=masked_but_unset))
    shared = {"mode": "shared", "custom_domain": "Firm.Example.", "from_email": "b@other.example"}
    assert "at firm.example" in messages(await acme.put(SENDING_URL, json=shared))["from_email"]
    saved = ok(await acme.put(SENDING_URL, json=shared | {"from_email": "billing@firm.example"}))
    assert saved["custom_domain"] == "firm.example" and saved["mode"] == "shared"
    plain_shared = ok(await acme.put(SENDING_URL, json={"mode": "shared"}))
    assert plain_shared["custom_domain"] is None and plain_shared["from_email"] is None


async def test_secrets_stay_out_of_logs_and_errors(
    tenants: TenantApp, acme: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = [
        await acme.put(SENDING_URL, json=OWN_SMTP | {"smtp_port": "x"}),
        await acme.put(SENDING_URL, json=OWN_SMTP | {"smtp_username": None}),
        await acme.put(SENDING_URL, json=OWN_SMTP),
        await acme.put(PAYMENTS_URL, json=PAYMENTS | {"staff_methods": ["bitcoin"]}),
        await acme.put(PAYMENTS_URL, json=PAYMENTS | {"gateway": None}),
        await acme.put(PAYMENTS_URL, json=PAYMENTS),
        await acme.get(SENDING_URL),
        await acme.get(PAYMENTS_URL),
    ]
    assert [r.status_code for r in responses] == [422, 422, 200, 422, 422, 200, 200, 200]
    for response in responses:
        assert PASSWORD not in response.text and PRIVATE_KEY not in response.text
    assert "saved sending settings" in caplog.text
    assert PASSWORD not in caplog.text and PRIVATE_KEY not in caplog.text


async def test_without_a_secret_key_secrets_are_refused_never_stored_in_plaintext(
    tmp_path: Path, pinned_clock: None
) -> None:
    async with tenant_app(tmp_path, secret_key=None) as tenants, tenants.client(ACME_TOKEN) as acme:
        refused = await acme.put(SENDING_URL, json=OWN_SMTP)
        assert "MAILER_SECRET_KEY" in messages(refused)["password"]
        assert PASSWORD not in refused.text
        assert await tenants.raw("SELECT * FROM tenant_sending") == []
        key_refused = await acme.put(PAYMENTS_URL, json=PAYMENTS)
        assert "MAILER_SECRET_KEY" in messages(key_refused)["private_key"]
        assert ok(await acme.put(SENDING_URL, json={"mode": "shared"}))["mode"] == "shared"


async def test_a_wrong_key_fails_loudly_and_never_yields_garbage(tenants: TenantApp) -> None:
    async with tenants.client(ACME_TOKEN) as acme:
        ok(await acme.put(SENDING_URL, json=OWN_SMTP))
    async with tenants.runtime.sessions() as session:
        for box in (SecretBox.parse(key_entry("k1", 7)), SecretBox.parse(key_entry("k2", 2)), None):
            with pytest.raises(SecretKeyError) as refused:
                await service.sending_config(session, box, "acme")
            assert PASSWORD not in str(refused.value)


async def test_rotation_reencrypts_stored_secrets(tenants: TenantApp) -> None:
    async with tenants.client(ACME_TOKEN) as acme:
        ok(await acme.put(SENDING_URL, json=OWN_SMTP))
        ok(await acme.put(PAYMENTS_URL, json=PAYMENTS))
    rotated = SecretBox.parse(f"{key_entry('k2', 2)},{key_entry('k1', 1)}")
    async with tenants.runtime.sessions() as session:
        assert await service.rotate_secrets(session, rotated) == 2
        assert await service.rotate_secrets(session, rotated) == 0
        only_new = SecretBox.parse(key_entry("k2", 2))
        sending = await service.sending_config(session, only_new, "acme")
        payments = await service.payment_config(session, only_new, "acme")
    assert sending is not None and sending.smtp_password is not None
    assert sending.smtp_password.get_secret_value() == PASSWORD
    assert payments is not None and payments.private_key is not None
    assert payments.private_key.get_secret_value() == PRIVATE_KEY
    assert (await stored_password(tenants) or "").startswith("k2$")


async def test_another_tenants_settings_are_out_of_reach(tenants: TenantApp) -> None:
    async with tenants.client(GLOBEX_TOKEN) as globex:
        ok(await globex.put("/api/tenants/globex/sending", json=OWN_SMTP))
    async with tenants.client(ACME_TOKEN) as acme:
        for method, url in [("GET", "/api/tenants/globex/sending"),
                            ("PUT", "/api/tenants/globex/sending"),
                            ("GET", "/api/tenants/globex/payments"),
                            ("PUT", "/api/tenants/globex/payments")]:  # fmt: skip
            body = {"mode": "shared", "password": None} if method == "PUT" else None
            refused = await acme.request(method, url, json=body)
            assert refused.status_code == 403, refused.text
            assert "smtp.acme.example" not in refused.text and "billing" not in refused.text
        assert ok(await acme.get(SENDING_URL))["mode"] == "shared"
    async with tenants.client() as anonymous:
        assert (await anonymous.get("/api/tenants/globex/sending")).status_code == 401
    async with tenants.client(cookies={INBOX_COOKIE: ACME_TOKEN}) as cookie_only:
        assert (await cookie_only.get(SENDING_URL)).status_code == 200
        no_csrf = await cookie_only.put(SENDING_URL, json={"mode": "shared"})
        assert no_csrf.status_code == 403
    async with tenants.runtime.sessions() as session:
        config = await service.sending_config(session, tenants.box, "globex")
    assert config is not None and config.mode == "own_smtp"


async def test_payment_settings_rules(tenants: TenantApp, acme: httpx.AsyncClient) -> None:
    none_on = messages(await acme.put(PAYMENTS_URL, json=PAYMENTS | {"staff_methods": []}))
    assert "at least one payment method" in none_on["enabled"]
    missing = messages(
        await acme.put(PAYMENTS_URL, json={"enabled": True, "portal_methods": ["card"]})
    )
    assert {"gateway", "public_key", "private_key"} <= set(missing)
    unknown = messages(await acme.put(PAYMENTS_URL, json=PAYMENTS | {"portal_methods": ["cash"]}))
    assert "'card' or 'echeck'" in unknown["portal_methods"]
    saved = ok(await acme.put(PAYMENTS_URL, json=PAYMENTS))
    assert saved["enabled"] and saved["staff_methods"] == ["card", "echeck"]
    assert (saved["private_key"], saved["private_key_set"]) == ("********", True)
    assert saved["public_key"] == "pk_live_public_0123"
    rows = await tenants.raw("SELECT private_key FROM tenant_payments")
    assert rows[0][0].startswith("k1$") and PRIVATE_KEY not in repr(rows)
    off = ok(await acme.put(PAYMENTS_URL, json=saved | {"enabled": False, "staff_methods": []}))
    assert off["enabled"] is False and off["private_key_set"] is True
    back_on = ok(
        await acme.put(PAYMENTS_URL, json=off | {"enabled": True, "portal_methods": ["echeck"]})
    )
    assert back_on["enabled"] and back_on["portal_methods"] == ["echeck"]
    async with tenants.runtime.sessions() as session:
        config = await service.payment_config(session, tenants.box, "acme")
    assert config is not None and config.portal_methods == ("echeck",)
    assert PRIVATE_KEY not in repr(config)


async def test_broken_login_and_health_checks(tenants: TenantApp, acme: httpx.AsyncClient) -> None:
    async with tenants.runtime.sessions() as session:
        assert not await service.mark_broken(session, "acme", "535 5.7.8", NOW)
    ok(await acme.put(SENDING_URL, json=OWN_SMTP | {"on_auth_failure": "fallback_shared"}))
    async with tenants.runtime.sessions() as session:
        assert await service.mark_broken(session, "acme", "535 5.7.8 authentication failed", NOW)
        await session.commit()
    broken = ok(await acme.get(SENDING_URL))
    assert broken["broken"] and broken["broken_reason"] == "535 5.7.8 authentication failed"
    async with tenants.runtime.sessions() as session:
        config = await service.sending_config(session, tenants.box, "acme")
    assert config is not None and config.broken and config.on_auth_failure == "fallback_shared"
    renamed = ok(await acme.put(SENDING_URL, json=broken | {"from_name": "Acme"}))
    assert renamed["broken"], "a change that does not touch the login keeps the mark"
    fixed = ok(await acme.put(SENDING_URL, json=renamed | {"password": "the-right-one"}))
    assert not fixed["broken"] and fixed["broken_at"] is None
    async with tenants.runtime.sessions() as session:
        await service.mark_broken(session, "acme", "535", NOW)
        assert await service.record_health(session, "acme", False, "timeout", NOW)
        await session.commit()
    failed = ok(await acme.get(SENDING_URL))
    assert failed["broken"] and failed["last_check_ok"] is False
    assert failed["last_check_detail"] == "timeout"
    async with tenants.runtime.sessions() as session:
        assert await service.record_health(session, "acme", True, "250 OK", NOW)
        await session.commit()
    healthy = ok(await acme.get(SENDING_URL))
    assert healthy["last_check_ok"] is True and not healthy["broken"]


async def test_open_mode_uses_the_path_tenant(tmp_path: Path, pinned_clock: None) -> None:
    async with tenant_app(tmp_path, tokens=None) as tenants, tenants.client() as anyone:
        ok(await anyone.put("/api/tenants/globex/sending", json=OWN_SMTP))
        assert ok(await anyone.get("/api/tenants/globex/sending"))["password_set"]
        assert ok(await anyone.get(SENDING_URL))["password_set"] is False
        too_long = await anyone.get(f"/api/tenants/{'a' * 101}/sending")
        assert too_long.status_code == 422


async def test_the_migration_matches_the_models(tenants: TenantApp) -> None:
    async with tenants.runtime.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert [d for d in differences if "tenant_" in repr(d)] == []
