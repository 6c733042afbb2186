"""The HTTP API of reminders, statements, estimates and payment plans: answers, errors, tenants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import invoicing
from billing.api_documents import documents_router
from billing.api_support import install_error_handlers
from billing.customers import create_customer
from billing.schemas import CustomerInput, InvoiceInput
from mailer.auth import Authenticator, parse_tokens
from mailer.events import SEND_SUBJECT, SendEvent
from tests.billing.conftest import TENANT, FakeClock, queued

Sessions = async_sessionmaker[AsyncSession]
OPEN = {"tenant": TENANT}
TOKENS = "acme:tok-a,other:tok-b,acme:tok-staff:staff"


def app_for(sessions: Sessions, clock: FakeClock, tokens: str | None = None) -> FastAPI:
    app = FastAPI()
    Authenticator(parse_tokens(tokens)).install(app)
    install_error_handlers(app)
    app.include_router(documents_router(sessions, clock))
    return app


@pytest.fixture
async def client(sessions: Sessions, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_for(sessions, clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", params=OPEN) as c:
        yield c


@pytest.fixture
async def guarded(sessions: Sessions, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_for(sessions, clock, TOKENS))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def customer(sessions: Sessions, clock: FakeClock, tenant: str = TENANT) -> int:
    async with sessions() as session, session.begin():
        body = CustomerInput(name="Customer 5", email="customer5@example.org", currency="EUR")
        return (await create_customer(session, tenant, body, clock())).id


async def issued_invoice(sessions: Sessions, clock: FakeClock, amount: str = "540.00") -> int:
    customer_id = await customer(sessions, clock)
    async with sessions() as session, session.begin():
        body = InvoiceInput(customer_id=customer_id, subtotal=Decimal(amount))
        invoice = await invoicing.create_invoice(session, TENANT, body, clock())
        await invoicing.issue_invoice(session, TENANT, invoice.id, clock())
        return invoice.id


def estimate_body(customer_id: int, **fields: Any) -> dict[str, Any]:
    lines = [{"description": "Audit", "quantity": "2", "unit_price": "125.50"}]
    return {"customer_id": customer_id, "lines": lines, "tax_rate": "10", **fields}


def detail(response: httpx.Response) -> str:
    return str(response.json()["detail"])


async def test_reminder_settings_round_trip_and_a_bad_cadence_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    body = {"days_before": [3, 7], "days_after": [1, 14], "thank_you_enabled": True}
    saved = await client.put("/api/billing/reminders", json=body)
    refused = await client.put("/api/billing/reminders", json={"days_after": [5, 5]})
    out_of_range = await client.put("/api/billing/reminders", json={"days_before": [0]})
    unknown = await client.put("/api/billing/reminders", json={"every": "day"})
    shown = await client.get("/api/billing/reminders")

    assert saved.status_code == 200, saved.text
    assert shown.json()["days_before"] == [7, 3]
    assert shown.json()["days_after"] == [1, 14]
    assert (shown.json()["thank_you_enabled"], shown.json()["receipts_enabled"]) == (True, True)
    assert refused.status_code == 422 and "lists 5 twice" in detail(refused)
    assert out_of_range.status_code == 422 and "1 to 365" in detail(out_of_range)
    assert unknown.status_code == 422


async def test_reminder_settings_are_for_admins_of_their_own_firm(
    guarded: httpx.AsyncClient,
) -> None:
    staff = await guarded.get("/api/billing/reminders", headers=bearer("tok-staff"))
    admin = await guarded.put(
        "/api/billing/reminders", json={"days_after": [3]}, headers=bearer("tok-a")
    )
    elsewhere = await guarded.get(
        "/api/billing/reminders", params={"tenant": "acme"}, headers=bearer("tok-b")
    )
    theirs = await guarded.get("/api/billing/reminders", headers=bearer("tok-b"))

    assert staff.status_code == 403
    assert admin.status_code == 200 and admin.json()["tenant"] == "acme"
    assert elsewhere.status_code == 403
    assert theirs.json()["days_after"] == []


async def test_a_statement_is_shown_and_on_request_sent(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    invoice_id = await issued_invoice(sessions, clock)
    async with sessions() as session:
        customer_id = (await invoicing.get_invoice(session, TENANT, invoice_id)).customer_id
    period = {"period_start": "2026-11-01", "period_end": "2026-11-30"}
    url = f"/api/customers/{customer_id}/statements"

    shown = await client.post(url, json=period)
    nothing_sent = await client.get(url)
    sent = await client.post(url, json={**period, "send": True})
    listed = await client.get(url)

    assert shown.status_code == 200, shown.text
    assert shown.json()["sent"] is None
    assert nothing_sent.json() == []
    assert (shown.json()["opening_balance"], shown.json()["closing_balance"]) == ("0.00", "540.00")
    assert shown.json()["entries"] == [
        {
            "date": "2026-11-02",
            "description": "Invoice INV-0001",
            "amount": "540.00",
            "balance": "540.00",
        }
    ]
    assert sent.json()["sent"]["status"] == "queued"
    [email] = await queued(sessions, SEND_SUBJECT)
    assert SendEvent.model_validate(email).id == sent.json()["sent"]["request_id"]
    assert [(row["source"], row["closing_balance"]) for row in listed.json()] == [
        ("request", "540.00")
    ]


async def test_bad_statement_requests_are_refused_clearly(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    known = await customer(sessions, clock)
    november = {"period_start": "2026-11-01", "period_end": "2026-11-30"}
    cases: list[tuple[object, dict[str, str], int, str]] = [
        (known, {"period_start": "2026-11-30", "period_end": "2026-11-01"}, 422, "after its end"),
        (known, {**november, "currency": "XQQ"}, 422, "unknown currency"),
        (known, {"period_start": "2026-11-01"}, 422, "period_end"),
        (known, {**november, "period_start": "someday"}, 422, "period_start"),
        (404404, november, 404, "no customer 404404"),
        ("99999999999999", november, 422, "customer_id"),
    ]
    for customer_id, body, status, message in cases:
        response = await client.post(f"/api/customers/{customer_id}/statements", json=body)

        assert response.status_code == status, (body, response.text)
        assert message in response.text, (body, response.text)


async def test_an_estimate_goes_from_draft_to_a_draft_invoice_over_http(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await customer(sessions, clock)
    created = await client.post("/api/estimates", json=estimate_body(customer_id))
    estimate_id = created.json()["id"]
    edited = await client.put(
        f"/api/estimates/{estimate_id}",
        json={"subtotal": "300.00", "tax_rate": "10", "expiry_date": "2026-12-31"},
    )
    issued = await client.post(f"/api/estimates/{estimate_id}/issue")
    edit_after_issue = await client.put(f"/api/estimates/{estimate_id}", json={"subtotal": "1"})
    sent = await client.post(f"/api/estimates/{estimate_id}/send")
    accepted = await client.post(f"/api/estimates/{estimate_id}/accept")
    declined = await client.post(f"/api/estimates/{estimate_id}/decline")
    listed = await client.get("/api/estimates", params={"state": "accepted"})

    assert created.status_code == 201, created.text
    assert (created.json()["number"], created.json()["total"]) == (None, "276.10")
    assert created.json()["lines"][0]["amount"] == "251.00"
    assert (edited.json()["total"], edited.json()["lines"]) == ("330.00", [])
    assert (issued.json()["number"], issued.json()["state"]) == ("EST-0001", "issued")
    assert edit_after_issue.status_code == 409
    assert sent.json()["email"]["status"] == "queued"
    assert sent.json()["estimate"]["sent_at"] is not None
    assert accepted.json()["state"] == "accepted"
    assert declined.status_code == 409 and "already accepted" in detail(declined)
    assert [row["id"] for row in listed.json()] == [estimate_id]
    async with sessions() as session:
        invoice = await invoicing.get_invoice(session, TENANT, accepted.json()["invoice_id"])
        assert (invoice.state, invoice.total) == ("draft", Decimal("330.00"))


async def test_bad_estimates_are_refused_clearly(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await customer(sessions, clock)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"lines": []}, 422, "line items or a plain subtotal"),
        ({"lines": [{"description": "x", "unit_price": "1.001"}]}, 422, "more decimals"),
        ({"subtotal": "10"}, 422, "not both"),
        ({"expiry_date": "2026-01-01"}, 422, "before the issue date"),
        ({"currency": "XQQ"}, 422, "unknown currency"),
        ({"customer_id": 424242}, 404, "no customer 424242"),
        ({"customer_id": 0}, 422, "customer_id"),
        ({"tax_rate": "150"}, 422, "percentage from 0 to 100"),
    ]
    for change, status, message in cases:
        body = {**estimate_body(customer_id), **change}

        response = await client.post("/api/estimates", json=body)

        assert response.status_code == status, (change, response.text)
        assert message in response.text, (change, response.text)
    assert (await client.get("/api/estimates")).json() == []


async def test_unknown_documents_are_404(client: httpx.AsyncClient) -> None:
    requests = [
        ("GET", "/api/estimates/777"),
        ("PUT", "/api/estimates/777"),
        ("POST", "/api/estimates/777/issue"),
        ("POST", "/api/estimates/777/send"),
        ("POST", "/api/estimates/777/accept"),
        ("POST", "/api/estimates/777/decline"),
        ("GET", "/api/invoices/777/payment-plan"),
        ("POST", "/api/payment-plans/777/send"),
        ("GET", "/api/customers/777/statements"),
    ]
    for method, path in requests:
        body = {"subtotal": "1"} if method == "PUT" else None

        response = await client.request(method, path, json=body)

        assert response.status_code == 404, (method, path, response.text)


async def test_a_payment_plan_over_http(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    invoice_id = await issued_invoice(sessions, clock, "100.00")
    url = f"/api/invoices/{invoice_id}/payment-plan"
    none_yet = await client.get(url)
    halves = [{"date": "2026-12-01", "amount": "50"}, {"date": "2027-01-01", "amount": "50.00"}]
    plan = {"installments": halves}
    short = {"installments": [{"date": "2026-12-01", "amount": "99.99"}]}

    refused = await client.post(url, json=short)
    created = await client.post(url, json=plan)
    twice = await client.post(url, json=plan)
    shown = await client.get(url)
    sent = await client.post(f"/api/payment-plans/{created.json()['id']}/send")

    assert none_yet.status_code == 404 and "has no payment plan" in detail(none_yet)
    assert refused.status_code == 422
    assert "add up to 99.99 EUR, but the invoice's balance is 100.00 EUR" in detail(refused)
    assert created.status_code == 201, created.text
    assert twice.status_code == 409
    assert shown.json()["installments"] == [
        {"date": "2026-12-01", "amount": "50.00"},
        {"date": "2027-01-01", "amount": "50.00"},
    ]
    assert sent.json()["email"]["status"] == "queued"
    assert sent.json()["plan"]["sent_at"] is not None
    [email] = await queued(sessions, SEND_SUBJECT)
    assert SendEvent.model_validate(email).template == "payment_plan.onboarding"


async def test_malformed_installments_are_a_422(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    invoice_id = await issued_invoice(sessions, clock)
    malformed: list[object] = [
        [],
        [{"date": "2026-12-01"}],
        [{"date": "2026-12-01", "amount": "NaN"}],
        [{"date": "2026-12-01", "amount": "540.00", "note": "first"}],
        "monthly",
    ]
    for installments in malformed:
        response = await client.post(
            f"/api/invoices/{invoice_id}/payment-plan", json={"installments": installments}
        )

        assert response.status_code == 422, (installments, response.text)


async def test_open_mode_needs_a_tenant(sessions: Sessions, clock: FakeClock) -> None:
    transport = httpx.ASGITransport(app=app_for(sessions, clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        response = await anonymous.get("/api/estimates")
    assert response.status_code == 422 and "a tenant is required" in response.text


async def test_one_firms_documents_are_invisible_to_another(
    guarded: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    acme = bearer("tok-a")
    other = bearer("tok-b")
    customer_id = await customer(sessions, clock)
    invoice_id = await issued_invoice(sessions, clock)
    estimate = await guarded.post("/api/estimates", json=estimate_body(customer_id), headers=acme)
    estimate_id = estimate.json()["id"]
    plan = {"installments": [{"date": "2026-12-01", "amount": "540.00"}]}
    created_plan = await guarded.post(
        f"/api/invoices/{invoice_id}/payment-plan", json=plan, headers=acme
    )
    period = {"period_start": "2026-11-01", "period_end": "2026-11-30", "send": True}

    answers = [
        await guarded.get(f"/api/estimates/{estimate_id}", headers=other),
        await guarded.post(f"/api/estimates/{estimate_id}/issue", headers=other),
        await guarded.get(f"/api/invoices/{invoice_id}/payment-plan", headers=other),
        await guarded.post(f"/api/invoices/{invoice_id}/payment-plan", json=plan, headers=other),
        await guarded.post(f"/api/payment-plans/{created_plan.json()['id']}/send", headers=other),
        await guarded.post(f"/api/customers/{customer_id}/statements", json=period, headers=other),
        await guarded.get(f"/api/customers/{customer_id}/statements", headers=other),
        await guarded.post(
            "/api/estimates", json=estimate_body(customer_id), headers=other
        ),  # their customer 1 is not ours
    ]
    listed = await guarded.get("/api/estimates", headers=other)
    impersonating = await guarded.get("/api/estimates", params={"tenant": "acme"}, headers=other)
    unauthenticated = await guarded.get("/api/estimates", params={"tenant": "acme"})

    assert estimate.status_code == 201 and created_plan.status_code == 201
    assert [answer.status_code for answer in answers] == [404] * len(answers)
    assert listed.json() == []
    assert impersonating.status_code == 403
    assert unauthenticated.status_code == 401
    assert await queued(sessions, SEND_SUBJECT) == []
    mine = await guarded.get(f"/api/estimates/{estimate_id}", headers=acme)
    assert mine.json()["state"] == "draft"
    assert date.fromisoformat(mine.json()["issue_date"]) == date(2026, 11, 2)
