"""The staff inbox page: sign-in, threads, conversations, staff actions and suppressions."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bounce.reasons import explain_reason
from mailer import inbox_queries as queries
from mailer.auth import (
    INBOX_COOKIE,
    Authenticator,
    Caller,
    LoginRequired,
    PageCaller,
    check_csrf,
    csrf_token,
    new_session_nonce,
)
from mailer.inbox_api import ThreadDetail, ThreadId
from mailer.inbox_charts import daily_chart, domain_chart
from mailer.inbox_stats import deliverability
from mailer.store import inbox_repository
from mailer.store.inbox_models import ThreadStatus

PAGE_SIZE = 50
MAX_FORM_BYTES = 64 * 1024
COOKIE_MAX_AGE = 30 * 24 * 3600
NOTICES = {"saved": "Saved.", "lifted": "Suppression lifted: this address will be mailed again."}


class PageError(Exception):
    """An inbox page that cannot be shown; answered with a readable HTML page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def _environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir / "inbox"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["number"] = lambda n: f"{int(n):,}"
    env.filters["px"] = lambda v: f"{float(v):.1f}".removesuffix(".0")
    return env


class InboxPage:
    """Renders the inbox pages with strict security headers."""

    def __init__(self, templates_dir: Path, auth: Authenticator) -> None:
        self.env = _environment(templates_dir)
        self.auth = auth

    def render(
        self, name: str, code: int = 200, *, caller: Caller | None = None, **context: Any
    ) -> Response:
        nonce = secrets.token_urlsafe(16)
        tenant = context.get("tenant")
        new_cookie = None
        if caller is not None and caller.cookie is None and self.auth.open:
            new_cookie = new_session_nonce()
        cookie = (caller.cookie if caller else None) or new_cookie
        html = self.env.get_template(name).render(
            nonce=nonce,
            csrf=csrf_token(cookie) if cookie else "",
            signed_in=caller is not None and caller.tenant is not None,
            url=lambda path, **params: self.url(path, tenant, **params),
            **context,
        )
        response = secure(HTMLResponse(html, status_code=code), nonce)
        if new_cookie:
            set_inbox_cookie(response, new_cookie, https=False)
        return response

    def url(self, path: str, tenant: str | None, **params: object) -> str:
        """A link inside the inbox; open mode carries the tenant along, token mode needs not."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        if self.auth.open and tenant:
            query = {"tenant": tenant, **query}
        return f"{path}?{urlencode(query)}" if query else path

    def redirect(self, path: str, tenant: str | None, **params: object) -> Response:
        return secure(RedirectResponse(self.url(path, tenant, **params), status_code=303), "")


def secure(response: Response, nonce: str) -> Response:
    """No scripts, no foreign assets, no framing, nothing cached or leaked in referrers."""
    style = f"'nonce-{nonce}'" if nonce else "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {style}; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def set_inbox_cookie(response: Response, value: str, *, https: bool) -> None:
    response.set_cookie(
        INBOX_COOKIE,
        value,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=https,
    )


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the pages post nothing else), first value of each field."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise PageError(415, "The form was not sent as a web form.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "The form is too large.")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _scope(caller: Caller, tenant: str | None) -> str:
    try:
        return caller.scope(tenant)
    except HTTPException as exc:
        if exc.status_code == 403:
            raise PageError(403, "You are signed in for another firm.") from None
        raise PageError(422, "Which firm? Open the inbox with ?tenant=<firm>.") from None


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
    page = InboxPage(templates_dir, auth)
    router = APIRouter(prefix="/inbox", include_in_schema=False)
    statuses = {s.value: s for s in ThreadStatus}
    bounce_filter = {"yes": True, "no": False}

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return page.render("login.html", 401, message=exc.message, tenant=None)

    @app.exception_handler(PageError)
    async def _error(request: Request, exc: PageError) -> Response:
        return page.render("error.html", exc.status, message=exc.message, tenant=None)

    @router.get("/login")
    async def login_form() -> Response:
        if auth.open:
            return page.redirect("/inbox", None)
        return page.render("login.html", message="", tenant=None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        token = (await read_form(request)).get("token", "").strip()
        if auth.open:
            return page.redirect("/inbox", None)
        if auth.login(token) is None:
            message = "That token is not valid." if token else "Please paste your token."
            return page.render("login.html", 401, message=message, tenant=None)
        response = page.redirect("/inbox", None)
        set_inbox_cookie(response, token, https=request.url.scheme == "https")
        return response

    @router.post("/logout")
    async def logout(request: Request, caller: PageCaller) -> Response:
        if not check_csrf((await read_form(request)).get("csrf"), caller):
            raise PageError(403, "This form has expired. Reload the page and try again.")
        response = page.redirect("/inbox/login", None)
        response.delete_cookie(INBOX_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("")
    async def inbox(request: Request, caller: PageCaller) -> Response:
        query = request.query_params
        if caller.tenant is None and not (query.get("tenant") or "").strip():
            return page.render("choose_tenant.html", caller=caller, tenant=None)
        tenant = _scope(caller, query.get("tenant"))
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
            "list.html",
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
        tenant = _scope(caller, request.query_params.get("tenant"))
        async with sessions() as session:
            found = await queries.get_thread(session, tenant, thread_id)
            if found is None:
                raise PageError(404, "There is no such conversation.")
            detail = ThreadDetail.of(found)
            bounced = {e.bounce.address for e in detail.entries if e.bounce and e.bounce.address}
            suppressed = await inbox_repository.suppressed_addresses(session, tenant, bounced)
        return page.render(
            "thread.html",
            caller=caller,
            tenant=tenant,
            thread=detail,
            suppressed={address.lower(): address for address in suppressed},
            statuses=list(ThreadStatus),
            notice=NOTICES.get(request.query_params.get("done", "")),
        )

    @router.post("/threads/{thread_id}")
    async def change_thread(request: Request, caller: PageCaller, thread_id: ThreadId) -> Response:
        tenant = _scope(caller, request.query_params.get("tenant"))
        form = await read_form(request)
        if not check_csrf(form.get("csrf"), caller):
            raise PageError(403, "This form has expired. Reload the page and try again.")
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
        tenant = _scope(caller, request.query_params.get("tenant"))
        form = await read_form(request)
        if not check_csrf(form.get("csrf"), caller):
            raise PageError(403, "This form has expired. Reload the page and try again.")
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
