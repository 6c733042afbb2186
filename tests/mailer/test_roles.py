"""Admin and staff tokens: staff work the inbox, only admins see or change the tenant's settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mailer.auth import parse_tokens
from tests.support.inbox import ACME_TOKEN, TOKENS
from tests.support.tenants import TenantApp, tenant_app

STAFF_TOKEN = "acme-staff-token-5c1f0e"


def test_tokens_are_admins_unless_marked_staff() -> None:
    table = parse_tokens(f"acme:{ACME_TOKEN}, acme:{STAFF_TOKEN}:staff")
    assert table.holder_of(ACME_TOKEN) == ("acme", True)
    assert table.holder_of(STAFF_TOKEN) == ("acme", False)
    assert table.holder_of("nobody") is None


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[TenantApp]:
    async with tenant_app(tmp_path, tokens=f"{TOKENS}, acme:{STAFF_TOKEN}:staff") as built:
        yield built


def _client(app: TenantApp, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.app),
        base_url="http://mailer",
        headers={"Authorization": f"Bearer {token}"},
    )


SETTINGS_CALLS = [
    ("GET", "/api/tenants/acme/sending", None),
    ("PUT", "/api/tenants/acme/sending", {"mode": "shared"}),
    ("GET", "/api/tenants/acme/payments", None),
    ("GET", "/api/tenants/acme/domains", None),
    ("POST", "/api/tenants/acme/domains", {"domain": "acme.example"}),
    ("PUT", "/api/tenants/acme/templates/invoice.new", {"enabled": False}),
    ("POST", "/api/tenants/acme/sending/test", {"template": "invoice.new", "to": "a@acme.example"}),
]


@pytest.mark.parametrize(("method", "path", "body"), SETTINGS_CALLS)
async def test_staff_cannot_reach_the_settings(
    app: TenantApp, method: str, path: str, body: object
) -> None:
    async with _client(app, STAFF_TOKEN) as staff:
        answer = await staff.request(method, path, json=body)
    assert answer.status_code == 403 and "admin token" in answer.text


async def test_staff_work_the_inbox_and_admins_the_settings(app: TenantApp) -> None:
    async with _client(app, STAFF_TOKEN) as staff, _client(app, ACME_TOKEN) as admin:
        assert (await staff.get("/api/threads")).status_code == 200
        assert (await staff.get("/api/tenants/acme/templates")).status_code == 200
        assert (await admin.get("/api/tenants/acme/sending")).status_code == 200
        assert (
            await admin.put("/api/tenants/acme/sending", json={"mode": "shared"})
        ).status_code == 200


async def test_the_settings_page_refuses_a_staff_sign_in(app: TenantApp) -> None:
    transport = httpx.ASGITransport(app=app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mailer") as browser:
        browser.cookies.set("mailer_inbox", STAFF_TOKEN)
        assert (await browser.get("/settings")).status_code == 403
        assert (await browser.get("/inbox")).status_code == 200
