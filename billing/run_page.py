"""The staff pages of billing runs: the list of runs and each run's report with its failures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from billing.api_support import Clock, Sessions
from billing.errors import NotFound
from billing.reports import list_runs, run_report
from billing.schemas import MAX_ID
from mailer.auth import Authenticator, Caller, LoginRequired, authenticator
from mailer.staff_pages import PageError, StaffArea, StaffPages

PAGE_SIZE = 50
RUNS_PATH = "/billing/runs"


@dataclass(frozen=True)
class _RunsArea(StaffArea):
    """The runs live under /billing/runs and wear the inbox's frame (tables, badges)."""

    @property
    def path(self) -> str:
        return RUNS_PATH

    @property
    def title(self) -> str:
        return "Billing runs"

    @property
    def layout(self) -> str:
        return "inbox/layout.html"


RUNS = _RunsArea(
    "billing runs",
    login_hint="Paste the access token your administrator gave you. "
    "You only need to do this once on this browser.",
    choose_purpose="billing runs you want to see",
)


class RunsLogin(Exception):
    """A run page was asked for without a valid sign-in: its login form answers."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def runs_caller(request: Request) -> Caller:
    """Dependency: the signed-in staff member or admin looking at a run page."""
    try:
        return authenticator(request).page_caller(request)
    except LoginRequired as exc:
        raise RunsLogin(exc.message) from None


RunsCaller = Annotated[Caller, Depends(runs_caller)]


def add_run_pages(
    app: FastAPI, sessions: Sessions, auth: Authenticator, templates_dir: Path, clock: Clock
) -> None:
    """Mount /billing/runs (the runs, newest first) and /billing/runs/{id} (one report)."""
    page = StaffPages(templates_dir, auth, RUNS)
    router = APIRouter(prefix=RUNS_PATH, include_in_schema=False)

    @app.exception_handler(RunsLogin)
    async def _login(_request: Request, exc: RunsLogin) -> Response:
        return page.login_form(exc.message)

    if PageError not in app.exception_handlers:  # the inbox installs it when it is mounted

        @app.exception_handler(PageError)
        async def _error(_request: Request, exc: PageError) -> Response:
            return page.error_page(exc)

    @router.get("")
    async def runs(request: Request, caller: RunsCaller) -> Response:
        if (ask := page.tenant_choice(request, caller)) is not None:
            return ask
        tenant = page.scope(caller, request)
        given = request.query_params.get("page", "1")
        number = int(given) if given.isdigit() and 0 < int(given) < 10**6 else 1
        async with sessions() as session:
            found = await list_runs(
                session, tenant, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
            )
        return page.render(
            "billing/runs.html",
            caller=caller,
            tenant=tenant,
            runs=found[:PAGE_SIZE],
            page_number=number,
            has_more=len(found) > PAGE_SIZE,
        )

    @router.post("/login")
    async def login(request: Request) -> Response:
        return await page.sign_in(request)

    @router.get("/{run_id}")
    async def report(request: Request, caller: RunsCaller, run_id: str) -> Response:
        tenant = page.scope(caller, request)
        if not run_id.isdigit() or not 0 < int(run_id) <= MAX_ID:
            raise PageError(404, "There is no such billing run.")
        async with sessions() as session:
            try:
                found = await run_report(session, tenant, int(run_id))
            except NotFound:
                raise PageError(404, "There is no such billing run.") from None
        return page.render(
            "billing/run_report.html", caller=caller, tenant=tenant, run=found, now=clock()
        )

    app.include_router(router)
