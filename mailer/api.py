"""The HTTP API: a door to `mail.send`, the message log, template settings and health."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.specification import AsyncAPI
from pydantic import BaseModel, ConfigDict, Field

from billing.api import add_billing
from mailer.auth import ApiCaller, Authenticator, log_auth_mode
from mailer.bootstrap import Runtime
from mailer.broker import AnyBroker
from mailer.catalog import CATALOG
from mailer.domain_api import domain_api_router
from mailer.events import DeliveryStatus, TemplateName
from mailer.inbox_api import inbox_api_router
from mailer.inbox_page import add_inbox_page
from mailer.intake import InvalidEvent, parse_event
from mailer.mailbox_api import mailbox_api_router
from mailer.render import default_templates_dir
from mailer.secrets import SecretBox
from mailer.sending_check_api import sending_check_router
from mailer.settings_page import add_settings_page
from mailer.store import repository
from mailer.store.models import TemplateSetting
from mailer.tenant_api import tenant_settings_router

TenantParam = Annotated[str, Query(min_length=1, max_length=100, description="The firm.")]


class Accepted(BaseModel):
    """The event was valid and is on its way through the broker."""

    request_id: str
    tenant: str
    status: str = "accepted"


class StatusEntry(BaseModel):
    """One status change of one recipient."""

    model_config = ConfigDict(from_attributes=True)

    message_id: str | None
    recipient: str | None
    status: DeliveryStatus
    smtp_code: int | None
    enhanced_status: str | None
    detail: str | None
    at: datetime


class RecipientState(BaseModel):
    """Where one recipient stands now."""

    model_config = ConfigDict(from_attributes=True)

    address: str
    kind: str
    status: DeliveryStatus
    smtp_code: int | None
    enhanced_status: str | None
    detail: str | None
    updated_at: datetime


class MessageLog(BaseModel):
    """A request's current state and its whole status history."""

    request_id: str
    tenant: str
    template: str | None
    message_id: str | None
    thread: str | None
    recipients: list[RecipientState]
    history: list[StatusEntry]


class TemplateSettingsBody(BaseModel):
    """A tenant's choice for one template; null keeps the catalog default."""

    enabled: bool | None = Field(default=None, description="Send this email at all.")
    attach_pdf: bool | None = Field(default=None, description="Attach the document's PDF.")


class TemplateSettingsView(TemplateSettingsBody):
    template: TemplateName
    enabled_by_default: bool
    attach_pdf_by_default: bool
    effective_enabled: bool
    effective_attach_pdf: bool


