"""`POST /api/tenants/{tenant}/sending/test`: a sample email through the tenant's configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.auth import ApiCaller
from mailer.events import EmailAddress, TemplateName
from mailer.sending_check import SendingChecker
from mailer.smtp_probe import ProbeVerdict

TenantPath = Annotated[str, Path(min_length=1, max_length=100, description="The firm.")]


class TestSendRequest(BaseModel):
    template: TemplateName = Field(description="Which catalog email to send, with sample data.")
    to: EmailAddress = Field(description="Where to send it.")


class TestSendResult(BaseModel):
    """How the server answered, in plain words, with its own words as detail."""

    ok: bool
    verdict: ProbeVerdict
    summary: str
    detail: str


def sending_check_router(
    sessions: async_sessionmaker[AsyncSession], checker: Callable[[], SendingChecker | None]
) -> APIRouter:
    router = APIRouter(prefix="/api/tenants/{tenant}", tags=["tenant settings"])

    @router.post("/sending/test")
    async def test_send(
        tenant: TenantPath, body: TestSendRequest, caller: ApiCaller
    ) -> TestSendResult:
        """Send a sample of any template to one address, exactly as the tenant's mail goes."""
        tenant = caller.admin_scope(tenant)
        running = checker()
        if running is None:
            raise HTTPException(503, "this process does not send mail (start `mailer run`)")
        async with sessions() as session:
            outcome = await running.test_send(session, tenant, body.template, body.to)
        return TestSendResult(
            ok=outcome.ok, verdict=outcome.verdict, summary=outcome.summary, detail=outcome.detail
        )

    return router
