"""The settings page's sending domains, test send and bounce forwarding, over HTTP."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from mailer import dns_check
from mailer import domain_service as service
from mailer.auth import csrf_token
from mailer.domains import Answer, ExpectedRecord, Query, RecordPurpose, queries_for
from mailer.events import TemplateName
from mailer.smtp_probe import ProbeOutcome, ProbeVerdict
from tests.mailer.test_settings_page import csrf_of, post
from tests.support.inbox import NOW
from tests.support.tenants import ACME_TOKEN, GLOBEX_TOKEN, TenantApp, tenant_app

DOMAIN = "billing.acme.example"
SCRIPT = "<script>alert(1)</script>"
DNS = dict[Query, Answer]


@pytest.fixture
async def tenants(tmp_path: Path, pinned_clock: None) -> AsyncIterator[TenantApp]:
    async with tenant_app(tmp_path) as built:
        yield built


@pytest.fixture
async def admin(tenants: TenantApp) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in as acme's admin."""
    async with tenants.client() as client:
        assert (await client.post("/settings/login", data={"token": ACME_TOKEN})).status_code == 303
        yield client


def published(records: Sequence[ExpectedRecord], *, broken: bool = False) -> DNS:
    """What a DNS holding exactly the expected records answers (or, broken: a wrong SPF record,
    no return path and a DMARC record holding markup)."""
    answers = {query: Answer() for query in queries_for(records)}
    for record in records:
        value = record.value
        if broken and record.purpose is RecordPurpose.SPF:
            value = "v=spf1 -all"
        if broken and record.purpose is RecordPurpose.DMARC:
            value = SCRIPT
        if not (broken and record.purpose is RecordPurpose.RETURN_PATH):
            answers[(record.name.lower(), record.type)] = Answer((value,))
    return answers


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The DNS the page's checks see: correct records, broken ones, or a failure; no server."""
    mode: list[str] = ["correct"]

    async def lookup(records: Sequence[ExpectedRecord], _resolver: str | None) -> DNS:
        if mode[0] == "failing":
            return {query: Answer(error=SCRIPT) for query in queries_for(records)}
        return published(records, broken=mode[0] == "broken")

    monkeypatch.setattr(dns_check, "lookup", lookup)
    return mode


async def add_globex_domain(tenants: TenantApp, name: str) -> None:
    async with tenants.runtime.sessions() as session:
        await service.add_domain(session, tenants.box, "globex", name, now=NOW)


async def domains(tenants: TenantApp) -> list[tuple[Any, ...]]:
    return await tenants.raw(
        "SELECT d.tenant, d.domain, d.status, d.last_checked_at, k.selector, k.state"
        " FROM sending_domains d JOIN dkim_keys k ON k.domain_id = d.id ORDER BY d.id, k.id"
    )


async def test_add_then_remove_a_domain(tenants: TenantApp, admin: httpx.AsyncClient) -> None:
    added = await post(admin, "/settings/domains/add", {"domain": " Billing.Acme.Example. "})
    assert added.status_code == 303
    assert added.headers["location"] == f"/settings?done=domain-add#domain-{DOMAIN}"
    page = (await admin.get("/settings?done=domain-add")).text
    assert "Publish the records below" in page and f'id="domain-{DOMAIN}"' in page
    assert "Waiting for DNS" in page and "Not checked yet." in page
    assert f"mailer202611._domainkey.{DOMAIN}" in page and "v=DKIM1; k=rsa; p=" in page
    assert f"bounces.{DOMAIN}" in page and "in pieces of 255 characters" in page
    assert await domains(tenants) == [("acme", DOMAIN, "pending", None, "mailer202611", "pending")]

    unconfirmed = await post(admin, "/settings/domains/remove", {"domain": DOMAIN})
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.text
    removed = await post(admin, "/settings/domains/remove", {"domain": DOMAIN, "confirm": "on"})
    assert removed.status_code == 303
    assert removed.headers["location"] == "/settings?done=domain-remove#domains"
    page = (await admin.get("/settings")).text
    assert DOMAIN not in page and "No sending domains yet." in page
    assert await tenants.raw("SELECT * FROM sending_domains") == []


