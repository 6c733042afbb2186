"""The API of a tenant's custom sending domains: records to publish, DNS checks, key rotation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer import domain_service as service
from mailer.auth import ApiCaller
from mailer.domains import ExpectedRecord, InvalidDomain
from mailer.secrets import SecretBox
from mailer.settings import Settings
from mailer.store.domain_models import DkimKey, SendingDomain

DomainName = Annotated[str, Path(min_length=1, max_length=253, description="The domain.")]


class NewDomain(BaseModel):
    """A domain the tenant wants to send from."""

    domain: str = Field(min_length=1, max_length=253, examples=["billing.example.com"])


class RecordView(BaseModel):
    """A DNS record to publish; a TXT value longer than 255 bytes goes as several strings."""

    purpose: str = Field(description="dkim, spf, dmarc or return_path.")
    name: str
    type: str
    value: str
    strings: list[str] = Field(description="The TXT value as DNS character-strings.")
    required: bool = Field(description="False for DMARC: advised, not needed to verify.")
    selector: str | None = None
    alternatives: list[str] = Field(description="Other types accepted (MX for the return path).")


class CheckView(BaseModel):
    """What the last verification found for one record."""

    purpose: str
    name: str
    type: str
    selector: str | None
    required: bool
    state: str = Field(description="ok, missing, wrong or lookup_failed.")
    expected: str
    found: list[str] = Field(description="What the DNS holds at that name.")
    detail: str


class KeyView(BaseModel):
    """A DKIM key, without its private part."""

    selector: str
    state: str = Field(description="pending (waiting for its DNS record), active or retired.")
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None


class DomainView(BaseModel):
    """A sending domain, what to publish for it, and what the last check found."""

    domain: str
    status: str = Field(description="pending, verified or failed.")
    created_at: datetime
    verified_at: datetime | None
    last_checked_at: datetime | None
    keys: list[KeyView]
    records: list[RecordView]
    last_check: list[CheckView] | None


def _record_view(record: ExpectedRecord) -> RecordView:
    return RecordView(
        purpose=record.purpose.value,
        name=record.name,
        type=record.type,
        value=record.value,
        strings=list(record.strings),
        required=record.required,
        selector=record.selector,
        alternatives=list(record.alternatives),
    )


def _key_view(key: DkimKey) -> KeyView:
    return KeyView(
        selector=key.selector,
        state=key.state,
        created_at=key.created_at,
        activated_at=key.activated_at,
        retired_at=key.retired_at,
    )


def domain_view(row: SendingDomain, config: service.DomainConfig) -> DomainView:
    checks: list[dict[str, Any]] | None = row.last_check
    return DomainView(
        domain=row.domain,
        status=row.status,
        created_at=row.created_at,
        verified_at=row.verified_at,
        last_checked_at=row.last_checked_at,
        keys=[_key_view(key) for key in row.keys],
        records=[_record_view(r) for r in service.records_to_publish(row, config)],
        last_check=[CheckView.model_validate(c) for c in checks] if checks is not None else None,
    )


def _http_error(exc: service.DomainError | InvalidDomain) -> HTTPException:
    if isinstance(exc, service.DomainNotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, service.DomainConflict):
        return HTTPException(409, str(exc))
    if isinstance(exc, service.SecretsUnavailable):
        return HTTPException(503, str(exc))
    return HTTPException(422, str(exc))


def domain_api_router(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Callable[[], datetime],
) -> APIRouter:
    """Routes under /api/tenants/{tenant}/domains, each scoped to the caller's tenant."""
    router = APIRouter(prefix="/api/tenants/{tenant}/domains", tags=["domains"])
    config = service.DomainConfig.from_settings(settings)
    box = SecretBox.from_settings(settings)

    @router.post("", status_code=201)
    async def add_domain(tenant: str, body: NewDomain, caller: ApiCaller) -> DomainView:
        """Add a domain: a new DKIM key is made, and the records to publish are returned."""
        tenant = caller.admin_scope(tenant)
        async with sessions() as session:
            try:
                row = await service.add_domain(session, box, tenant, body.domain, now=clock())
            except (service.DomainError, InvalidDomain) as exc:
                raise _http_error(exc) from None
            return domain_view(row, config)

    @router.get("")
    async def list_domains(tenant: str, caller: ApiCaller) -> list[DomainView]:
        """The tenant's sending domains."""
        tenant = caller.admin_scope(tenant)
        async with sessions() as session:
            rows = await service.list_domains(session, tenant)
            return [domain_view(row, config) for row in rows]

    @router.get("/{domain}")
    async def get_domain(tenant: str, domain: DomainName, caller: ApiCaller) -> DomainView:
        """The records to publish, the domain's status and the last check's findings."""
        tenant = caller.admin_scope(tenant)
        async with sessions() as session:
            try:
                return domain_view(await service.get_domain(session, tenant, domain), config)
            except service.DomainError as exc:
                raise _http_error(exc) from None

    @router.post("/{domain}/verify")
    async def verify_domain(tenant: str, domain: DomainName, caller: ApiCaller) -> DomainView:
        """Look the records up in the DNS now; each is reported ok, missing, wrong or
        lookup_failed, and the domain is verified once DKIM, SPF and the return path are ok."""
        tenant = caller.admin_scope(tenant)
        async with sessions() as session:
            try:
                row, _checks = await service.verify(session, tenant, domain, config, now=clock())
            except service.DomainError as exc:
                raise _http_error(exc) from None
            return domain_view(row, config)

    @router.post("/{domain}/rotate")
    async def rotate_key(tenant: str, domain: DomainName, caller: ApiCaller) -> DomainView:
        """Start a key rotation: a new selector to publish; the current key signs until the
        new record verifies."""
        tenant = caller.admin_scope(tenant)
        async with sessions() as session:
            try:
                await service.rotate(session, box, tenant, domain, now=clock())
                row = await service.get_domain(session, tenant, domain)
            except service.DomainError as exc:
                raise _http_error(exc) from None
            return domain_view(row, config)

    @router.delete("/{domain}", status_code=204)
    async def delete_domain(tenant: str, domain: DomainName, caller: ApiCaller) -> Response:
        """Remove the domain and its keys; mail from it is refused afterwards."""
        tenant = caller.admin_scope(tenant)
        async with sessions() as session:
            try:
                await service.remove_domain(session, tenant, domain)
            except service.DomainError as exc:
                raise _http_error(exc) from None
        return Response(status_code=204)

    return router


__all__ = ["DomainView", "domain_api_router", "domain_view"]
