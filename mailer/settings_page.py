"""The tenant admins' settings page: how the firm's mail is sent, its domains, and payments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer import domain_service
from mailer import tenant_settings as service
from mailer.auth import Authenticator, Caller, LoginRequired, authenticator
from mailer.catalog import CATALOG
from mailer.domains import InvalidDomain
from mailer.errors import ConfigurationError, MailerError
from mailer.secrets import SecretBox
from mailer.sending_check import SendingChecker
from mailer.sending_check_api import TestSendRequest
from mailer.settings import Settings
from mailer.settings_page_domains import (
    DOMAIN_NOTICES,
    DomainAction,
    domain_panels,
    domain_problem,
    run_domain_action,
)
from mailer.smtp_probe import ProbeOutcome
from mailer.staff_pages import PageError, StaffArea, StaffPages, read_checked_form
from mailer.store import inbox_repository
from mailer.tenant_schemas import PaymentMethod, PaymentSettingsInput, SendingSettingsInput

NOTICES = {"sending": "Sending settings saved.", "payments": "Payment settings saved."}
NOTICES |= DOMAIN_NOTICES
SENDING_TEXT = ("mode", "smtp_host", "smtp_port", "smtp_tls", "smtp_username", "from_email",
                "from_name", "custom_domain", "on_auth_failure")  # fmt: skip
PAYMENT_TEXT = ("gateway", "public_key")
LABELS = {
    "mode": "Route", "smtp_host": "Server", "smtp_port": "Port", "smtp_tls": "Encryption",
    "smtp_username": "User name", "password": "Password", "from_email": "From address",
    "from_name": "From name", "custom_domain": "Sending domain",
    "on_auth_failure": "When the login is refused", "enabled": "Process payments",
    "gateway": "Gateway", "public_key": "Public key", "private_key": "Private key",
    "staff_methods": "Staff application methods", "portal_methods": "Customer portal methods",
    "template": "Email", "to": "Send to",
}  # fmt: skip
SETTINGS = StaffArea(
    "settings",
    login_hint="Paste your firm's access token. You only need to do this once on this browser.",
    choose_purpose="settings you want to change",
)


class SettingsLogin(Exception):
    """The settings page was asked for without a valid sign-in: its login form answers."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def settings_caller(request: Request) -> Caller:
    """Dependency: the signed-in caller of a settings page (its login form answers otherwise)."""
    try:
        caller = authenticator(request).page_caller(request)
    except LoginRequired as exc:
        raise SettingsLogin(exc.message) from None
    caller.require_admin()  # the settings are for the tenant's admins only
    return caller


SettingsCaller = Annotated[Caller, Depends(settings_caller)]


def _secret_field(form: Mapping[str, str], name: str, remove: str) -> dict[str, str | None]:
    """A write-only field of a form: empty keeps the stored secret, the checkbox removes it."""
    if form.get(remove) == "on":
        if form.get(name):
            raise service.InvalidTenantSettings([(name, "either replace it or remove it")])
        return {name: None}
    return {name: form[name]} if form.get(name) else {}


def _filled(form: Mapping[str, str], names: tuple[str, ...]) -> dict[str, Any]:
    """The fields of a form that were filled in; an empty one takes its default (mostly none)."""
    return {name: value for name in names if (value := form.get(name, "").strip())}


def _sending_input(form: Mapping[str, str]) -> SendingSettingsInput:
    data: dict[str, Any] = _filled(form, SENDING_TEXT)
    data |= _secret_field(form, "password", "remove_password")
    return SendingSettingsInput.model_validate(data)


def _payment_input(form: Mapping[str, str]) -> PaymentSettingsInput:
    data: dict[str, Any] = _filled(form, PAYMENT_TEXT)
    data["enabled"] = form.get("enabled") == "on"
    for where in ("staff", "portal"):
        data[f"{where}_methods"] = [m.value for m in PaymentMethod if form.get(f"{where}_{m}")]
    data |= _secret_field(form, "private_key", "remove_private_key")
    return PaymentSettingsInput.model_validate(data)


def _typed(section: str, form: Mapping[str, str]) -> dict[str, Any]:
    """What the admin typed into a section that could not be saved (secrets excluded)."""
    if section == "sending":
        return {name: form.get(name, "") for name in SENDING_TEXT}
    typed: dict[str, Any] = {name: form.get(name, "") for name in PAYMENT_TEXT}
    typed["enabled"] = form.get("enabled") == "on"
    for where in ("staff", "portal"):
        typed[f"{where}_methods"] = [m for m in PaymentMethod if form.get(f"{where}_{m}")]
    return typed


def _problems(exc: Exception) -> list[tuple[str, str]]:
    """Readable (field, message) pairs; never the submitted values."""
    if isinstance(exc, ValidationError):
        found = [(str(e["loc"][0]) if e["loc"] else "", e["msg"]) for e in exc.errors()]
    elif isinstance(exc, service.InvalidTenantSettings):
        found = exc.problems
    else:
        found = [("", str(exc))]
    return [(LABELS.get(name, name), message) for name, message in found]


def _template_title(name: str) -> str:
    """`payment_plan.onboarding` as `Payment plan: onboarding`."""
    return ": ".join(part.replace("_", " ") for part in name.split(".")).capitalize()


TEMPLATES = [(name.value, _template_title(name.value)) for name in CATALOG]


