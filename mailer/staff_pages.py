"""What the staff pages (inbox, settings) share: rendering, headers, sign-in, CSRF, errors."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailer.auth import (
    INBOX_COOKIE,
    Authenticator,
    Caller,
    check_csrf,
    csrf_token,
    new_session_nonce,
)

__all__ = [
    "EXPIRED",
    "PageError",
    "StaffArea",
    "StaffPages",
    "read_checked_form",
    "read_form",
    "secure",
    "set_session_cookie",
]

MAX_FORM_BYTES = 64 * 1024
COOKIE_MAX_AGE = 30 * 24 * 3600
EXPIRED = "This form has expired. Reload the page and try again."


class PageError(Exception):
    """A staff page that cannot be shown; answered with a readable HTML page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class StaffArea:
    """One staff area: its templates folder and URL (`/<name>`), and the words of its forms."""

    name: str
    login_hint: str
    choose_purpose: str

    @property
    def path(self) -> str:
        return f"/{self.name}"

    @property
    def title(self) -> str:
        return self.name.capitalize()

    @property
    def layout(self) -> str:
        """The area's layout over templates/staff/base.html: its header links and styles."""
        return f"{self.name}/layout.html"


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def _environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


class StaffPages:
    """Renders an area's pages (CSP nonce, CSRF token, open-mode cookie) and its sign-in."""

    def __init__(self, templates_dir: Path, auth: Authenticator, area: StaffArea) -> None:
        self.env = _environment(templates_dir)
        self.auth = auth
        self.area = area

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
            area=self.area,
            nonce=nonce,
            csrf=csrf_token(cookie) if cookie else "",
            signed_in=caller is not None and caller.tenant is not None,
            url=lambda path, **params: self.url(path, tenant, **params),
            **context,
        )
        response = secure(HTMLResponse(html, status_code=code), nonce)
        if new_cookie:
            set_session_cookie(response, new_cookie, https=False)
        return response

    def url(self, path: str, tenant: str | None, **params: object) -> str:
        """A link inside the pages; open mode carries the tenant along, token mode needs not."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        if self.auth.open and tenant:
            query = {"tenant": tenant, **query}
        return f"{path}?{urlencode(query)}" if query else path

    def redirect(
        self, path: str, tenant: str | None, *, fragment: str = "", **params: object
    ) -> Response:
        target = self.url(path, tenant, **params) + (f"#{fragment}" if fragment else "")
        return secure(RedirectResponse(target, status_code=303), "")

    def login_form(self, message: str, code: int = 401) -> Response:
        return self.render("staff/login.html", code, message=message, tenant=None)

    def error_page(self, error: PageError) -> Response:
        return self.render("staff/error.html", error.status, message=error.message, tenant=None)

    async def sign_in(self, request: Request) -> Response:
        """The login form's post: a valid token becomes the session cookie (none in open mode)."""
        token = (await read_form(request)).get("token", "").strip()
        if self.auth.open:
            return self.redirect(self.area.path, None)
        if self.auth.login(token) is None:
            return self.login_form(
                "That token is not valid." if token else "Please paste your token."
            )
        response = self.redirect(self.area.path, None)
        set_session_cookie(response, token, https=request.url.scheme == "https")
        return response

    def tenant_choice(self, request: Request, caller: Caller) -> Response | None:
        """Open mode without `?tenant=`: the form that asks which firm (else None)."""
        if caller.tenant is None and not (request.query_params.get("tenant") or "").strip():
            return self.render("staff/choose_tenant.html", caller=caller, tenant=None)
        return None

    def scope(self, caller: Caller, request: Request) -> str:
        """The firm this request acts for, as a readable page error when it cannot."""
        try:
            return caller.scope(request.query_params.get("tenant"))
        except HTTPException as exc:
            if exc.status_code == 403:
                raise PageError(403, "You are signed in for another firm.") from None
            message = f"Which firm? Open the {self.area.name} with ?tenant=<firm>."
            raise PageError(422, message) from None


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


def set_session_cookie(response: Response, value: str, *, https: bool) -> None:
    """The staff session cookie (a token, or an open-mode nonce), shared by all staff pages."""
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


async def read_checked_form(request: Request, caller: Caller) -> dict[str, str]:
    """A form whose CSRF token matches the caller's cookie (403 otherwise)."""
    form = await read_form(request)
    if not check_csrf(form.get("csrf"), caller):
        raise PageError(403, EXPIRED)
    return form
