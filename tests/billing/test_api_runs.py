"""The runs, charges and schedules API and the run report page, over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.api_runs import runs_router
from billing.api_support import install_error_handlers
from billing.customers import create_customer
from billing.firm import firm_settings
from billing.models import Notification
from billing.notify import Channel
from billing.run_page import add_run_pages
from billing.schemas import CustomerInput
from billing.status_feed import StatusFeed
from mailer.auth import INBOX_COOKIE, Authenticator, parse_tokens
from mailer.events import DeliveryStatus, StatusEvent
from mailer.render import default_templates_dir
from tests.billing.conftest import TENANT, FakeClock

Sessions = async_sessionmaker[AsyncSession]
ACME, OTHER, ACME_STAFF = "tok-acme-0123456789", "tok-other-0123456789", "tok-staff-0123456789"
SCRIPT = "<script>alert(1)</script>"


def build_app(sessions: Sessions, clock: FakeClock, tokens: str | None) -> FastAPI:
    app = FastAPI()
    Authenticator(parse_tokens(tokens)).install(app)
    install_error_handlers(app)
    app.include_router(runs_router(sessions, clock))
    add_run_pages(
        app, sessions, Authenticator(parse_tokens(tokens)), default_templates_dir(), clock
    )
    return app


@pytest.fixture
async def api(sessions: Sessions, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """Token mode: acme's admin by default; pass other headers per request."""
    tokens = f"acme:{ACME},other:{OTHER},acme:{ACME_STAFF}:staff"
    transport = httpx.ASGITransport(app=build_app(sessions, clock, tokens))
    headers = {"Authorization": f"Bearer {ACME}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        yield c


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_customer(sessions: Sessions, clock: FakeClock, name: str = "Ada") -> int:
    async with sessions() as session, session.begin():
        settings = await firm_settings(session, TENANT, clock())
        settings.company_name = "Acme <Bookkeeping>"
        body = CustomerInput(name=name, email=f"{name.lower()}@example.org", currency="EUR")
        return (await create_customer(session, TENANT, body, clock())).id


SCHEDULE = {"name": "Bookkeeping", "subtotal": "150.00", "tax_rate": "20"}


async def test_a_schedule_over_http_sends_its_first_invoice_and_can_be_paused(
    api: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)

    created = await api.post(
        "/api/recurring-schedules", json={"customer_id": customer_id, **SCHEDULE}
    )

    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["done"], body["next_run_on"], body["total"]) == (1, "2026-12-02", "180.00")
    assert (body["frequency"], body["occurrences"], body["state"]) == ("monthly", None, "active")
    path = f"/api/recurring-schedules/{body['id']}"
    assert (await api.get(path)).json() == body
    assert [s["id"] for s in (await api.get("/api/recurring-schedules")).json()] == [body["id"]]
    assert (await api.post(f"{path}/pause")).json()["state"] == "paused"
    assert (await api.post(f"{path}/pause")).status_code == 409
    assert (await api.post(f"{path}/resume")).json()["state"] == "active"
    cancelled = (await api.post(f"{path}/cancel")).json()
    assert (cancelled["state"], cancelled["next_run_on"]) == ("cancelled", None)


async def test_a_run_over_http_from_settings_to_confirmed_draft(
    api: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)
    settings = await api.put(
        "/api/billing-runs/settings",
        json={"enabled": True, "cycle": "weekly", "weekday": 4, "mode": "draft"},
    )
    assert settings.status_code == 200, settings.text
    assert (settings.json()["enabled_on"], settings.json()["next_run_on"]) == (
        "2026-11-02", "2026-11-06",
    )  # fmt: skip
    added = await api.post("/api/charges", json={"customer_id": customer_id, "description": "Visit",
                                                 "amount": "80"})  # fmt: skip
    assert added.status_code == 201 and added.json()["amount"] == "80.00"
    assert len((await api.get("/api/charges")).json()) == 1

    made = await api.post("/api/billing-runs")

    assert made.status_code == 201, made.text
    run = made.json()
    assert (run["kind"], run["invoices_created"], run["drafts_awaiting_confirmation"]) == (
        "manual", 1, 1,
    )  # fmt: skip
    assert (await api.get("/api/charges")).json() == []
    assert (await api.get(f"/api/billing-runs/{run['id']}")).json()["items"] == run["items"]
    assert [r["id"] for r in (await api.get("/api/billing-runs")).json()] == [run["id"]]
    [draft] = (await api.get("/api/billing-runs/drafts")).json()
    confirmed = await api.post(f"/api/billing-runs/drafts/{draft['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["invoice"]["state"] == "issued"
    assert [n["channel"] for n in confirmed.json()["notifications"]] == ["email"]
    report = (await api.get(f"/api/billing-runs/{run['id']}")).json()
    assert (report["drafts_awaiting_confirmation"], report["emails"]["requested"]) == (0, 1)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/recurring-schedules", {**SCHEDULE, "frequency": "daily"}),
        ("post", "/api/recurring-schedules", {**SCHEDULE, "occurrences": 0}),
        ("post", "/api/recurring-schedules", {**SCHEDULE, "subtotal": "1.001"}),
        (
            "post",
            "/api/recurring-schedules",
            {**SCHEDULE, "lines": [{"description": "x", "unit_price": "1"}]},
        ),
        ("post", "/api/recurring-schedules", {**SCHEDULE, "start_date": "someday"}),
        ("post", "/api/charges", {"description": "Visit", "amount": "lots"}),
        ("post", "/api/charges", {"description": "Visit", "amount": "-5"}),
        ("post", "/api/charges", {"description": "", "amount": "5"}),
        ("put", "/api/billing-runs/settings", {"enabled": True, "weekday": 7}),
        ("put", "/api/billing-runs/settings", {"enabled": True, "mode": "carrier_pigeon"}),
        ("get", "/api/billing-runs/abc", None),
        ("get", "/api/billing-runs/99999999999", None),
        ("get", "/api/billing-runs?limit=0", None),
        ("get", "/api/recurring-schedules?state=sleeping", None),
    ],
)
async def test_bad_input_is_a_422_with_a_reason(
    api: httpx.AsyncClient,
    sessions: Sessions,
    clock: FakeClock,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    customer_id = await new_customer(sessions, clock)
    if body is not None and path != "/api/billing-runs/settings":
        body = {"customer_id": customer_id, **body}

    answer = await api.request(method.upper(), path, json=body)

    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]