async def test_problems_are_told_on_the_page(tenants: TenantApp, admin: httpx.AsyncClient) -> None:
    invalid = await post(admin, "/settings/domains/add", {"domain": SCRIPT})
    assert invalid.status_code == 422 and "not a valid domain name" in invalid.text
    assert SCRIPT not in invalid.text and html.escape(SCRIPT, quote=True) in invalid.text
    await post(admin, "/settings/domains/add", {"domain": DOMAIN})
    again = await post(admin, "/settings/domains/add", {"domain": DOMAIN})
    assert again.status_code == 409 and "already one of" in again.text
    unverified = await post(admin, "/settings/domains/rotate", {"domain": DOMAIN})
    assert unverified.status_code == 409 and "verify it first" in unverified.text
    unknown = await post(admin, "/settings/domains/verify", {"domain": "nowhere.example"})
    assert unknown.status_code == 404 and "no sending domain nowhere.example." in unknown.text
    assert (await post(admin, "/settings/domains/launch", {"domain": DOMAIN})).status_code == 404


async def test_a_domain_verified_by_another_firm_cannot_be_added(
    tenants: TenantApp, admin: httpx.AsyncClient, dns: list[str]
) -> None:
    await add_globex_domain(tenants, DOMAIN)
    async with tenants.runtime.sessions() as session:
        config = service.DomainConfig.from_settings(tenants.runtime.settings)
        await service.verify(session, "globex", DOMAIN, config, now=NOW, lookup=dns_check.lookup)
    refused = await post(admin, "/settings/domains/add", {"domain": DOMAIN})
    assert refused.status_code == 409 and "verified by another account" in refused.text
    assert f'value="{DOMAIN}"' in refused.text  # what was typed stays in the form
    assert [row[0] for row in await domains(tenants)] == ["globex"]


async def test_another_firms_domain_is_neither_shown_nor_touched(
    tenants: TenantApp, admin: httpx.AsyncClient, dns: list[str]
) -> None:
    await add_globex_domain(tenants, "globex.example")
    before = await domains(tenants)
    assert "globex.example" not in (await admin.get("/settings")).text
    for action in ("verify", "rotate", "remove"):
        form = {"domain": "globex.example", "confirm": "on"}
        response = await post(admin, f"/settings/domains/{action}", form)
        assert response.status_code == 404, action
        assert "no sending domain globex.example." in response.text
    assert await domains(tenants) == before


async def test_verify_shows_each_records_state(
    tenants: TenantApp, admin: httpx.AsyncClient, dns: list[str]
) -> None:
    await post(admin, "/settings/domains/add", {"domain": DOMAIN})
    dns[0] = "broken"
    checked = await post(admin, "/settings/domains/verify", {"domain": DOMAIN})
    assert checked.status_code == 303
    assert checked.headers["location"] == f"/settings?done=domain-verify#domain-{DOMAIN}"
    page = (await admin.get("/settings")).text
    states = re.findall(r'<span class="badge (\w+)">', page)
    assert states == ["failed", "ok", "wrong", "missing", "wrong"]  # domain, DKIM, SPF, ...
    assert "the SPF record lacks include:" in page and "v=spf1 -all" in page
    assert f"no CNAME (or MX) to {tenants.runtime.settings.effective_bounce_domain}" in page
    assert "Last checked 22 Nov 2026, 15:00 UTC." in page
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    dns[0] = "failing"  # what the lookup reports is escaped too
    await post(admin, "/settings/domains/verify", {"domain": DOMAIN})
    page = (await admin.get("/settings")).text
    assert "Could not be checked" in page and SCRIPT not in page

    dns[0] = "correct"
    await post(admin, "/settings/domains/verify", {"domain": DOMAIN})
    page = (await admin.get("/settings")).text
    assert "Verified 22 Nov 2026" in page and "selector mailer202611)." in page
    [(tenant, name, status, checked_at, selector, state)] = await domains(tenants)
    assert (tenant, name, status, selector, state) == ("acme", DOMAIN, "verified", "mailer202611",
                                                       "active")  # fmt: skip
    assert checked_at is not None


