"""The JSON API of a tenant's sending and payment settings; secrets are write-only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer import tenant_settings as service
from mailer.auth import ApiCaller
from mailer.errors import ConfigurationError
from mailer.secrets import SecretBox
from mailer.tenant_schemas import (
    PaymentSettingsInput,
    PaymentSettingsView,
    SendingSettingsInput,
    SendingSettingsView,
)

TenantPath = Annotated[str, Path(min_length=1, max_length=100, description="The firm.")]


def problems_detail(exc: service.InvalidTenantSettings) -> list[dict[str, object]]:
    """The 422 body of broken rules, shaped like FastAPI's validation errors."""
    return [{"loc": ["body", name], "msg": message} for name, message in exc.problems]


def _refusal(exc: service.InvalidTenantSettings | ConfigurationError, secret: str) -> HTTPException:
    """422 for settings that cannot be stored; a ConfigurationError here concerns a secret."""
    if isinstance(exc, service.InvalidTenantSettings):
        return HTTPException(422, problems_detail(exc))
    return HTTPException(422, [{"loc": ["body", secret], "msg": str(exc)}])


def tenant_settings_router(
    sessions: async_sessionmaker[AsyncSession],
    box: SecretBox | None,
    clock: Callable[[], datetime],
) -> APIRouter:
    """`GET/PUT /api/tenants/{tenant}/sending` and `/payments`, for the caller's own tenant."""
    router = APIRouter(prefix="/api/tenants/{tenant}", tags=["tenant settings"])

    @router.get("/sending")
    async def get_sending(tenant: TenantPath, caller: ApiCaller) -> SendingSettingsView:
        """How the tenant's mail is sent; the password shows only as set (and since when)."""
        tenant = caller.admin_scope(tenant)
        async with sessions() as session:
            return await service.get_sending(session, tenant)

    @router.put("/sending")
    async def put_sending(
        tenant: TenantPath, body: SendingSettingsInput, caller: ApiCaller
    ) -> SendingSettingsView:
        """Choose the shared relay (optionally from an own domain) or the tenant's own SMTP.

        `password` absent or `"********"` keeps the stored one, null removes it."""
        tenant = caller.admin_scope(tenant)
        try:
            async with sessions() as session:
                return await service.put_sending(session, box, tenant, body, clock())
        except (service.InvalidTenantSettings, ConfigurationError) as exc:
            raise _refusal(exc, "password") from None

    @router.get("/payments")
    async def get_payments(tenant: TenantPath, caller: ApiCaller) -> PaymentSettingsView:
        """The tenant's payment processing; the private key shows only as set."""
        tenant = caller.admin_scope(tenant)
        async with sessions() as session:
            return await service.get_payments(session, tenant)

    @router.put("/payments")
    async def put_payments(
        tenant: TenantPath, body: PaymentSettingsInput, caller: ApiCaller
    ) -> PaymentSettingsView:
        """Switch payment processing on or off, with gateway, keys and accepted methods.

        `private_key` absent or `"********"` keeps the stored one, null removes it."""
        tenant = caller.admin_scope(tenant)
        try:
            async with sessions() as session:
                return await service.put_payments(session, box, tenant, body, clock())
        except (service.InvalidTenantSettings, ConfigurationError) as exc:
            raise _refusal(exc, "private_key") from None

    return router
