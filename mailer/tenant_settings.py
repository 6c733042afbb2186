"""A tenant's sending and payment settings: validation, write-only secrets, the sender's view.

Secrets (the SMTP password, the payment private key) are write-only: a view shows only whether
one is set, since when, and `SECRET_MASK` in its place. On writing, an absent field or the mask
keeps the stored secret, `null` clears it, anything else replaces it, encrypted with the
`SecretBox` of MAILER_SECRET_KEY. Only `sending_config` and `payment_config` decrypt, for the
transport and the billing core.

MailerError
└── InvalidTenantSettings    the settings break a rule; `problems` says which field and why
(and mailer.secrets.SecretKeyError, a ConfigurationError, when a secret cannot be stored or read)
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime
from typing import TypeVar

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.errors import MailerError
from mailer.secrets import SecretBox, SecretKeyError
from mailer.store.tenant_models import TenantPayments, TenantSending
from mailer.tenant_schemas import (
    SECRET_MASK,
    AuthFailurePolicy,
    PaymentMethod,
    PaymentSettingsInput,
    PaymentSettingsView,
    SendingMode,
    SendingSettingsInput,
    SendingSettingsView,
    SmtpTls,
    TenantPaymentConfig,
    TenantSendingConfig,
)

__all__ = [
    "SECRET_MASK",
    "InvalidTenantSettings",
    "TenantPaymentConfig",
    "TenantSendingConfig",
    "get_payments",
    "get_sending",
    "mark_broken",
    "payment_config",
    "put_payments",
    "put_sending",
    "record_health",
    "rotate_secrets",
    "sending_config",
]

logger = logging.getLogger(__name__)

MAX_DETAIL_LENGTH = 1000
NO_KEY_MESSAGE = "secrets cannot be stored: set MAILER_SECRET_KEY (`mailer secret-key` makes one)"
SMTP_PASSWORD, PAYMENT_PRIVATE_KEY = "smtp_password", "payment_private_key"
_SENDING_FIELDS = ("mode", "smtp_host", "smtp_port", "smtp_tls", "smtp_username", "from_email",
                   "from_name", "custom_domain", "on_auth_failure")  # fmt: skip
_CONNECTION_FIELDS = _SENDING_FIELDS[:5]
_Row = TypeVar("_Row", TenantSending, TenantPayments)


class InvalidTenantSettings(MailerError):
    """Settings that break a rule; `problems` lists (field, message), never a secret's value."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problems = problems


def _context(tenant: str, name: str) -> str:
    """The associated data that binds a secret to its tenant and field."""
    return f"tenant:{tenant}:{name}"


def _write_secret(
    box: SecretBox | None, given: SecretStr | None, written: bool, stored: str | None, context: str
) -> tuple[str | None, bool]:
    """(the token to store, whether it changed) for a write-only field."""
    if not written or (given is not None and given.get_secret_value() == SECRET_MASK):
        return stored, False
    if given is None:
        return None, stored is not None
    if box is None:
        raise SecretKeyError(NO_KEY_MESSAGE)
    return box.encrypt(given.get_secret_value(), context=context), True


def _read_secret(box: SecretBox | None, token: str | None, context: str) -> SecretStr | None:
    if token is None:
        return None
    if box is None:
        raise SecretKeyError(f"the secret {context!r} is stored but MAILER_SECRET_KEY is not set")
    return SecretStr(box.decrypt(token, context=context))


async def _find(session: AsyncSession, model: type[_Row], tenant: str) -> _Row | None:
    found = await session.execute(select(model).where(model.tenant == tenant))
    return found.scalar_one_or_none()


