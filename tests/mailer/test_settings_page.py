"""The settings page over HTTP: sign-in cookie, CSRF, write-only secrets, readable errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailer import tenant_settings as service
from mailer.auth import csrf_token
from tests.support.tenants import ACME_TOKEN, GLOBEX_TOKEN, TenantApp, tenant_app

PASSWORD = "page-S3CRET-smtp-password"
PRIVATE_KEY = "sk_page_PRIVATE_key_987"
SENDING: dict[str, str] = {
    "mode": "own_smtp",
    "smtp_host": "smtp.acme.example",
    "smtp_port": "465",
    "smtp_tls": "implicit",
    "smtp_username": "billing",
    "password": PASSWORD,
    "from_email": "billing@acme.example",
    "from_name": "Acme <Billing>",
    "on_auth_failure": "hold",
}


@pytest.fixture
async def tenants(tmp_path: Path, pinned_clock: None) -> AsyncIterator[TenantApp]:
    async with tenant_app(tmp_path) as built:
        yield built


@pytest.fixture
async def admin(tenants: TenantApp) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in as acme's admin through the settings page's own form."""
    async with tenants.client() as client:
        signed_in = await client.post("/settings/login", data={"token": ACME_TOKEN})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/settings"
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def post(client: httpx.AsyncClient, path: str, form: dict[str, Any]) -> httpx.Response:
    page = await client.get("/settings")
    return await client.post(path, data=form | {"csrf": csrf_of(page.text)})


async def test_sign_in_then_the_page_shows_both_sections(tenants: TenantApp) -> None:
    async with tenants.client() as client:
        first = await client.get("/settings")
        assert first.status_code == 401 and 'action="/settings/login"' in first.text
        policy = first.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        wrong = await client.post("/settings/login", data={"token": "guess-0123456789"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        assert (await client.post("/settings/login", data={"token": ACME_TOKEN})).status_code == 303
        page = await client.get("/settings")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "How your email is sent" in page.text and "Payment processing" in page.text
    assert ACME_TOKEN not in page.text and "?tenant=" not in page.text


async def test_saving_needs_the_csrf_token_of_the_same_cookie(
    tenants: TenantApp, admin: httpx.AsyncClient
) -> None:
    for token in (None, "0" * 64, csrf_token(GLOBEX_TOKEN)):
        form = SENDING | ({"csrf": token} if token else {})
        refused = await admin.post("/settings/sending", data=form)
        assert refused.status_code == 403 and "expired" in refused.text
    assert await tenants.raw("SELECT * FROM tenant_sending") == []
    saved = await post(admin, "/settings/sending", SENDING)
    assert saved.status_code == 303 and saved.headers["location"] == "/settings?done=sending"


async def test_the_page_never_shows_the_password(
    tenants: TenantApp, admin: httpx.AsyncClient
) -> None:
    await post(admin, "/settings/sending", SENDING)
    page = (await admin.get("/settings?done=sending")).text
    assert "Sending settings saved." in page and PASSWORD not in page
    assert "Set on 22 Nov 2026, 15:00 UTC" in page and "Acme &lt;Billing&gt;" in page
    assert 'value="smtp.acme.example"' in page and "Remove it" in page
    async with tenants.runtime.sessions() as session:
        config = await service.sending_config(session, tenants.box, "acme")
    assert config is not None and config.smtp_password is not None
    assert config.smtp_password.get_secret_value() == PASSWORD


async def test_empty_keeps_the_password_and_the_checkbox_removes_it(
    tenants: TenantApp, admin: httpx.AsyncClient
) -> None:
    await post(admin, "/settings/sending", SENDING)
    token = (await tenants.raw("SELECT smtp_password FROM tenant_sending"))[0][0]
    kept = await post(admin, "/settings/sending", SENDING | {"password": "", "from_name": "AR"})
    assert kept.status_code == 303
    assert (await tenants.raw("SELECT smtp_password FROM tenant_sending"))[0][0] == token
    both = await post(admin, "/settings/sending", SENDING | {"remove_password": "on"})
    assert both.status_code == 422 and "either replace it or remove it" in both.text
    shared = {"mode": "shared", "password": "", "remove_password": "on"}
    assert (await post(admin, "/settings/sending", shared)).status_code == 303
    assert (await tenants.raw("SELECT smtp_password FROM tenant_sending"))[0][0] is None
    assert "Not set." in (await admin.get("/settings")).text


async def test_errors_are_readable_keep_the_typing_and_never_echo_secrets(
    tenants: TenantApp, admin: httpx.AsyncClient
) -> None:
    bad = SENDING | {"smtp_port": "lots", "smtp_host": "smtp.typed.example"}
    response = await post(admin, "/settings/sending", bad)
    assert response.status_code == 422 and "Nothing was saved" in response.text
    assert "Port" in response.text and 'value="smtp.typed.example"' in response.text
    assert PASSWORD not in response.text
    assert await tenants.raw("SELECT * FROM tenant_sending") == []


async def test_payment_settings_through_the_page(
    tenants: TenantApp, admin: httpx.AsyncClient
) -> None:
    form = {"enabled": "on", "gateway": "BNG", "public_key": "pk_1", "private_key": PRIVATE_KEY}
    none_on = await post(admin, "/settings/payments", form)
    assert none_on.status_code == 422 and "at least one payment method" in none_on.text
    assert PRIVATE_KEY not in none_on.text and 'value="BNG"' in none_on.text
    saved = await post(admin, "/settings/payments", form | {"portal_card": "on"})
    assert saved.status_code == 303 and saved.headers["location"] == "/settings?done=payments"
    page = (await admin.get("/settings?done=payments")).text
    assert "Payment settings saved." in page and PRIVATE_KEY not in page
    assert 'name="portal_card" checked' in page and 'name="staff_card" >' in page
    async with tenants.runtime.sessions() as session:
        config = await service.payment_config(session, tenants.box, "acme")
    assert config is not None and config.enabled and config.portal_methods == ("card",)
    rows = await tenants.raw("SELECT private_key FROM tenant_payments")
    assert PRIVATE_KEY not in repr(rows)


async def test_other_tenants_and_missing_keys(tmp_path: Path, pinned_clock: None) -> None:
    async with tenant_app(tmp_path, secret_key=None) as tenants, tenants.client() as client:
        await client.post("/settings/login", data={"token": ACME_TOKEN})
        other = await client.get("/settings?tenant=globex")
        assert other.status_code == 403 and "another firm" in other.text
        page = await client.get("/settings")
        assert "MAILER_SECRET_KEY" in page.text
        refused = await client.post(
            "/settings/sending", data=SENDING | {"csrf": csrf_of(page.text)}
        )
        assert refused.status_code == 422 and "MAILER_SECRET_KEY" in refused.text
        assert PASSWORD not in refused.text
        assert await tenants.raw("SELECT * FROM tenant_sending") == []


async def test_open_mode_names_the_firm(tmp_path: Path, pinned_clock: None) -> None:
    async with tenant_app(tmp_path, tokens=None) as tenants, tenants.client() as client:
        choose = await client.get("/settings")
        assert choose.status_code == 200 and "Which firm" in choose.text
        page = await client.get("/settings?tenant=acme")
        assert 'action="/settings/sending?tenant=acme"' in page.text
        saved = await client.post(
            "/settings/sending?tenant=acme", data=SENDING | {"csrf": csrf_of(page.text)}
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/settings?tenant=acme&done=sending"