async def test_rotation_keeps_the_old_key_signing_until_the_new_record_checks_out(
    tenants: TenantApp, admin: httpx.AsyncClient, dns: list[str]
) -> None:
    await post(admin, "/settings/domains/add", {"domain": DOMAIN})
    await post(admin, "/settings/domains/verify", {"domain": DOMAIN})
    assert "New DKIM key" in (await admin.get("/settings")).text
    rotated = await post(admin, "/settings/domains/rotate", {"domain": DOMAIN})
    assert rotated.status_code == 303
    page = (await admin.get("/settings?done=domain-rotate")).text
    assert "your current key keeps signing" in page
    assert "A new DKIM key (selector mailer202611-2) is waiting" in page
    assert f"mailer202611-2._domainkey.{DOMAIN}" in page and "New DKIM key</button>" not in page
    assert [row[4:] for row in await domains(tenants)] == [
        ("mailer202611", "active"), ("mailer202611-2", "pending")
    ]  # fmt: skip
    await post(admin, "/settings/domains/verify", {"domain": DOMAIN})
    assert [row[4:] for row in await domains(tenants)] == [
        ("mailer202611", "retired"), ("mailer202611-2", "active")
    ]  # fmt: skip


async def test_domains_need_the_secret_key(tmp_path: Path, pinned_clock: None) -> None:
    async with tenant_app(tmp_path, secret_key=None) as tenants, tenants.client() as client:
        await client.post("/settings/login", data={"token": ACME_TOKEN})
        refused = await post(client, "/settings/domains/add", {"domain": DOMAIN})
        assert refused.status_code == 503 and "set MAILER_SECRET_KEY first" in refused.text
        assert await tenants.raw("SELECT * FROM sending_domains") == []


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/settings/domains/add", {"domain": "new.acme.example"}),
        ("/settings/domains/verify", {"domain": DOMAIN}),
        ("/settings/domains/rotate", {"domain": DOMAIN}),
        ("/settings/domains/remove", {"domain": DOMAIN, "confirm": "on"}),
        ("/settings/test-send", {"template": "invoice.new", "to": "ap@customer.example"}),
    ],
)
async def test_every_new_form_needs_the_csrf_token(
    tenants: TenantApp,
    admin: httpx.AsyncClient,
    dns: list[str],
    path: str,
    form: dict[str, str],
) -> None:
    checker = FakeChecker()
    tenants.runtime.checker = checker
    await post(admin, "/settings/domains/add", {"domain": DOMAIN})
    await post(admin, "/settings/domains/verify", {"domain": DOMAIN})
    before = await domains(tenants)
    for token in (None, "0" * 64, csrf_token(GLOBEX_TOKEN)):
        refused = await admin.post(path, data=form | ({"csrf": token} if token else {}))
        assert refused.status_code == 403 and "expired" in refused.text
    assert await domains(tenants) == before and checker.calls == []


REFUSED = ProbeOutcome(
    ProbeVerdict.REFUSED,
    "Refused: the server answered but would not take the message.",
    f"550 5.7.1 {SCRIPT} relaying denied",
)


@dataclass
class FakeChecker:
    """Stands in for the sending side: answers every test send with one outcome."""

    outcome: ProbeOutcome = REFUSED
    calls: list[tuple[str, TemplateName, str]] = field(default_factory=list)

    async def test_send(
        self, session: AsyncSession, tenant: str, template: TemplateName, to: str
    ) -> ProbeOutcome:
        self.calls.append((tenant, template, to))
        return self.outcome