async def _create(session: AsyncSession, model: type[_Row], tenant: str, now: datetime) -> _Row:
    """A new row for the tenant; when a concurrent request created one first, that one."""
    row = model(tenant=tenant, updated_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = await _find(session, model, tenant)
        if found is None:
            raise
        return found
    return row


async def get_sending(session: AsyncSession, tenant: str) -> SendingSettingsView:
    """The tenant's sending settings (the shared relay when it never saved any)."""
    return SendingSettingsView.of(tenant, await _find(session, TenantSending, tenant))


async def get_payments(session: AsyncSession, tenant: str) -> PaymentSettingsView:
    """The tenant's payment settings (switched off when it never saved any)."""
    return PaymentSettingsView.of(tenant, await _find(session, TenantPayments, tenant))


def _sending_problems(body: SendingSettingsInput, has_password: bool) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if body.mode is SendingMode.OWN_SMTP:
        for name in ("smtp_host", "smtp_port", "smtp_tls", "from_email"):
            if getattr(body, name) is None:
                problems.append((name, "is required to send through your own SMTP server"))
        if has_password and not body.smtp_username:
            problems.append(("smtp_username", "is required with a password"))
        if body.smtp_username and not has_password:
            problems.append(("password", "is required with a username"))
    elif body.custom_domain:
        domain = (body.from_email or "").rpartition("@")[2].lower()
        if domain != body.custom_domain:
            problems.append(("from_email", f"must be an address at {body.custom_domain}"))
    return problems


async def put_sending(
    session: AsyncSession,
    box: SecretBox | None,
    tenant: str,
    body: SendingSettingsInput,
    now: datetime,
) -> SendingSettingsView:
    """Validate and store (commit) a tenant's sending settings; the password is write-only."""
    row = await _find(session, TenantSending, tenant)
    written = "password" in body.model_fields_set
    stored = row.smtp_password if row else None
    context = _context(tenant, SMTP_PASSWORD)
    token, password_changed = _write_secret(box, body.password, written, stored, context)
    if problems := _sending_problems(body, token is not None):
        raise InvalidTenantSettings(problems)
    row = row or await _create(session, TenantSending, tenant, now)
    before = tuple(getattr(row, name) for name in _CONNECTION_FIELDS)
    for name in _SENDING_FIELDS:
        value = getattr(body, name)
        setattr(row, name, value.value if isinstance(value, enum.Enum) else value)
    row.smtp_password, row.updated_at = token, now
    if password_changed:
        row.smtp_password_set_at = now if token else None
    if password_changed or before != tuple(getattr(row, name) for name in _CONNECTION_FIELDS):
        row.broken_at = row.broken_reason = None  # a changed server or login deserves a new try
    await session.commit()
    change = ("replaced" if token else "removed") if password_changed else "unchanged"
    logger.info("tenant %r saved sending settings: %s, password %s", tenant, row.mode, change)
    return SendingSettingsView.of(tenant, row)


def _payment_problems(body: PaymentSettingsInput, has_key: bool) -> list[tuple[str, str]]:
    if not body.enabled:
        return []
    problems = [
        (name, "is required to enable payment processing")
        for name, present in (
            ("gateway", body.gateway),
            ("public_key", body.public_key),
            ("private_key", has_key),
        )
        if not present
    ]
    if not (body.staff_methods or body.portal_methods):
        problems.append(("enabled", "needs at least one payment method, for staff or the portal"))
    return problems


async def put_payments(
    session: AsyncSession,
    box: SecretBox | None,
    tenant: str,
    body: PaymentSettingsInput,
    now: datetime,
) -> PaymentSettingsView:
    """Validate and store (commit) a tenant's payment settings; the private key is write-only."""
    row = await _find(session, TenantPayments, tenant)
    written = "private_key" in body.model_fields_set
    stored = row.private_key if row else None
    context = _context(tenant, PAYMENT_PRIVATE_KEY)
    token, key_changed = _write_secret(box, body.private_key, written, stored, context)
    if problems := _payment_problems(body, token is not None):
        raise InvalidTenantSettings(problems)
    row = row or await _create(session, TenantPayments, tenant, now)
    row.enabled, row.gateway, row.public_key = body.enabled, body.gateway, body.public_key
    row.staff_methods = [method.value for method in body.staff_methods]
    row.portal_methods = [method.value for method in body.portal_methods]
    row.private_key, row.updated_at = token, now
    if key_changed:
        row.private_key_set_at = now if token else None
    await session.commit()
    logger.info("tenant %r saved payment settings: enabled %s", tenant, row.enabled)
    return PaymentSettingsView.of(tenant, row)


async def sending_config(
    session: AsyncSession, box: SecretBox | None, tenant: str
) -> TenantSendingConfig | None:
    """The tenant's sending settings with the password decrypted; None: the shared defaults.

    Raises SecretKeyError when a stored password cannot be decrypted: never send garbage."""
    row = await _find(session, TenantSending, tenant)
    if row is None:
        return None
    return TenantSendingConfig(
        tenant=tenant,
        mode=SendingMode(row.mode),
        on_auth_failure=AuthFailurePolicy(row.on_auth_failure),
        from_email=row.from_email,
        from_name=row.from_name,
        custom_domain=row.custom_domain,
        broken_at=row.broken_at,
        smtp_host=row.smtp_host,
        smtp_port=row.smtp_port,
        smtp_tls=SmtpTls(row.smtp_tls) if row.smtp_tls else None,
        smtp_username=row.smtp_username,
        smtp_password=_read_secret(box, row.smtp_password, _context(tenant, SMTP_PASSWORD)),
    )


async def payment_config(
    session: AsyncSession, box: SecretBox | None, tenant: str
) -> TenantPaymentConfig | None:
    """The tenant's payment settings with the private key decrypted; None: switched off."""
    row = await _find(session, TenantPayments, tenant)
    if row is None:
        return None
    return TenantPaymentConfig(
        tenant=tenant,
        enabled=row.enabled,
        gateway=row.gateway,
        public_key=row.public_key,
        staff_methods=tuple(PaymentMethod(m) for m in row.staff_methods),
        portal_methods=tuple(PaymentMethod(m) for m in row.portal_methods),
        private_key=_read_secret(box, row.private_key, _context(tenant, PAYMENT_PRIVATE_KEY)),
    )


async def mark_broken(session: AsyncSession, tenant: str, reason: str, now: datetime) -> bool:
    """Record that the tenant's own SMTP server refused the login (535); False: no settings.

    Flushes only: the caller commits, together with its own status changes."""
    row = await _find(session, TenantSending, tenant)
    if row is None:
        return False
    row.broken_at, row.broken_reason = now, reason[:MAX_DETAIL_LENGTH]
    await session.flush()
    held = row.on_auth_failure != AuthFailurePolicy.FALLBACK_SHARED.value
    logger.warning(
        "tenant %r: its SMTP server refused the login; its mail is %s",
        tenant,
        "held" if held else "sent through the shared relay",
    )
    return True


async def record_health(
    session: AsyncSession, tenant: str, ok: bool, detail: str, now: datetime
) -> bool:
    """Record a check of the tenant's SMTP server; a good one clears the broken mark.

    Flushes only: the caller commits. False when the tenant has no sending settings."""
    row = await _find(session, TenantSending, tenant)
    if row is None:
        return False
    row.last_check_at, row.last_check_ok = now, ok
    row.last_check_detail = detail[:MAX_DETAIL_LENGTH]
    if ok:
        row.broken_at = row.broken_reason = None
    await session.flush()
    return True


async def rotate_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every secret stored under an older key with the current one (commits)."""
    rotated = 0
    for sending in (await session.execute(select(TenantSending))).scalars():
        if sending.smtp_password and box.needs_rotation(sending.smtp_password):
            context = _context(sending.tenant, SMTP_PASSWORD)
            sending.smtp_password = box.reencrypt(sending.smtp_password, context)
            rotated += 1
    for payments in (await session.execute(select(TenantPayments))).scalars():
        if payments.private_key and box.needs_rotation(payments.private_key):
            context = _context(payments.tenant, PAYMENT_PRIVATE_KEY)
            payments.private_key = box.reencrypt(payments.private_key, context)
            rotated += 1
    await session.commit()
    return rotated
