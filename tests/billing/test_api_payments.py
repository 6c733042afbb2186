"""The money routes: payments, refunds, prepayments, credit and credit notes, per tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from billing.api_payments import payments_router
from billing.api_support import install_error_handlers
from mailer.auth import Authenticator, parse_tokens
from tests.billing.conftest import FakeClock
from tests.billing.money_factories import Sessions, new_customer, new_invoice, set_firm

ACME = {"Authorization": "Bearer tok-acme-0123456789"}
OTHER = {"Authorization": "Bearer tok-other-0123456789"}


@pytest.fixture
async def client(sessions: Sessions, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    tokens = "acme:tok-acme-0123456789,other:tok-other-0123456789"
    Authenticator(parse_tokens(tokens)).install(app)
    install_error_handlers(app)
    app.include_router(payments_router(sessions, clock))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=ACME) as http:
        yield http


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else str(detail)


async def test_a_partial_payment_then_the_rest_over_http(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice = await new_invoice(sessions, clock(), customer, "540.00")

    first = ok(
        await client.post(
            f"/api/invoices/{invoice}/payments",
            json={"amount": "200.00", "method": "card", "reference": "PAY-7"},
        ),
        201,
    )
    rest = ok(
        await client.post(f"/api/invoices/{invoice}/payments", json={"method": "echeck"}), 201
    )

    assert (first["amount"], first["status"], first["unapplied"]) == ("200.00", "succeeded", "0.00")
    assert [(a["invoice_id"], a["amount"]) for a in first["applications"]] == [(invoice, "200.00")]
    assert first["applications"][0]["invoice_number"] == "INV-0001"
    assert rest["amount"] == "340.00"
    found = ok(await client.get("/api/payments", params={"invoice_id": invoice}))
    assert [p["id"] for p in found] == [rest["id"], first["id"]]
    by_card = ok(await client.get("/api/payments", params={"method": "card"}))
    assert [p["id"] for p in by_card] == [first["id"]]
    again = ok(await client.get(f"/api/payments/{first['id']}"))
    assert again["reference"] == "PAY-7" and again["refunds"] == []


async def test_bad_amounts_and_inputs_are_422_never_500(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice = await new_invoice(sessions, clock(), customer, "100.00")
    pay = f"/api/invoices/{invoice}/payments"

    assert "more decimals than EUR allows" in refused(
        await client.post(pay, json={"amount": "10.005", "method": "card"}), 422
    )
    for body in (
        {"amount": "-5", "method": "card"},
        {"amount": "0", "method": "card"},
        {"amount": "abc", "method": "card"},
        {"amount": "NaN", "method": "card"},
        {"amount": "1e30", "method": "card"},
        {"amount": "10", "method": "bitcoin"},
        {"amount": "10", "method": "card", "surprise": True},
    ):
        refused(await client.post(pay, json=body), 422)
    refused(await client.post("/api/invoices/99999999999999999999/payments", json={}), 422)
    both = {
        "customer_id": customer,
        "amount": "10",
        "method": "card",
        "invoice_ids": [invoice],
        "allocations": [{"invoice_id": invoice, "amount": "10"}],
    }
    assert "not both" in refused(await client.post("/api/payments", json=both), 422)
    twice = {**both, "allocations": None, "invoice_ids": [invoice, invoice]}
    assert "more than once" in refused(await client.post("/api/payments", json=twice), 422)
    refused(await client.get("/api/payments", params={"status": "lost"}), 422)
    window = {"date_from": "2026-11-05", "date_to": "2026-11-01"}
    assert "after date_to" in refused(await client.get("/api/payments", params=window), 422)
    note = {
        "customer_id": customer,
        "total": "5",
        "lines": [{"description": "x", "unit_price": "5"}],
    }
    refused(await client.post("/api/credit-notes", json=note), 422)
    refused(
        await client.post(f"/api/invoices/{invoice}/apply-credit", json={"amount": "1.001"}), 422
    )


async def test_other_tenants_records_are_404(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    theirs = await new_customer(sessions, clock(), tenant="other")
    invoice = await new_invoice(sessions, clock(), theirs, "100.00", tenant="other")
    payment = ok(
        await client.post(
            f"/api/invoices/{invoice}/payments", json={"method": "card"}, headers=OTHER
        ),
        201,
    )
    note = ok(
        await client.post(
            "/api/credit-notes", json={"customer_id": theirs, "total": "5"}, headers=OTHER
        ),
        201,
    )

    assert refused(
        await client.post(f"/api/invoices/{invoice}/payments", json={"method": "card"}), 404
    )
    body = {"customer_id": theirs, "amount": "5", "method": "card"}
    refused(await client.post("/api/payments", json=body), 404)
    refused(await client.get(f"/api/payments/{payment['id']}"), 404)
    refused(await client.post(f"/api/payments/{payment['id']}/refunds", json={}), 404)
    refused(await client.post(f"/api/invoices/{invoice}/apply-credit", json={"amount": "1"}), 404)
    refused(await client.get(f"/api/customers/{theirs}/credit"), 404)
    refused(await client.get(f"/api/credit-notes/{note['id']}"), 404)
    refused(await client.post(f"/api/credit-notes/{note['id']}/send"), 404)
    assert ok(await client.get("/api/payments")) == []
    assert ok(await client.get("/api/credit-notes")) == []
    refused(await client.get("/api/payments", params={"tenant": "other"}), 403)


async def test_conflicts_are_409(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice = await new_invoice(sessions, clock(), customer, "100.00")
    draft = await new_invoice(sessions, clock(), customer, "100.00", issue=False)
    prepay = {"customer_id": customer, "amount": "50", "method": "card"}

    assert "prepayments are off" in refused(await client.post("/api/prepayments", json=prepay), 409)
    assert "is draft" in refused(
        await client.post(f"/api/invoices/{draft}/payments", json={"method": "card"}), 409
    )
    payment = ok(
        await client.post(f"/api/invoices/{invoice}/payments", json={"method": "card"}), 201
    )
    assert "is paid" in refused(
        await client.post(f"/api/invoices/{invoice}/payments", json={"method": "card"}), 409
    )
    ok(await client.post(f"/api/payments/{payment['id']}/refunds", json={}), 201)
    assert "refunded in full" in refused(
        await client.post(f"/api/payments/{payment['id']}/refunds", json={"amount": "1"}), 409
    )


async def test_refunds_reopen_the_invoice(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice = await new_invoice(sessions, clock(), customer, "540.00")
    payment = ok(
        await client.post(f"/api/invoices/{invoice}/payments", json={"method": "card"}), 201
    )

    refund = ok(
        await client.post(
            f"/api/payments/{payment['id']}/refunds", json={"amount": "40.00", "reason": "goodwill"}
        ),
        201,
    )

    assert (refund["amount"], refund["from_credit"], refund["from_invoices"]) == (
        "40.00",
        "0.00",
        "40.00",
    )
    detail = ok(await client.get(f"/api/payments/{payment['id']}"))
    assert (detail["status"], detail["refunded"]) == ("partially_refunded", "40.00")
    assert [a["amount"] for a in detail["applications"]] == ["540.00", "-40.00"]
    assert [r["reason"] for r in detail["refunds"]] == ["goodwill"]
    partly = ok(await client.get("/api/payments", params={"status": "partially_refunded"}))
    assert [p["id"] for p in partly] == [payment["id"]]


async def test_prepayment_credit_and_applying_it(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    await set_firm(sessions, clock(), prepayments_enabled=True)
    customer = await new_customer(sessions, clock())
    invoice = await new_invoice(sessions, clock(), customer, "100.00")
    prepay = {"customer_id": customer, "amount": "150.00", "method": "offline"}
    prepaid = ok(await client.post("/api/prepayments", json=prepay), 201)
    assert (prepaid["prepayment"], prepaid["unapplied"], prepaid["applications"]) == (
        True,
        "150.00",
        [],
    )

    applied = ok(await client.post(f"/api/invoices/{invoice}/apply-credit", json={"amount": "100"}))

    assert applied == {
        "invoice_id": invoice,
        "number": "INV-0001",
        "state": "paid",
        "currency": "EUR",
        "applied": "100.00",
        "invoice_balance": "0.00",
        "credit_balance": "50.00",
    }
    credit = ok(await client.get(f"/api/customers/{customer}/credit"))
    assert credit["balances"] == {"EUR": "50.00"}
    assert [(m["kind"], m["amount"]) for m in credit["movements"]] == [
        ("prepayment", "150.00"),
        ("applied", "-100.00"),
    ]
    later = await new_invoice(sessions, clock(), customer, "100.00")
    assert "has only 50.00 EUR credit" in refused(
        await client.post(f"/api/invoices/{later}/apply-credit", json={"amount": "60"}), 422
    )
    assert "is paid" in refused(
        await client.post(f"/api/invoices/{invoice}/apply-credit", json={"amount": "1"}), 409
    )


async def test_credit_notes_over_http(
    client: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    await set_firm(sessions, clock())
    customer = await new_customer(sessions, clock())
    invoice = await new_invoice(sessions, clock(), customer, "30.00")
    body = {
        "customer_id": customer,
        "invoice_id": invoice,
        "lines": [{"description": "Month 1", "quantity": "1", "unit_price": "50.00"}],
        "reason": "overbilled",
    }

    note = ok(await client.post("/api/credit-notes", json=body), 201)
    assert (note["number"], note["total"], note["to_invoice"], note["to_credit"]) == (
        "CN-0001",
        "50.00",
        "30.00",
        "20.00",
    )
    assert note["lines"] == [
        {"description": "Month 1", "quantity": "1", "unit_price": "50.00", "amount": "50.00"}
    ]
    assert ok(await client.get(f"/api/credit-notes/{note['id']}")) == note
    listed = ok(await client.get("/api/credit-notes", params={"customer_id": customer}))
    assert [n["id"] for n in listed] == [note["id"]]

    sent = ok(await client.post(f"/api/credit-notes/{note['id']}/send"))
    assert sent["status"] == "queued"
    assert sent["request_id"].startswith(f"billing.acme.credit_note{note['id']}.credit_note.new")
    assert sent["credit_note"]["sent_at"] is not None
    assert "is paid" in refused(await client.post("/api/credit-notes", json=body), 409)