def create_api(runtime: Runtime) -> FastAPI:
    """The FastAPI application bound to a running runtime."""
    app = FastAPI(
        title="Invoice mailer",
        version="1",
        description="Send events become rendered, DKIM-signed emails with their PDF.",
    )

    auth = Authenticator.from_settings(runtime.settings)
    auth.install(app)
    log_auth_mode(runtime.settings)

    @app.exception_handler(RequestValidationError)
    async def _readable_422(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": jsonable_errors(exc.errors())})

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        """200 once the broker and the store answer, 503 before."""
        ok = await runtime.ready()
        return JSONResponse({"status": "ok" if ok else "starting"}, status_code=200 if ok else 503)

    @app.post("/api/send", status_code=202, response_model=Accepted, tags=["send"])
    async def send(request: Request, caller: ApiCaller) -> Accepted:
        """Validate a send event and publish it on `mail.send` (same JSON as the broker takes)."""
        body = await request.body()
        try:
            event = parse_event(body)
        except InvalidEvent as invalid:
            raise HTTPException(status_code=422, detail=invalid.reason) from None
        caller.scope(event.tenant)
        await runtime.publisher.publish_send(body)
        return Accepted(request_id=event.id, tenant=event.tenant)

    @app.get("/api/messages", response_model=MessageLog, tags=["messages"])
    async def messages(
        tenant: TenantParam,
        request_id: Annotated[str, Query(min_length=1, max_length=200)],
        caller: ApiCaller,
    ) -> MessageLog:
        """The stored log of one request: recipients now, and every status change."""
        caller.scope(tenant)
        async with runtime.sessions() as session:
            stored = await repository.find_request(session, tenant, request_id)
            history = await repository.status_history(session, tenant, request_id)
        if stored is None and not history:
            raise HTTPException(404, f"no request {request_id!r} for tenant {tenant!r}")
        return MessageLog(
            request_id=request_id,
            tenant=tenant,
            template=stored.template if stored else None,
            message_id=stored.message_id if stored else None,
            thread=stored.thread if stored else None,
            recipients=[
                RecipientState.model_validate(r) for r in (stored.recipients if stored else [])
            ],
            history=[StatusEntry.model_validate(record) for record in history],
        )

    @app.get("/api/tenants/{tenant}/templates", tags=["templates"])
    async def list_templates(tenant: str, caller: ApiCaller) -> list[TemplateSettingsView]:
        """Every catalog template with the tenant's overrides and the resulting behaviour."""
        caller.scope(tenant)
        async with runtime.sessions() as session:
            overrides = {s.template: s for s in await repository.template_settings(session, tenant)}
        return [_template_view(name, overrides.get(name.value)) for name in CATALOG]

    @app.put("/api/tenants/{tenant}/templates/{template}", tags=["templates"])
    async def put_template(
        tenant: str, template: TemplateName, body: TemplateSettingsBody, caller: ApiCaller
    ) -> TemplateSettingsView:
        """Switch a template on or off, or choose whether it attaches its PDF, for one tenant."""
        caller.admin_scope(tenant)
        async with runtime.sessions() as session:
            setting = await repository.template_setting(session, tenant, template.value)
            if setting is None:
                setting = TemplateSetting(tenant=tenant, template=template.value)
                session.add(setting)
            setting.enabled, setting.attach_pdf = body.enabled, body.attach_pdf
            await session.commit()
        return _template_view(template, setting)

    @app.get("/asyncapi.json", tags=["operations"], include_in_schema=False)
    async def asyncapi() -> JSONResponse:
        """The AsyncAPI document of the broker contract (`mail.send`, `mail.status`)."""
        return JSONResponse(json.loads(asyncapi_document(runtime.broker)))

    app.include_router(inbox_api_router(runtime.sessions, _now))
    app.include_router(domain_api_router(runtime.sessions, runtime.settings, _now))
    app.include_router(
        mailbox_api_router(runtime.sessions, runtime.settings.effective_bounce_domain, _now)
    )
    add_inbox_page(app, runtime.sessions, auth, default_templates_dir(), _now)
    secret_box = SecretBox.from_settings(runtime.settings)
    app.include_router(tenant_settings_router(runtime.sessions, secret_box, _now))
    app.include_router(sending_check_router(runtime.sessions, lambda: runtime.checker))
    add_billing(
        app,
        runtime.sessions,
        _now,
        pdfs=lambda: runtime.pdfs,
        auth=auth,
        templates_dir=default_templates_dir(),
    )
    add_settings_page(
        app,
        runtime.sessions,
        auth,
        secret_box,
        default_templates_dir(),
        _now,
        settings=runtime.settings,
        checker=lambda: runtime.checker,
    )
    return app


def _now() -> datetime:
    """The inbox's clock (tests replace it to pin "today")."""
    return datetime.now(UTC)


def asyncapi_document(broker: AnyBroker) -> str:
    """FastStream's AsyncAPI 3.0 document for a broker with the send consumer registered."""
    spec = AsyncAPI(
        broker,
        title="Invoice mailer events",
        version="1",
        description="Publish send events on mail.send; outcomes arrive on mail.status.",
        schema_version="3.0.0",
    )
    return str(spec.to_specification().to_json())


def _template_view(name: TemplateName, setting: TemplateSetting | None) -> TemplateSettingsView:
    spec = CATALOG[name]
    enabled = setting.enabled if setting else None
    attach = setting.attach_pdf if setting else None
    return TemplateSettingsView(
        template=name,
        enabled=enabled,
        attach_pdf=attach,
        enabled_by_default=spec.enabled_by_default,
        attach_pdf_by_default=spec.attach_pdf_by_default,
        effective_enabled=spec.enabled_by_default if enabled is None else enabled,
        effective_attach_pdf=spec.can_attach_pdf
        and (spec.attach_pdf_by_default if attach is None else attach),
    )


def jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without the raw input echoed back (it may hold secrets)."""
    return [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "invalid"))}
        for error in errors
    ]
