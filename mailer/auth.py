"""Who may use the HTTP API and the inbox: per-tenant bearer tokens, or open when none are set."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mailer.errors import ConfigurationError
from mailer.settings import Settings, parse_listen

__all__ = [
    "INBOX_COOKIE",
    "ApiCaller",
    "ApiTenant",
    "Authenticator",
    "Caller",
    "LoginRequired",
    "PageCaller",
    "TokenTable",
    "check_csrf",
    "csrf_token",
    "log_auth_mode",
    "new_session_nonce",
    "parse_tokens",
]

logger = logging.getLogger(__name__)

INBOX_COOKIE = "mailer_inbox"
CSRF_HEADER = "X-CSRF-Token"
MAX_TENANT_LENGTH = 100
SHORT_TOKEN_LENGTH = 16
STAFF_SUFFIX = ":staff"
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
TenantQuery = Annotated[
    str | None,
    Query(max_length=MAX_TENANT_LENGTH, description="The firm; with a token, the token's own."),
]
_bearer = HTTPBearer(auto_error=False, description="The tenant's token from MAILER_API_TOKENS.")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class TokenTable:
    """Tenants and the digests of their tokens; a tenant may hold several (for rotation).

    A token is an admin's unless its entry ends in `:staff`: staff read and work the inbox,
    only admins see and change the tenant's settings (sending, domains, payments)."""

    entries: tuple[tuple[str, bytes, bool], ...] = ()  # (tenant, digest, admin)
    weak: frozenset[str] = frozenset()  # tenants with a token shorter than SHORT_TOKEN_LENGTH

    @property
    def open(self) -> bool:
        return not self.entries

    def tenant_for(self, token: str) -> str | None:
        """The tenant of `token` (see `holder_of`)."""
        holder = self.holder_of(token)
        return holder[0] if holder else None

    def holder_of(self, token: str) -> tuple[str, bool] | None:
        """(tenant, admin) of `token`; every entry is compared, in constant time, so timing
        tells nothing about which (or whether a) prefix matched."""
        given, found = _digest(token), None
        for tenant, digest, admin in self.entries:
            if hmac.compare_digest(given, digest):
                found = (tenant, admin)
        return found


def parse_tokens(value: str | None) -> TokenTable:
    """`tenant:token,tenant:token:staff` -> a TokenTable; errors never echo a token."""
    entries: list[tuple[str, bytes, bool]] = []
    weak: set[str] = set()
    for position, item in enumerate((value or "").split(","), start=1):
        if not item.strip():
            continue
        tenant, sep, token = (part.strip() for part in item.partition(":"))
        admin = True
        if token.endswith(STAFF_SUFFIX):
            token, admin = token.removesuffix(STAFF_SUFFIX).strip(), False
        if not sep or not tenant or not token:
            raise ConfigurationError(
                f"MAILER_API_TOKENS entry {position} is not `tenant:token` or `tenant:token:staff`"
            )
        if len(tenant) > MAX_TENANT_LENGTH:
            raise ConfigurationError(f"MAILER_API_TOKENS entry {position}: tenant name too long")
        if any(hmac.compare_digest(_digest(token), digest) for _, digest, _ in entries):
            raise ConfigurationError(f"MAILER_API_TOKENS entry {position} repeats a token")
        if len(token) < SHORT_TOKEN_LENGTH:
            weak.add(tenant)
        entries.append((tenant, _digest(token), admin))
    return TokenTable(tuple(entries), frozenset(weak))


def csrf_token(cookie_value: str) -> str:
    """The form token that goes with an inbox cookie: useless without the cookie's secret."""
    return hmac.new(cookie_value.encode(), b"mailer-inbox-csrf", hashlib.sha256).hexdigest()


def new_session_nonce() -> str:
    """An open-mode inbox cookie: authenticates nothing, only anchors the CSRF token."""
    return "open." + secrets.token_urlsafe(24)


def log_auth_mode(settings: Settings) -> None:
    """Say at start whether the API is open; open on a non-loopback address is an error."""
    table = parse_tokens(settings.api_tokens.get_secret_value() if settings.api_tokens else None)
    if not table.open:
        tenants = len({tenant for tenant, _digest, _admin in table.entries})
        logger.info("HTTP API and inbox require bearer tokens (%d tenant(s))", tenants)
        for tenant in sorted(table.weak):
            logger.warning("the API token of tenant %r is shorter than 16 characters", tenant)
        return
    host, _port = parse_listen(settings.http_listen)
    level = logging.WARNING if host in LOOPBACK_HOSTS else logging.ERROR
    logger.log(
        level,
        "MAILER_API_TOKENS is not set: the HTTP API and the inbox are OPEN to anyone who can "
        "reach %s, for every tenant%s",
        settings.http_listen,
        "" if host in LOOPBACK_HOSTS else " (and this is not a loopback address)",
    )