def add_settings_page(
    app: FastAPI,
    sessions: async_sessionmaker[AsyncSession],
    auth: Authenticator,
    box: SecretBox | None,
    templates_dir: Path,
    clock: Callable[[], datetime],
    *,
    settings: Settings,
    checker: Callable[[], SendingChecker | None],
) -> None:
    """Mount /settings on the app: sending, domains, test sends, bounce forwarding, payments."""
    page = StaffPages(templates_dir, auth, SETTINGS)
    router = APIRouter(prefix="/settings", include_in_schema=False)
    domain_config = domain_service.DomainConfig.from_settings(settings)
    bounce_domain = settings.effective_bounce_domain

    @app.exception_handler(SettingsLogin)
    async def _login(_request: Request, exc: SettingsLogin) -> Response:
        return page.login_form(exc.message)

    async def show(
        caller: Caller,
        tenant: str,
        code: int = 200,
        *,
        notice: str | None = None,
        errors: list[tuple[str, str]] | None = None,
        section: str = "",
        form: Mapping[str, str] | None = None,
        tested: ProbeOutcome | None = None,
    ) -> Response:
        async with sessions() as session:
            views = {
                "sending": (await service.get_sending(session, tenant)).model_dump(),
                "payments": (await service.get_payments(session, tenant)).model_dump(),
            }
            domains = domain_panels(
                await domain_service.list_domains(session, tenant), domain_config
            )
            token = await inbox_repository.forwarding_token(session, tenant, clock())
            await session.commit()  # the forwarding address exists from its first showing on
        if section in views and form is not None:  # keep what was typed, except any secret
            views[section] |= _typed(section, form)
        typed = form or {}
        return page.render(
            "settings/page.html",
            code,
            caller=caller,
            tenant=tenant,
            notice=notice,
            errors=errors or [],
            section=section,
            has_key=box is not None,
            domains=domains,
            new_domain=typed.get("domain", "") if section == "domains" else "",
            can_test=checker() is not None,
            templates=TEMPLATES,
            test_form={"template": typed.get("template", ""), "to": typed.get("to", "")},
            tested=tested,
            forwarding=f"forward+{token}@{bounce_domain}",
            **views,
        )

    @router.get("")
    async def settings_page(request: Request, caller: SettingsCaller) -> Response:
        if (ask := page.tenant_choice(request, caller)) is not None:
            return ask
        tenant = page.scope(caller, request)
        return await show(caller, tenant, notice=NOTICES.get(request.query_params.get("done", "")))

    @router.post("/login")
    async def login(request: Request) -> Response:
        return await page.sign_in(request)

    async def save(request: Request, caller: Caller, section: str) -> Response:
        tenant = page.scope(caller, request)
        form = await read_checked_form(request, caller)
        try:
            async with sessions() as session:
                if section == "sending":
                    body = _sending_input(form)
                    await service.put_sending(session, box, tenant, body, clock())
                else:
                    await service.put_payments(session, box, tenant, _payment_input(form), clock())
        except (ValidationError, service.InvalidTenantSettings, ConfigurationError) as exc:
            errors = _problems(exc)
            return await show(caller, tenant, 422, errors=errors, section=section, form=form)
        return page.redirect("/settings", tenant, done=section)

    @router.post("/sending")
    async def save_sending(request: Request, caller: SettingsCaller) -> Response:
        return await save(request, caller, "sending")

    @router.post("/payments")
    async def save_payments(request: Request, caller: SettingsCaller) -> Response:
        return await save(request, caller, "payments")

    @router.post("/domains/{action}")
    async def change_domain(request: Request, caller: SettingsCaller, action: str) -> Response:
        tenant = page.scope(caller, request)
        form = await read_checked_form(request, caller)
        if action not in set(DomainAction):
            raise PageError(404, "There is no such domain form.")
        chosen, domain = DomainAction(action), form.get("domain", "")
        if chosen is DomainAction.REMOVE and form.get("confirm") != "on":
            errors = [("", f"Tick the box to confirm that {domain[:253]} should be removed.")]
            return await show(caller, tenant, 422, errors=errors, section="domains")
        try:
            async with sessions() as session:
                name = await run_domain_action(
                    session, box, tenant, chosen, domain, domain_config, clock()
                )
        except (domain_service.DomainError, InvalidDomain) as exc:
            code, message = domain_problem(exc, domain)
            return await show(caller, tenant, code, errors=[("", message)], section="domains",
                              form=form if chosen is DomainAction.ADD else None)  # fmt: skip
        anchor = "domains" if chosen is DomainAction.REMOVE else f"domain-{name}"
        return page.redirect("/settings", tenant, fragment=anchor, done=f"domain-{chosen}")

    @router.post("/test-send")
    async def test_send(request: Request, caller: SettingsCaller) -> Response:
        """Answered with the page itself: the verdict is not stored anywhere to redirect to."""
        tenant = page.scope(caller, request)
        form = await read_checked_form(request, caller)
        running = checker()
        if running is None:
            errors = [("", "This server does not send mail, so it cannot make a test send.")]
            return await show(caller, tenant, 503, errors=errors, section="test", form=form)
        try:
            body = TestSendRequest.model_validate(
                {"template": form.get("template", ""), "to": form.get("to", "").strip()}
            )
        except ValidationError as exc:
            return await show(caller, tenant, 422, errors=_problems(exc), section="test", form=form)
        try:
            async with sessions() as session:
                outcome = await running.test_send(session, tenant, body.template, body.to)
        except MailerError as exc:
            errors = [("", f"The test send could not be made: {exc}")]
            return await show(caller, tenant, 422, errors=errors, section="test", form=form)
        return await show(caller, tenant, section="test", form=form, tested=outcome)

    app.include_router(router)
