"""The staff inbox page: sign-in, threads, conversations, staff actions and suppressions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bounce.reasons import explain_reason
from mailer import inbox_queries as queries
from mailer.auth import INBOX_COOKIE, Authenticator, LoginRequired, PageCaller
from mailer.inbox_api import ThreadDetail, ThreadId
from mailer.inbox_charts import daily_chart, domain_chart
from mailer.inbox_stats import deliverability
from mailer.staff_pages import PageError, StaffArea, StaffPages, read_checked_form
from mailer.store import inbox_repository
from mailer.store.inbox_models import ThreadStatus

PAGE_SIZE = 50
NOTICES = {"saved": "Saved.", "lifted": "Suppression lifted: this address will be mailed again."}
INBOX = StaffArea(
    "inbox",
    login_hint="Paste the access token your administrator gave you. "
    "You only need to do this once on this browser.",
    choose_purpose="inbox you want to see",
)


def inbox_pages(templates_dir: Path, auth: Authenticator) -> StaffPages:
    """The inbox's staff pages, with the number filters its charts use."""
    page = StaffPages(templates_dir, auth, INBOX)
    page.env.filters["number"] = lambda n: f"{int(n):,}"
    page.env.filters["px"] = lambda v: f"{float(v):.1f}".removesuffix(".0")
    return page


def _choice(value: str | None, allowed: Mapping[str, Any]) -> Any:
    return allowed.get((value or "").strip().lower())


def add_inbox_page(
    app: FastAPI,
    sessions: async_sessionmaker[AsyncSession],
    auth: Authenticator,
    templates_dir: Path,
    clock: Callable[[], datetime],
) -> None:
    """Mount /inbox on the app, with its login form and readable error pages."""
    page = inbox_pages(templates_dir, auth)
    router = APIRouter(prefix="/inbox", include_in_schema=False)
    statuses = {s.value: s for s in ThreadStatus}
    bounce_filter = {"yes": True, "no": False}

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, exc: LoginRequired) -> Response:
        return page.login_form(exc.message)

    @app.exception_handler(PageError)
    async def _error(_request: Request, exc: PageError) -> Response:
        """Every staff page's errors, the settings' too, are told in the inbox's frame."""
        return page.error_page(exc)

    @router.get("/login")
    async def login_form() -> Response:
        if auth.open:
            return page.redirect("/inbox", None)
        return page.login_form("", 200)

    @router.post("/login")
    async def login(request: Request) -> Response:
        return await page.sign_in(request)

    @router.post("/logout")
    async def logout(request: Request, caller: PageCaller) -> Response:
        await read_checked_form(request, caller)
        response = page.redirect("/inbox/login", None)
        response.delete_cookie(INBOX_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("")
    async def inbox(request: Request, caller: PageCaller) -> Response:
        if (ask := page.tenant_choice(request, caller)) is not None:
            return ask
        query, tenant = request.query_params, page.scope(caller, request)
        status = _choice(query.get("status"), statuses)
        has_bounce = _choice(query.get("bounce"), bounce_filter)
        number = int(p) if (p := query.get("page", "1")).isdigit() and 0 < int(p) < 10**6 else 1
        async with sessions() as session:
            threads = await queries.list_threads(
                session, tenant, status=status, has_bounce=has_bounce,
                limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE,
            )  # fmt: skip
            stats = await deliverability(session, tenant, today=clock().date())
            suppressed, suppressed_total = await queries.list_suppressions(session, tenant)
        return page.render(
            "inbox/list.html",
            caller=caller,
            tenant=tenant,
            threads=threads,
            page_number=number,
            page_size=PAGE_SIZE,
            status=status.value if status else "",
            bounce=query.get("bounce", "") if has_bounce is not None else "",
            stats=stats,
            daily=daily_chart(stats),
            domains=domain_chart(stats),
            suppressed=suppressed,
            suppressed_total=suppressed_total,
            explain=explain_reason,
            notice=NOTICES.get(query.get("done", "")),
        )

    @router.get("/threads/{thread_id}")
    async def thread(request: Request, caller: PageCaller, thread_id: ThreadId) -> Response:
        tenant = page.scope(caller, request)
        async with sessions() as session:
            found = await queries.get_thread(session, tenant, thread_id)
            if found is None:
                raise PageError(404, "There is no such conversation.")
            detail = ThreadDetail.of(found)
            bounced = {e.bounce.address for e in detail.entries if e.bounce and e.bounce.address}
            suppressed = await inbox_repository.suppressed_addresses(session, tenant, bounced)
        return page.render(
            "inbox/thread.html",
            caller=caller,
            tenant=tenant,
            thread=detail,
            suppressed={address.lower(): address for address in suppressed},
            statuses=list(ThreadStatus),
            notice=NOTICES.get(request.query_params.get("done", "")),
        )

    @router.post("/threads/{thread_id}")
    async def change_thread(request: Request, caller: PageCaller, thread_id: ThreadId) -> Response:
        tenant = page.scope(caller, request)
        form = await read_checked_form(request, caller)
        action = form.get("action", "")
        if action == "status" and form.get("status") not in statuses:
            raise PageError(422, "Choose open, pending or closed.")
        if action == "note" and not form.get("note", "").strip():
            raise PageError(422, "The note is empty.")
        if action not in ("status", "assign", "note"):
            raise PageError(422, "Unknown action.")
        if len(form.get("assignee", "")) > 200 or len(form.get("author", "")) > 200:
            raise PageError(422, "Names are limited to 200 characters.")
        change = queries.ThreadChange(
            status=statuses.get(form.get("status", "")) if action == "status" else None,
            assign=action == "assign",
            assignee=form.get("assignee"),
            note=form.get("note", "")[:20_000] if action == "note" else None,
            author=form.get("author"),
        )
        async with sessions() as session:
            changed = await queries.update_thread(session, tenant, thread_id, change, clock())
        if changed is None:
            raise PageError(404, "There is no such conversation.")
        return page.redirect(f"/inbox/threads/{thread_id}", tenant, done="saved")

    @router.post("/suppressions/lift")
    async def lift(request: Request, caller: PageCaller) -> Response:
        tenant = page.scope(caller, request)
        form = await read_checked_form(request, caller)
        address = form.get("address", "").strip()
        async with sessions() as session:
            lifted = await queries.lift_suppression(
                session, tenant, address[:320], author=form.get("author"), now=clock()
            )
        if lifted is None:
            raise PageError(404, "This address is not suppressed (any more).")
        back = form.get("thread", "")
        if back.isdigit() and 0 < int(back) < 2**31:
            return page.redirect(f"/inbox/threads/{int(back)}", tenant, done="lifted")
        return page.redirect("/inbox", tenant, done="lifted")

    app.include_router(router)
