"""The settings, customer and invoice routes: scoped to the caller's firm, 4xx for bad input."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.api_invoices import invoices_router
from billing.api_support import install_error_handlers
from mailer.auth import Authenticator, parse_tokens
from mailer.pdf_pool import PdfRenderer
from tests.billing.conftest import FakeClock

Sessions = async_sessionmaker[AsyncSession]
ADMIN = {"Authorization": "Bearer tok-acme"}
STAFF = {"Authorization": "Bearer tok-staff"}
OTHER = {"Authorization": "Bearer tok-other"}


@pytest.fixture
async def client(
    sessions: Sessions, clock: FakeClock, pdfs: PdfRenderer
) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    Authenticator(parse_tokens("acme:tok-acme,acme:tok-staff:staff,other:tok-other")).install(app)
    install_error_handlers(app)
    app.include_router(invoices_router(sessions, clock, lambda: pdfs))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def created_invoice(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    customer = await client.post(
        "/api/customers",
        json={"name": "Customer 1", "email": "customer1@example.org", "locale": "fr"},
        headers=ADMIN,
    )
    assert customer.status_code == 201, customer.text
    body = {
        "customer_id": customer.json()["id"],
        "lines": [{"description": "Tenue de livres", "quantity": "2", "unit_price": "99.95"}],
        **fields,
    }
    invoice = await client.post("/api/invoices", json=body, headers=ADMIN)
    assert invoice.status_code == 201, invoice.text
    result: dict[str, Any] = invoice.json()
    return result


async def test_firm_settings_are_for_admins_of_that_firm(client: httpx.AsyncClient) -> None:
    body = {"company_name": "Acme", "auto_send_invoice": True, "timezone": "Europe/Paris"}
    saved = await client.put("/api/billing/settings", json=body, headers=ADMIN)
    assert saved.status_code == 200, saved.text
    assert saved.json()["auto_send_invoice"] is True
    assert saved.json()["auto_send_grace_seconds"] == 300

    assert (await client.put("/api/billing/settings", json=body, headers=STAFF)).status_code == 403
    other = await client.get("/api/billing/settings", headers=OTHER)
    assert other.json()["company_name"] == "other"  # its own defaults, not acme's
    bad_zone = await client.put(
        "/api/billing/settings", json=body | {"timezone": "Mars/Olympus"}, headers=ADMIN
    )
    assert bad_zone.status_code == 422
    assert "Mars/Olympus" in bad_zone.json()["detail"]


async def test_an_invoice_goes_from_draft_to_issued_to_void(client: httpx.AsyncClient) -> None:
    draft = await created_invoice(client)
    assert (draft["state"], draft["number"], draft["total"]) == ("draft", None, "199.90")

    issued = await client.post(f"/api/invoices/{draft['id']}/issue", headers=STAFF)
    assert issued.status_code == 200, issued.text
    assert (issued.json()["state"], issued.json()["number"]) == ("issued", "INV-0001")

    again = await client.post(f"/api/invoices/{draft['id']}/issue", headers=STAFF)
    assert again.status_code == 409
    assert "already issued" in again.json()["detail"]

    sent = await client.post(f"/api/invoices/{draft['id']}/send", headers=STAFF)
    assert sent.status_code == 200
    assert sent.json()["status"] == "queued"
    assert sent.json()["invoice"]["sent_by"] == "staff"

    voided = await client.post(f"/api/invoices/{draft['id']}/void", headers=STAFF)
    assert voided.json()["state"] == "void"
    listed = await client.get("/api/invoices", params={"state": "void"}, headers=STAFF)
    assert [invoice["id"] for invoice in listed.json()] == [draft["id"]]


async def test_other_firms_see_nothing_and_bad_input_is_a_clear_422(
    client: httpx.AsyncClient,
) -> None:
    draft = await created_invoice(client)
    for method, path in [
        ("GET", f"/api/invoices/{draft['id']}"),
        ("POST", f"/api/invoices/{draft['id']}/issue"),
        ("GET", f"/api/customers/{draft['customer_id']}"),
        ("GET", f"/api/invoices/{draft['id']}/pdf"),
    ]:
        response = await client.request(method, path, headers=OTHER)
        assert response.status_code == 404, (path, response.text)

    too_precise = await client.post(
        "/api/invoices",
        json={"customer_id": draft["customer_id"], "subtotal": "10.005"},
        headers=ADMIN,
    )
    assert too_precise.status_code == 422
    assert "more decimals than EUR allows" in too_precise.json()["detail"]
    both = await client.post(
        "/api/invoices",
        json={
            "customer_id": draft["customer_id"],
            "subtotal": "10",
            "lines": [{"description": "x", "unit_price": "10"}],
        },
        headers=ADMIN,
    )
    assert both.status_code == 422
    bad_email = await client.post(
        "/api/customers", json={"name": "X", "email": "not an address"}, headers=ADMIN
    )
    assert bad_email.status_code == 422
    bad_currency = await client.post(
        "/api/customers", json={"name": "X", "currency": "XYZ"}, headers=ADMIN
    )
    assert bad_currency.status_code == 422
    assert "unknown currency" in bad_currency.json()["detail"]
    no_token = await client.get("/api/invoices")
    assert no_token.status_code == 401


async def test_a_new_address_clears_the_undeliverable_flag(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    draft = await created_invoice(client)
    from billing.models import Customer

    async with sessions() as session, session.begin():
        customer = await session.get(Customer, draft["customer_id"])
        assert customer is not None
        customer.email_undeliverable, customer.email_undeliverable_reason = True, "hard bounce"

    flagged = await client.get(f"/api/customers/{draft['customer_id']}", headers=STAFF)
    assert flagged.json()["email_undeliverable"] is True
    changed = await client.patch(
        f"/api/customers/{draft['customer_id']}",
        json={"email": "new@example.org"},
        headers=STAFF,
    )
    assert changed.json()["email_undeliverable"] is False
    assert changed.json()["email"] == "new@example.org"


async def test_the_pdf_download_is_the_invoice_in_the_customers_language(
    client: httpx.AsyncClient,
) -> None:
    draft = await created_invoice(client)
    await client.post(f"/api/invoices/{draft['id']}/issue", headers=STAFF)

    pdf = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=STAFF)

    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert "INV-0001" in pdf.headers["content-disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "INV-0001" in text
    assert "Facture" in text
    assert "199,90" in text  # French number formatting


async def test_without_a_pdf_renderer_the_download_says_so(
    sessions: Sessions, clock: FakeClock
) -> None:
    app = FastAPI()
    Authenticator(parse_tokens(None)).install(app)  # open mode: ?tenant= names the firm
    install_error_handlers(app)
    app.include_router(invoices_router(sessions, clock, lambda: None))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        response = await http.get("/api/invoices/1/pdf", params={"tenant": "acme"})
    assert response.status_code == 503


async def test_ids_beyond_the_stores_integers_are_refused_not_looked_up(
    client: httpx.AsyncClient,
) -> None:
    huge = 2**40
    assert (await client.get(f"/api/invoices/{huge}", headers=STAFF)).status_code == 422
    body = {"customer_id": huge, "subtotal": "10"}
    assert (await client.post("/api/invoices", json=body, headers=ADMIN)).status_code == 422
