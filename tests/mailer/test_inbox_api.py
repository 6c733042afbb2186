"""The inbox JSON API over a seeded store: tenant isolation, auth, filters, changes, statistics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailer.inbox_stats import assemble_deliverability
from mailer.store.inbox_models import Suppression, Thread
from tests.conftest import load_example
from tests.support.inbox import (
    ACME_TOKEN,
    DIAGNOSTIC,
    GLOBEX_TOKEN,
    NOW,
    TOKENS,
    Inbox,
    inbox_app,
)

TODAY = NOW.date()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def inbox(
    request: pytest.FixtureRequest, tmp_path: Path, pinned_clock: None
) -> AsyncIterator[Inbox]:
    async with inbox_app(tmp_path, tokens=TOKENS, backend=request.param) as built:
        yield built


@pytest.fixture
async def open_inbox(tmp_path: Path, pinned_clock: None) -> AsyncIterator[Inbox]:
    async with inbox_app(tmp_path, tokens=None) as built:
        yield built


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_threads_are_newest_first_and_only_the_callers(inbox: Inbox) -> None:
    t = inbox.seeded.threads
    async with inbox.client(ACME_TOKEN) as client:
        listed = await client.get("/api/threads")
        assert ids(listed) == [t["a1"], t["a2"], t["a3"]]
        assert listed.json()["total"] == 3
        assert ids(await client.get("/api/threads", params={"tenant": "acme"})) == ids(listed)
    async with inbox.client(GLOBEX_TOKEN) as client:
        assert ids(await client.get("/api/threads")) == [t["g1"]]


async def test_filters_by_status_and_bounce(inbox: Inbox) -> None:
    t = inbox.seeded.threads
    async with inbox.client(ACME_TOKEN) as client:
        assert ids(await client.get("/api/threads?status=pending")) == [t["a2"]]
        assert ids(await client.get("/api/threads?has_bounce=true")) == [t["a1"], t["a3"]]
        assert ids(await client.get("/api/threads?has_bounce=false")) == [t["a2"]]
        assert ids(await client.get("/api/threads?status=closed&has_bounce=true")) == [t["a3"]]
        assert ids(await client.get("/api/threads?status=open&has_bounce=false")) == []


async def test_pagination(inbox: Inbox) -> None:
    t = inbox.seeded.threads
    async with inbox.client(ACME_TOKEN) as client:
        first = await client.get("/api/threads?limit=2")
        assert ids(first) == [t["a1"], t["a2"]] and first.json()["total"] == 3
        assert ids(await client.get("/api/threads?limit=2&offset=2")) == [t["a3"]]
        assert ids(await client.get("/api/threads?offset=10")) == []


@pytest.mark.parametrize(
    "query",
    ["status=archived", "has_bounce=maybe", "limit=0", "limit=201", "offset=-1", "limit=x",
     "offset=99999999999999999999", "tenant=" + "a" * 101],
)  # fmt: skip
async def test_bad_list_parameters_are_422_with_a_message(inbox: Inbox, query: str) -> None:
    async with inbox.client(ACME_TOKEN) as client:
        response = await client.get(f"/api/threads?{query}")
    assert response.status_code == 422
    assert all(error["msg"] for error in response.json()["detail"])


async def test_thread_detail_explains_the_bounce(inbox: Inbox) -> None:
    async with inbox.client(ACME_TOKEN) as client:
        response = await client.get(f"/api/threads/{inbox.seeded.threads['a1']}")
    assert response.status_code == 200
    detail = response.json()
    assert [e["direction"] for e in detail["entries"]] == ["outgoing", "bounce"]
    assert detail["entries"][0]["bounce"] is None
    assert detail["entries"][1]["bounce"] == {
        "address": "bob@example.org",
        "reason": "userunknown",
        "explanation": "The mailbox does not exist. Check the address with the customer.",
        "hard": True,
        "status": "5.1.1",
        "reply_code": 550,
        "diagnostic": DIAGNOSTIC,
    }


async def test_another_tenants_thread_is_not_found(inbox: Inbox) -> None:
    other = inbox.seeded.threads["g1"]
    async with inbox.client(ACME_TOKEN) as client:
        hidden = await client.get(f"/api/threads/{other}")
        missing = await client.get("/api/threads/999999")
        patched = await client.patch(f"/api/threads/{other}", json={"status": "closed"})
        assert (await client.get("/api/threads/99999999999")).status_code == 422
        assert (await client.get("/api/threads/abc")).status_code == 422
    assert hidden.status_code == missing.status_code == patched.status_code == 404
    assert hidden.json() == missing.json() == patched.json()
    async with inbox.runtime.sessions() as session:
        assert (await session.get(Thread, other)).status == "open"  # type: ignore[union-attr]


async def test_patch_changes_status_assignee_and_adds_a_note(inbox: Inbox) -> None:
    a2 = inbox.seeded.threads["a2"]
    async with inbox.client(ACME_TOKEN) as client:
        response = await client.patch(
            f"/api/threads/{a2}",
            json={"status": "closed", "assignee": "Maria", "note": "Called Carol.",
                  "author": "Maria"},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        changed = response.json()
        assert (changed["status"], changed["assignee"]) == ("closed", "Maria")
        note = changed["entries"][-1]
        assert (note["direction"], note["body_text"], note["author"]) == (
            "note",
            "Called Carol.",
            "Maria",
        )
        assert changed["updated_at"].startswith("2026-11-22T15:00")
        assert ids(await client.get("/api/threads"))[0] == a2
        again = await client.patch(f"/api/threads/{a2}", json={"assignee": None})
        assert again.json()["assignee"] is None and again.json()["status"] == "closed"
        assert (await client.get(f"/api/threads/{a2}")).json()["entries"] == changed["entries"]
        unsigned = await client.patch(f"/api/threads/{a2}", json={"note": "No name."})
        assert unsigned.json()["entries"][-1]["author"] == "staff"


@pytest.mark.parametrize(
    "body",
    [{}, {"note": "   "}, {"status": None}, {"status": "archived"}, {"colour": "red"},
     {"assignee": "x" * 201}, {"note": "x" * 20_001}, [1, 2], "not an object"],
)  # fmt: skip
async def test_bad_patches_are_422(inbox: Inbox, body: Any) -> None:
    async with inbox.client(ACME_TOKEN) as client:
        response = await client.patch(f"/api/threads/{inbox.seeded.threads['a1']}", json=body)
        garbage = await client.patch(
            f"/api/threads/{inbox.seeded.threads['a1']}", content=b"{not json"
        )
    assert response.status_code == garbage.status_code == 422
    assert response.json()["detail"][0]["msg"]


async def test_suppressions_are_listed_and_lifted_per_tenant(inbox: Inbox) -> None:
    async with inbox.client(ACME_TOKEN) as client:
        listed = (await client.get("/api/suppressions")).json()
        assert [s["address"] for s in listed["items"]] == ["bob@example.org"]
        assert listed["items"][0]["explanation"].startswith("The mailbox does not exist")
        lifted = await client.delete(
            "/api/suppressions", params={"address": "Bob@Example.org", "author": "Maria"}
        )
        assert lifted.status_code == 200, lifted.text
        assert lifted.json()["note_thread_id"] == inbox.seeded.threads["a1"]
        assert (await client.get("/api/suppressions")).json()["items"] == []
        again = await client.delete("/api/suppressions", params={"address": "bob@example.org"})
        assert again.status_code == 404
        note = (await client.get(f"/api/threads/{inbox.seeded.threads['a1']}")).json()
        assert note["entries"][-1]["direction"] == "note"
        assert "Maria lifted the suppression of bob@example.org" in note["entries"][-1]["body_text"]
        assert (await client.get("/api/threads")).json()["items"][0]["id"] == note["id"]
    async with inbox.client(GLOBEX_TOKEN) as client:
        kept = (await client.get("/api/suppressions")).json()["items"]
        assert [s["address"] for s in kept] == ["bob@example.org"]
        assert len((await client.get(f"/api/threads/{inbox.seeded.threads['g1']}")).json()[
            "entries"]) == 1  # fmt: skip


async def test_lift_without_a_thread_still_lifts(inbox: Inbox) -> None:
    async with inbox.runtime.sessions() as session:
        session.add(Suppression(tenant="acme", address="zed@nowhere.test", reason="feedback",
                                created_at=NOW))  # fmt: skip
        await session.commit()
    async with inbox.client(ACME_TOKEN) as client:
        lifted = await client.delete("/api/suppressions", params={"address": "zed@nowhere.test"})
    assert lifted.status_code == 200 and lifted.json()["note_thread_id"] is None


async def test_deliverability_numbers(inbox: Inbox) -> None:
    async with inbox.client(ACME_TOKEN) as client:
        response = await client.get("/api/deliverability")
    assert response.status_code == 200, response.text
    stats = response.json()
    days = {d["day"]: d for d in stats["days"]}
    assert len(stats["days"]) == 30
    assert stats["days"][0]["day"] == str(TODAY - timedelta(days=29))
    assert stats["days"][-1]["day"] == str(TODAY)
    assert days[str(TODAY)] == {"day": str(TODAY), "sent": 4, "hard_bounced": 1,
                                "soft_bounced": 0, "suppressed": 0}  # fmt: skip
    yesterday, before = str(TODAY - timedelta(days=1)), str(TODAY - timedelta(days=2))
    assert (days[yesterday]["sent"], days[yesterday]["suppressed"]) == (2, 1)
    assert (days[before]["sent"], days[before]["soft_bounced"]) == (1, 1)
    assert sum(d["sent"] for d in stats["days"]) == 7
    assert sum(d["hard_bounced"] for d in stats["days"]) == 1
    assert stats["domains"] == [
        {"domain": "example.org", "sent": 5, "hard_bounced": 1, "soft_bounced": 0,
         "bounce_rate": 0.2},
        {"domain": "example.net", "sent": 1, "hard_bounced": 0, "soft_bounced": 1,
         "bounce_rate": 1.0},
        {"domain": "other.test", "sent": 1, "hard_bounced": 0, "soft_bounced": 0,
         "bounce_rate": 0.0},
    ]  # fmt: skip


def test_deliverability_fills_empty_days_and_keeps_the_ten_busiest_domains() -> None:
    stats = assemble_deliverability(
        date(2026, 3, 1),
        30,
        daily=[("2026-02-28", "sent", 3), ("2026-01-01", "sent", 9), ("2026-03-01", "hard", 1)],
        sent_by_domain=[(f"d{n}.test", n) for n in range(12)],
        bounced_by_domain=[("d0.test", True, 2), ("", False, 1)],
    )
    assert [d.day for d in stats.days][:2] == [date(2026, 1, 31), date(2026, 2, 1)]
    assert [(d.sent, d.hard) for d in stats.days[-2:]] == [(3, 0), (0, 1)]
    assert stats.total("sent") == 3
    assert [d.domain for d in stats.domains] == [f"d{n}.test" for n in range(11, 1, -1)]


ENDPOINTS = [
    ("GET", "/api/threads", None),
    ("GET", "/api/threads/{a1}", None),
    ("PATCH", "/api/threads/{a1}", {"status": "closed"}),
    ("GET", "/api/suppressions", None),
    ("DELETE", "/api/suppressions?address=bob@example.org", None),
    ("GET", "/api/deliverability", None),
]


def _url(path: str, inbox: Inbox, tenant: str | None = None) -> str:
    url = path.format(**inbox.seeded.threads)
    return url if tenant is None else url + ("&" if "?" in url else "?") + f"tenant={tenant}"


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_naming_another_tenant_is_403_everywhere(
    inbox: Inbox, method: str, path: str, body: Any
) -> None:
    async with inbox.client(ACME_TOKEN) as client:
        response = await client.request(method, _url(path, inbox, "globex"), json=body)
    assert response.status_code == 403
    assert "cannot act for another" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_no_or_a_wrong_token_is_401_everywhere(
    inbox: Inbox, method: str, path: str, body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    for token in (None, "acme-token-wrong", ACME_TOKEN + "x", ACME_TOKEN[:-1]):
        async with inbox.client(token) as client:
            response = await client.request(method, _url(path, inbox, "acme"), json=body)
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"
    assert "acme-token" not in caplog.text


async def test_existing_endpoints_are_scoped_too(inbox: Inbox) -> None:
    event = load_example("invoice.new")
    async with inbox.client(ACME_TOKEN) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.post("/api/send", json=event)).status_code == 202
        foreign = await client.post("/api/send", json=event | {"tenant": "globex"})
        assert foreign.status_code == 403
        assert (await client.get("/api/tenants/acme/templates")).status_code == 200
        assert (await client.get("/api/tenants/globex/templates")).status_code == 403
        put = await client.put("/api/tenants/globex/templates/invoice.new", json={"enabled": False})
        assert put.status_code == 403
        log = await client.get("/api/messages", params={"tenant": "globex", "request_id": "x"})
        assert log.status_code == 403
        assert (await client.get("/api/messages?tenant=acme&request_id=x")).status_code == 404
    async with inbox.client() as client:
        assert (await client.post("/api/send", json=event)).status_code == 401
        assert (await client.get("/api/tenants/acme/templates")).status_code == 401
    assert [json.loads(body)["tenant"] for body in inbox.runtime.publisher.sent] == ["acme"]


async def test_the_inbox_cookie_works_on_the_api_with_a_csrf_header_for_changes(
    inbox: Inbox,
) -> None:
    from mailer.auth import INBOX_COOKIE, csrf_token

    a1 = inbox.seeded.threads["a1"]
    async with inbox.client(cookies={INBOX_COOKIE: ACME_TOKEN}) as client:
        assert len(ids(await client.get("/api/threads"))) == 3
        refused = await client.patch(f"/api/threads/{a1}", json={"status": "closed"})
        assert refused.status_code == 403
        allowed = await client.patch(
            f"/api/threads/{a1}",
            json={"status": "closed"},
            headers={"X-CSRF-Token": csrf_token(ACME_TOKEN)},
        )
        assert allowed.status_code == 200


async def test_open_mode_takes_the_tenant_from_the_request(open_inbox: Inbox) -> None:
    t = open_inbox.seeded.threads
    async with open_inbox.client() as client:
        missing = await client.get("/api/threads")
        assert missing.status_code == 422 and "tenant" in missing.text
        assert ids(await client.get("/api/threads?tenant=acme")) == [t["a1"], t["a2"], t["a3"]]
        assert ids(await client.get("/api/threads?tenant=globex")) == [t["g1"]]
        hidden = await client.get(f"/api/threads/{t['g1']}?tenant=acme")
        assert hidden.status_code == 404
        assert (await client.post("/api/send", json=load_example("invoice.new"))).status_code == 202
        assert (await client.get("/api/tenants/acme/templates")).status_code == 200
        lift = await client.delete("/api/suppressions?tenant=acme&address=bob@example.org")
        assert lift.status_code == 200
    async with open_inbox.runtime.sessions() as session:
        left = (await session.execute(select(Suppression.tenant))).scalars().all()
    assert left == ["globex"]