async def test_a_test_send_tells_the_verdict_in_plain_words(
    tenants: TenantApp, admin: httpx.AsyncClient
) -> None:
    checker = FakeChecker()
    tenants.runtime.checker = checker
    page = (await admin.get("/settings")).text
    assert '<option value="payment_plan.onboarding" >Payment plan: onboarding</option>' in page
    form = {"template": "statement", "to": " ap@customer.example "}
    sent = await post(admin, "/settings/test-send", form)
    assert sent.status_code == 200 and checker.calls == [
        ("acme", TemplateName.STATEMENT, "ap@customer.example")
    ]
    assert '<div class="status bad" role="status"><strong>Refused: the server answered' in sent.text
    assert "550 5.7.1 &lt;script&gt;alert(1)&lt;/script&gt; relaying denied" in sent.text
    assert SCRIPT not in sent.text and '<option value="statement" selected>' in sent.text

    checker.outcome = ProbeOutcome(ProbeVerdict.ACCEPTED, "Accepted: the server took it.", "")
    accepted = await post(admin, "/settings/test-send", form)
    assert '<div class="status ok" role="status"><strong>Accepted' in accepted.text


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"template": "statement", "to": "not an address"}, "Send to"),
        ({"template": "invoice.unknown", "to": "ap@customer.example"}, "Email"),
    ],
)
async def test_a_test_send_checks_its_form(
    tenants: TenantApp, admin: httpx.AsyncClient, form: Mapping[str, str], problem: str
) -> None:
    checker = FakeChecker()
    tenants.runtime.checker = checker
    refused = await post(admin, "/settings/test-send", dict(form))
    assert refused.status_code == 422 and "The test email was not sent" in refused.text
    assert f"<strong>{problem}</strong>" in refused.text and checker.calls == []


async def test_without_a_sending_side_the_section_says_so(
    tenants: TenantApp, admin: httpx.AsyncClient
) -> None:
    page = (await admin.get("/settings")).text
    assert "Test sends are not available here" in page and "Send test</button>" not in page
    form = {"template": "statement", "to": "ap@customer.example"}
    refused = await post(admin, "/settings/test-send", form)
    assert refused.status_code == 503 and "cannot make a test send" in refused.text


async def test_the_forwarding_address_is_made_once_and_is_the_firms_own(
    tenants: TenantApp, admin: httpx.AsyncClient
) -> None:
    assert await tenants.raw("SELECT * FROM forwarding_addresses") == []
    bounce_domain = tenants.runtime.settings.effective_bounce_domain
    pattern = rf"forward\+([a-z0-9]+)@{re.escape(bounce_domain)}"
    first = re.findall(pattern, (await admin.get("/settings")).text)
    again = re.findall(pattern, (await admin.get("/settings")).text)
    assert len(first) == 1 and first == again
    async with tenants.client(ACME_TOKEN) as api:
        answer = (await api.get("/api/forwarding-address")).json()
    assert answer["address"] == f"forward+{first[0]}@{bounce_domain}"
    async with tenants.client(GLOBEX_TOKEN) as api:
        theirs = (await api.get("/api/forwarding-address")).json()["address"]
    assert theirs != answer["address"] and theirs not in (await admin.get("/settings")).text


async def test_open_mode_carries_the_firm_through_domain_forms(
    tmp_path: Path, pinned_clock: None
) -> None:
    async with tenant_app(tmp_path, tokens=None) as tenants, tenants.client() as client:
        page = await client.get("/settings?tenant=acme")
        assert 'action="/settings/domains/add?tenant=acme#domains"' in page.text
        added = await client.post(
            "/settings/domains/add?tenant=acme", data={"domain": DOMAIN, "csrf": csrf_of(page.text)}
        )
        assert added.headers["location"] == f"/settings?tenant=acme&done=domain-add#domain-{DOMAIN}"
        assert DOMAIN not in (await client.get("/settings?tenant=globex")).text