async def test_another_firms_records_are_not_found(
    api: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    customer_id = await new_customer(sessions, clock)
    await api.put("/api/billing-runs/settings", json={"enabled": True, "mode": "draft"})
    await api.post("/api/charges", json={"customer_id": customer_id, "description": "Visit",
                                         "amount": "80"})  # fmt: skip
    run_id = (await api.post("/api/billing-runs")).json()["id"]
    [draft] = (await api.get("/api/billing-runs/drafts")).json()
    created = await api.post(
        "/api/recurring-schedules", json={"customer_id": customer_id, **SCHEDULE}
    )
    schedule_id = created.json()["id"]
    other = as_(OTHER)

    for method, path in [
        ("GET", f"/api/billing-runs/{run_id}"),
        ("POST", f"/api/billing-runs/drafts/{draft['id']}/confirm"),
        ("GET", f"/api/recurring-schedules/{schedule_id}"),
        ("POST", f"/api/recurring-schedules/{schedule_id}/cancel"),
    ]:
        assert (await api.request(method, path, headers=other)).status_code == 404, path
    charge = {"customer_id": customer_id, "description": "Visit", "amount": "1"}
    assert (await api.post("/api/charges", json=charge, headers=other)).status_code == 404
    assert (await api.get("/api/billing-runs", headers=other)).json() == []
    assert (await api.get("/api/billing-runs?tenant=other")).status_code == 403


async def test_run_settings_are_for_admins(api: httpx.AsyncClient) -> None:
    staff = as_(ACME_STAFF)

    assert (await api.get("/api/billing-runs/settings", headers=staff)).status_code == 403
    refused = await api.put("/api/billing-runs/settings", json={"enabled": True}, headers=staff)
    assert refused.status_code == 403
    assert (await api.get("/api/billing-runs", headers=staff)).status_code == 200


async def failed_run(api: httpx.AsyncClient, sessions: Sessions, clock: FakeClock) -> int:
    """A send-invoice run whose email to Ada bounced with a hostile-looking reason."""
    customer_id = await new_customer(sessions, clock)
    await api.put("/api/billing-runs/settings", json={"enabled": True, "mode": "send_invoice"})
    await api.post("/api/charges", json={"customer_id": customer_id, "description": "Visit",
                                         "amount": "80"})  # fmt: skip
    run_id = int((await api.post("/api/billing-runs")).json()["id"])
    async with sessions() as session:
        request_id = (await session.execute(select(Notification.request_id))).scalar_one()
    bounce = StatusEvent(
        request_id=request_id,
        tenant=TENANT,
        recipient="ada@example.org",
        status=DeliveryStatus.BOUNCED,
        hard=True,
        detail=f"550 mailbox unknown {SCRIPT}",
    )
    await StatusFeed(sessions, clock).apply(Channel.EMAIL, bounce)
    return run_id


async def test_the_report_page_shows_each_failure_reason_escaped(
    api: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    run_id = await failed_run(api, sessions, clock)
    api.cookies.set(INBOX_COOKIE, ACME_STAFF)

    page = await api.get(f"/billing/runs/{run_id}")

    assert page.status_code == 200, page.text
    assert "550 mailbox unknown &lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert SCRIPT not in page.text
    assert "ada@example.org" in page.text and "Bounced" in page.text
    listing = await api.get("/billing/runs")
    assert f'href="/billing/runs/{run_id}"' in listing.text


async def test_the_report_page_needs_a_sign_in_of_the_same_firm(
    api: httpx.AsyncClient, sessions: Sessions, clock: FakeClock
) -> None:
    run_id = await failed_run(api, sessions, clock)
    api.headers.pop("Authorization")

    login = await api.get(f"/billing/runs/{run_id}")
    assert login.status_code == 401 and 'action="/billing/runs/login"' in login.text
    api.cookies.set(INBOX_COOKIE, OTHER)
    other = await api.get(f"/billing/runs/{run_id}")
    assert other.status_code == 404 and "There is no such billing run." in other.text
    api.cookies.set(INBOX_COOKIE, ACME)
    assert (await api.get(f"/billing/runs/{run_id}")).status_code == 200
    assert (await api.get("/billing/runs/abc")).status_code == 404


async def test_open_mode_asks_which_firm(sessions: Sessions, clock: FakeClock) -> None:
    transport = httpx.ASGITransport(app=build_app(sessions, clock, None))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ask = await client.get("/billing/runs")
        listing = await client.get("/billing/runs?tenant=acme")
        api_list = await client.get("/api/billing-runs")

    assert ask.status_code == 200 and 'name="tenant"' in ask.text
    assert listing.status_code == 200 and "No billing runs yet." in listing.text
    assert api_list.status_code == 422