class LoginRequired(Exception):
    """An inbox page was asked for without a valid token; the page answers with the login form."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Caller:
    """Who is calling: a tenant's token holder, or anyone (open mode, `tenant` is None)."""

    tenant: str | None
    cookie: str | None = None
    admin: bool = True  # open mode, and tokens not marked `:staff`

    def require_admin(self) -> None:
        """403 for a staff token: the tenant's settings are for its admins only."""
        if not self.admin:
            raise HTTPException(403, "this needs an admin token; staff tokens cannot do this")

    def admin_scope(self, requested: str | None) -> str:
        """`scope` for the tenant's settings (403 for staff tokens)."""
        tenant = self.scope(requested)
        self.require_admin()
        return tenant

    def scope(self, requested: str | None) -> str:
        """The tenant this request acts for; 403 when it names another tenant than the token's."""
        requested = requested.strip() if requested is not None else None
        if self.tenant is None:
            if not requested:
                raise HTTPException(422, [_tenant_error("a tenant is required (?tenant=...)")])
            if len(requested) > MAX_TENANT_LENGTH:
                raise HTTPException(422, [_tenant_error("tenant name too long")])
            return requested
        if requested and requested != self.tenant:
            raise HTTPException(
                403, f"this token belongs to tenant {self.tenant!r}; it cannot act for another"
            )
        return self.tenant


def _tenant_error(message: str) -> dict[str, object]:
    return {"loc": ["query", "tenant"], "msg": message}


class Authenticator:
    """Turns a request into a Caller (or a 401); create_api installs one on the app."""

    def __init__(self, tokens: TokenTable) -> None:
        self.tokens = tokens

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        secret = settings.api_tokens.get_secret_value() if settings.api_tokens else None
        return cls(parse_tokens(secret))

    @property
    def open(self) -> bool:
        return self.tokens.open

    def install(self, app: FastAPI) -> None:
        """Make this the authenticator of the dependencies below for `app`."""
        app.state.authenticator = self

    def login(self, token: str) -> str | None:
        """The tenant of a token typed into the login form."""
        return self.tokens.tenant_for(token.strip()) if token.strip() else None

    def from_cookie(self, request: Request) -> Caller | None:
        """The caller the inbox cookie identifies, or None (open mode: anyone)."""
        cookie = request.cookies.get(INBOX_COOKIE)
        if self.open:
            return Caller(None, cookie)
        holder = self.tokens.holder_of(cookie) if cookie else None
        return Caller(holder[0], cookie, holder[1]) if holder else None

    def api_caller(self, request: Request, bearer: HTTPAuthorizationCredentials | None) -> Caller:
        """The caller of an /api request: bearer token first, else the inbox cookie."""
        if self.open:
            return Caller(None)
        if bearer is not None:
            holder = self.tokens.holder_of(bearer.credentials)
            if holder is None:
                _log_refusal(request, "invalid bearer token")
                raise _unauthorized("invalid token")
            return Caller(holder[0], admin=holder[1])
        caller = self.from_cookie(request)
        if caller is None:
            why = "bad inbox cookie" if INBOX_COOKIE in request.cookies else "no token"
            _log_refusal(request, why)
            raise _unauthorized("a bearer token is required (Authorization: Bearer <token>)")
        if request.method not in _SAFE_METHODS and not _csrf_ok(
            request.headers.get(CSRF_HEADER), caller.cookie
        ):
            raise HTTPException(403, f"cookie-authenticated changes need the {CSRF_HEADER} header")
        return caller

    def page_caller(self, request: Request) -> Caller:
        """The caller of an inbox page; without a valid cookie the login form answers."""
        caller = self.from_cookie(request)
        if caller is None:
            had_cookie = INBOX_COOKIE in request.cookies
            _log_refusal(request, "inbox cookie invalid" if had_cookie else "no inbox cookie")
            raise LoginRequired("Your sign-in is no longer valid." if had_cookie else "")
        return caller


def authenticator(request: Request) -> Authenticator:
    """The app's Authenticator (see Authenticator.install)."""
    found = getattr(request.app.state, "authenticator", None)
    if not isinstance(found, Authenticator):
        raise RuntimeError("no Authenticator installed on this app")
    return found


async def api_caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Dependency: who calls this /api endpoint (401 without a valid token)."""
    return authenticator(request).api_caller(request, bearer)


async def api_tenant(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    tenant: TenantQuery = None,
) -> str:
    """Dependency: the tenant an /api request acts for (`?tenant=`), checked against its token."""
    return authenticator(request).api_caller(request, bearer).scope(tenant)


async def page_caller(request: Request) -> Caller:
    """Dependency: who looks at this inbox page (the login form answers otherwise)."""
    return authenticator(request).page_caller(request)


ApiCaller = Annotated[Caller, Depends(api_caller)]
ApiTenant = Annotated[str, Depends(api_tenant)]
PageCaller = Annotated[Caller, Depends(page_caller)]


def _csrf_ok(given: str | None, cookie: str | None) -> bool:
    return bool(given and cookie and hmac.compare_digest(given, csrf_token(cookie)))


def check_csrf(given: str | None, caller: Caller) -> bool:
    """True when a form's CSRF token matches the caller's inbox cookie."""
    return _csrf_ok(given, caller.cookie)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _log_refusal(request: Request, why: str) -> None:
    peer = request.client.host if request.client else "-"
    logger.warning("refused %s %s from %s: %s", request.method, request.url.path, peer, why)
