"""The inbox in headless Chromium: sign in, read a bounce, change status; screenshots kept."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn

from mailer.embedded_nats import free_port
from mailer.store.inbox_models import BounceRecord, Thread
from mailer.store.models import StatusRecord
from tests.integration.conftest import wait_for
from tests.support.inbox import ACME_TOKEN, NOW, TOKENS, Inbox, inbox_app, pin_clock

if TYPE_CHECKING:
    from playwright.async_api import PlaywrightContextManager

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOMAINS = ["gmail.com", "outlook.com", "example.org", "web.de", "yahoo.com", "firma.test"]


def open_playwright() -> PlaywrightContextManager:
    """Playwright, ready to drive Chromium; a missing one fails the test instead of skipping it,
    since `scripts/setup test` installs both (PyPI `playwright`, Debian `chromium`)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install Debian's chromium "
            "(apt-get install chromium, as scripts/setup test does)",
            pytrace=False,
        )
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        missing = str(exc)
    else:
        return async_playwright()
    pytest.fail(
        f"Playwright is missing ({missing}): install the project's test dependencies "
        "(scripts/setup test installs the PyPI package playwright)",
        pytrace=False,
    )


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the test owns the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def add_history(inbox: Inbox) -> None:
    """Thirty days of acme mail with a realistic shape, so the charts have something to show."""
    rows: list[StatusRecord | BounceRecord] = []
    for days_ago in range(30):
        at = NOW - timedelta(days=days_ago, hours=2)
        for n in range(18 + (days_ago * 7) % 13 * 3):
            address = f"c{n}@{DOMAINS[(n + days_ago) % len(DOMAINS)]}"
            rows.append(StatusRecord(tenant="acme", recipient=address, status="sent", at=at))
        for n in range(days_ago % 3):
            address = f"h{n}@{DOMAINS[(n * 2 + days_ago) % 3]}"
            rows.append(BounceRecord(tenant="acme", address=address, hard=True, at=at,
                                     reason="userunknown"))  # fmt: skip
        for n in range(2 if days_ago % 4 == 0 else 0):
            rows.append(BounceRecord(tenant="acme", address=f"s{n}@web.de", hard=False, at=at,
                                     reason="mailboxfull"))  # fmt: skip
        if days_ago % 6 == 1:
            rows.append(StatusRecord(tenant="acme", recipient="x@gmail.com", status="suppressed",
                                     at=at))  # fmt: skip
    async with inbox.runtime.sessions() as session:
        session.add_all(rows)
        await session.commit()


@pytest.fixture
async def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, Inbox]]:
    """The seeded app behind uvicorn on a free loopback port, in this event loop."""
    pin_clock(monkeypatch)
    async with inbox_app(tmp_path, tokens=TOKENS) as inbox:
        await add_history(inbox)
        port = free_port()
        config = uvicorn.Config(
            inbox.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve())
        try:
            await wait_for(lambda: server.started or task.done())
            assert server.started, "uvicorn did not start"
            yield f"http://127.0.0.1:{port}", inbox
        finally:
            server.should_exit = True
            await task


async def test_staff_sign_in_read_a_bounce_and_change_its_status(
    served: tuple[str, Inbox],
) -> None:
    playwright = open_playwright()
    base, inbox = served
    ARTIFACTS.mkdir(exist_ok=True)
    async with playwright as driver:
        browser = await driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            complaints: list[str] = []
            page.on("console", lambda message: complaints.append(message.text))

            await page.goto(f"{base}/inbox")
            await page.fill("#token", ACME_TOKEN)
            await page.click("button:has-text('Sign in')")
            await page.wait_for_url(f"{base}/inbox")
            [cookie] = await context.cookies()
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert await page.locator("figure svg rect.hard").count() > 0
            assert await page.locator("text=Globex confidential").count() == 0
            await page.screenshot(path=str(ARTIFACTS / "inbox-list.png"), full_page=True)

            await page.click("text=Invoice INV-1001")
            bounce = page.locator("article.entry.problem.hard")
            text = await bounce.inner_text()
            assert "The mailbox does not exist. Check the address with the customer." in text
            assert "Hard bounce" in text and "User unknown" in text

            await page.select_option("#status", "pending")
            await page.click("button:has-text('Change status')")
            await page.wait_for_url("**done=saved")
            assert await page.locator(".notice").inner_text() == "Saved."
            assert await page.locator("h1 + p .badge").inner_text() == "Pending"
            await page.screenshot(path=str(ARTIFACTS / "inbox-thread.png"), full_page=True)
            assert not [c for c in complaints if "Content Security Policy" in c], complaints
        finally:
            await browser.close()
    async with inbox.runtime.sessions() as session:
        changed = await session.get(Thread, inbox.seeded.threads["a1"])
        assert changed is not None and changed.status == "pending"
