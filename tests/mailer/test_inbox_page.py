"""The inbox page over HTTP: login cookie, CSRF, plain-words bounces, escaping, open mode."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mailer.auth import INBOX_COOKIE, csrf_token
from mailer.inbox_charts import nice_top
from mailer.store.inbox_models import Suppression, Thread
from tests.support.inbox import (
    ACME_TOKEN,
    GLOBEX_TOKEN,
    NOW,
    TOKENS,
    Inbox,
    bounce_details,
    entry,
    inbox_app,
    thread,
)

SCRIPT = '<script>alert("x")</script>'
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def inbox(tmp_path: Path, pinned_clock: None) -> AsyncIterator[Inbox]:
    async with inbox_app(tmp_path, tokens=TOKENS) as built:
        yield built


@pytest.fixture
async def staff(inbox: Inbox) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client signed in as acme's staff."""
    async with inbox.client() as client:
        signed_in = await client.post("/inbox/login", data={"token": ACME_TOKEN})
        assert signed_in.status_code == 303
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def status_of(inbox: Inbox, thread_id: int) -> str:
    async with inbox.runtime.sessions() as session:
        found = await session.get(Thread, thread_id)
        assert found is not None
        return found.status


async def test_sign_in_once_then_the_cookie_carries_the_session(inbox: Inbox) -> None:
    async with inbox.client() as client:
        first = await client.get("/inbox")
        assert first.status_code == 401 and 'name="token"' in first.text
        policy = first.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "unsafe-inline" not in policy
        assert "script-src" not in policy and first.headers["x-frame-options"] == "DENY"
        wrong = await client.post("/inbox/login", data={"token": "guess-0123456789"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        right = await client.post("/inbox/login", data={"token": f"  {ACME_TOKEN} "})
        assert right.status_code == 303 and right.headers["location"] == "/inbox"
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        page = await client.get("/inbox")
    assert page.status_code == 200
    assert "Invoice INV-1001" in page.text and "Globex confidential" not in page.text
    assert "<svg" in page.text and ACME_TOKEN not in page.text
    assert "?tenant=" not in page.text


async def test_a_stale_cookie_gets_the_login_form(inbox: Inbox) -> None:
    async with inbox.client(cookies={INBOX_COOKIE: "revoked-token-0123456789"}) as client:
        page = await client.get("/inbox")
    assert page.status_code == 401 and "no longer valid" in page.text


async def test_changes_need_the_csrf_token_of_the_same_cookie(
    inbox: Inbox, staff: httpx.AsyncClient
) -> None:
    a1 = inbox.seeded.threads["a1"]
    url = f"/inbox/threads/{a1}"
    good = csrf_of((await staff.get(url)).text)
    assert good == csrf_token(ACME_TOKEN)
    for token in (None, "0" * 64, csrf_token(GLOBEX_TOKEN)):
        form = {"action": "status", "status": "closed"} | ({"csrf": token} if token else {})
        refused = await staff.post(url, data=form)
        assert refused.status_code == 403 and "expired" in refused.text
    assert await status_of(inbox, a1) == "open"
    done = await staff.post(url, data={"action": "status", "status": "closed", "csrf": good})
    assert done.status_code == 303 and done.headers["location"] == f"{url}?done=saved"
    assert await status_of(inbox, a1) == "closed"
    after = await staff.get(done.headers["location"])
    assert "Saved." in after.text and "st-closed" in after.text


async def test_the_thread_page_explains_bounces_in_plain_words(
    inbox: Inbox, staff: httpx.AsyncClient
) -> None:
    hard = (await staff.get(f"/inbox/threads/{inbox.seeded.threads['a1']}")).text
    assert "The mailbox does not exist. Check the address with the customer." in hard
    assert "Hard bounce" in hard and "550 5.1.1" in hard
    assert "Recipient address rejected: User unknown" in hard
    assert "&lt;bob@example.org&gt;" in hard
    assert "Lift suppression" in hard
    soft = (await staff.get(f"/inbox/threads/{inbox.seeded.threads['a3']}")).text
    assert "Soft bounce" in soft and "The recipient&#39;s mailbox is full." in soft


async def test_other_tenants_are_out_of_reach(inbox: Inbox, staff: httpx.AsyncClient) -> None:
    g1 = inbox.seeded.threads["g1"]
    hidden = await staff.get(f"/inbox/threads/{g1}")
    assert hidden.status_code == 404 and "Globex" not in hidden.text
    assert (await staff.get("/inbox?tenant=globex")).status_code == 403
    csrf = csrf_token(ACME_TOKEN)
    changed = await staff.post(
        f"/inbox/threads/{g1}", data={"action": "status", "status": "closed", "csrf": csrf}
    )
    assert changed.status_code == 404 and await status_of(inbox, g1) == "open"
    lift = await staff.post(
        "/inbox/suppressions/lift?tenant=globex", data={"address": "bob@example.org", "csrf": csrf}
    )
    assert lift.status_code == 403


async def test_assign_and_note_through_the_forms(inbox: Inbox, staff: httpx.AsyncClient) -> None:
    url = f"/inbox/threads/{inbox.seeded.threads['a2']}"
    csrf = csrf_of((await staff.get(url)).text)
    await staff.post(url, data={"action": "assign", "assignee": "Maria", "csrf": csrf})
    await staff.post(
        url, data={"action": "note", "note": "Called Carol.", "author": "Maria", "csrf": csrf}
    )
    page = (await staff.get(url)).text
    assert "Assigned to Maria" in page and "Called Carol." in page and "by Maria" in page


async def test_lift_a_suppression_from_the_thread(inbox: Inbox, staff: httpx.AsyncClient) -> None:
    a1 = inbox.seeded.threads["a1"]
    csrf = csrf_of((await staff.get(f"/inbox/threads/{a1}")).text)
    lifted = await staff.post(
        "/inbox/suppressions/lift",
        data={"address": "bob@example.org", "thread": str(a1), "csrf": csrf, "author": "Ann"},
    )
    assert lifted.headers["location"] == f"/inbox/threads/{a1}?done=lifted"
    page = (await staff.get(lifted.headers["location"])).text
    assert "Suppression lifted" in page and "Lift suppression" not in page
    assert "Ann lifted the suppression of bob@example.org" in page
    again = await staff.post("/inbox/suppressions/lift", data={"address": "bob@example.org",
                                                                "csrf": csrf})  # fmt: skip
    assert again.status_code == 404


async def test_markup_from_mail_and_staff_is_escaped(
    inbox: Inbox, staff: httpx.AsyncClient
) -> None:
    async with inbox.runtime.sessions() as session:
        hostile = thread("acme", "INV-666", f"Invoice {SCRIPT}", NOW - NOW, has_bounce=True)
        hostile.entries = [
            entry("bounce", NOW, tenant="acme", body_text=SCRIPT,
                  details=bounce_details(f"{SCRIPT}@x.test", SCRIPT, True, f"550 {SCRIPT}")),
            entry("reply", NOW, tenant="acme", sender=SCRIPT, subject=SCRIPT, body_text=SCRIPT),
        ]  # fmt: skip
        session.add(hostile)
        session.add(Suppression(tenant="acme", address=SCRIPT, reason=SCRIPT, created_at=NOW))
        await session.commit()
        hostile_id = hostile.id
    url = f"/inbox/threads/{hostile_id}"
    csrf = csrf_of((await staff.get(url)).text)
    await staff.post(url, data={"action": "note", "note": SCRIPT, "author": SCRIPT, "csrf": csrf})
    await staff.post(url, data={"action": "assign", "assignee": SCRIPT, "csrf": csrf})
    for page in (await staff.get(url), await staff.get("/inbox")):
        assert page.status_code == 200
        assert "<script" not in page.text.lower()
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text


async def test_bad_form_posts_get_readable_errors(inbox: Inbox, staff: httpx.AsyncClient) -> None:
    url = f"/inbox/threads/{inbox.seeded.threads['a1']}"
    csrf = csrf_token(ACME_TOKEN)
    cases = [
        ({"action": "archive", "csrf": csrf}, 422),
        ({"action": "status", "status": "archived", "csrf": csrf}, 422),
        ({"action": "note", "note": "  ", "csrf": csrf}, 422),
        ({"action": "assign", "assignee": "x" * 201, "csrf": csrf}, 422),
    ]
    for form, expected in cases:
        response = await staff.post(url, data=form)
        assert response.status_code == expected and "<html" in response.text
    as_json = await staff.post(url, json={"action": "status", "csrf": csrf})
    assert as_json.status_code == 415
    huge = await staff.post(url, content=b"note=" + b"x" * 70_000, headers=FORM)
    assert huge.status_code == 413
    assert (await staff.get("/inbox/threads/99999999999")).status_code == 422
    assert (await staff.get("/inbox?status=nonsense&bounce=perhaps&page=-3")).status_code == 200


async def test_sign_out_forgets_the_cookie(staff: httpx.AsyncClient) -> None:
    page = await staff.get("/inbox")
    out = await staff.post("/inbox/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/inbox/login"
    assert (await staff.get("/inbox")).status_code == 401


async def test_filters_and_pages_on_the_list(inbox: Inbox, staff: httpx.AsyncClient) -> None:
    bounced = (await staff.get("/inbox?bounce=yes")).text
    assert "Invoice INV-1001" in bounced and "Invoice INV-1002" not in bounced
    pending = (await staff.get("/inbox?status=pending")).text
    assert "Invoice INV-1002" in pending and "Invoice INV-1001" not in pending
    beyond = (await staff.get("/inbox?page=2")).text
    assert "No conversations" in beyond


async def test_the_list_charts_the_seeded_numbers(staff: httpx.AsyncClient) -> None:
    page = (await staff.get("/inbox")).text
    assert "<title>22 Nov: 4 sent</title>" in page
    assert "<title>22 Nov: 1 hard bounced</title>" in page
    assert "<title>21 Nov: 1 suppressed</title>" in page
    assert "Sent 7" in page and "Hard bounced 1" in page and "Soft bounced 1" in page
    assert "20.0%  (1 of 5)" in page and "example.net" in page


async def test_open_mode_names_the_tenant_in_the_url(tmp_path: Path, pinned_clock: None) -> None:
    async with inbox_app(tmp_path, tokens=None) as inbox, inbox.client() as client:
        ask = await client.get("/inbox")
        assert ask.status_code == 200 and 'name="tenant"' in ask.text
        assert INBOX_COOKIE in ask.headers["set-cookie"]
        listed = await client.get("/inbox?tenant=acme")
        a1 = inbox.seeded.threads["a1"]
        assert f"/inbox/threads/{a1}?tenant=acme" in listed.text
        url = f"/inbox/threads/{a1}?tenant=acme"
        csrf = csrf_of((await client.get(url)).text)
        done = await client.post(url, data={"action": "status", "status": "pending", "csrf": csrf})
        assert done.headers["location"] == f"{url}&done=saved"
        assert await status_of(inbox, a1) == "pending"
        assert (await client.get("/inbox/login")).headers["location"] == "/inbox"
    async with inbox.client() as stranger:
        forged = await stranger.post(url, data={"action": "status", "status": "closed",
                                                "csrf": csrf})  # fmt: skip
        assert forged.status_code == 403


@pytest.mark.parametrize(
    ("peak", "top", "step"),
    [(0, 4, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (9, 10, 5), (120, 150, 50), (4000, 4000, 1000)],
)
def test_count_axes_end_on_round_whole_numbers(peak: float, top: float, step: float) -> None:
    assert nice_top(peak, whole=True) == (top, step)


@pytest.mark.parametrize(
    ("peak", "top", "step"),
    [(0.2, 0.2, 0.05), (1.0, 1.0, 0.5), (0.03, 0.03, 0.01), (0.07, 0.08, 0.02)],
)
def test_rate_axes_end_on_round_fractions(peak: float, top: float, step: float) -> None:
    assert nice_top(peak) == pytest.approx((top, step))
