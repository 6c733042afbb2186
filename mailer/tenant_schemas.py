"""The values of a tenant's settings: what admins write, what they see, what the sender gets."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, SecretStr
from pydantic_core import PydanticCustomError

from mailer.store.tenant_models import TenantPayments, TenantSending
from mailer.transport.smtp_config import SmtpConfig, TlsMode

__all__ = [
    "SECRET_MASK",
    "AuthFailurePolicy",
    "PaymentMethod",
    "PaymentSettingsInput",
    "PaymentSettingsView",
    "SendingMode",
    "SendingSettingsInput",
    "SendingSettingsView",
    "SmtpTls",
    "TenantPaymentConfig",
    "TenantSendingConfig",
]

SECRET_MASK = "********"  # noqa: S105  (what a view shows in place of a stored secret)
MAX_SECRET_LENGTH = 4096
_STORED_AS_IS = frozenset(
    {"mode", "smtp_host", "smtp_port", "smtp_tls", "smtp_username", "from_email", "from_name",
     "custom_domain", "on_auth_failure", "broken_at", "broken_reason", "last_check_at",
     "last_check_ok", "last_check_detail", "updated_at"}
)  # fmt: skip


class SendingMode(enum.StrEnum):
    SHARED = "shared"  # the platform's relay, From the noreply sender (or the custom domain)
    OWN_SMTP = "own_smtp"  # the tenant's own SMTP server and From address


class SmtpTls(enum.StrEnum):
    IMPLICIT = "implicit"
    STARTTLS_REQUIRED = "starttls_required"


class AuthFailurePolicy(enum.StrEnum):
    """What happens to mail while the tenant's own SMTP login is broken."""

    HOLD = "hold"
    FALLBACK_SHARED = "fallback_shared"


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    ECHECK = "echeck"


def _host_name(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    labels = value.split(".")
    if not value or len(value) > 253 or not all(_label_ok(label) for label in labels):
        raise PydanticCustomError("host_name", "must be a host name such as smtp.example.com")
    return value


def _label_ok(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and label.replace("-", "").isalnum()
        and label.isascii()
        and (label[0] != "-" != label[-1])
    )


def _one_line(value: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise PydanticCustomError("one_line", "must be a single line")
    return value.strip()


def _secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise PydanticCustomError("empty_secret", "must not be empty (null removes it)")
    if len(value.get_secret_value()) > MAX_SECRET_LENGTH:
        raise PydanticCustomError("long_secret", "is too long")
    return value


def _methods(value: list[PaymentMethod]) -> list[PaymentMethod]:
    return sorted(set(value))


HostName = Annotated[str, AfterValidator(_host_name)]
OneLine = Annotated[str, AfterValidator(_one_line)]
WriteOnly = Annotated[SecretStr, AfterValidator(_secret)]
Methods = Annotated[list[PaymentMethod], AfterValidator(_methods)]


class SendingSettingsInput(BaseModel):
    """What a tenant admin writes; unknown fields (e.g. a view's read-only ones) are ignored."""

    model_config = ConfigDict(extra="ignore")

    mode: SendingMode = Field(default=SendingMode.SHARED, description="shared or own_smtp.")
    smtp_host: HostName | None = Field(default=None, description="Own SMTP server's host name.")
    smtp_port: int | None = Field(default=None, ge=1, le=65535, description="Its port.")
    smtp_tls: SmtpTls | None = Field(default=None, description="implicit or starttls_required.")
    smtp_username: OneLine | None = Field(default=None, max_length=320, description="SMTP login.")
    password: WriteOnly | None = Field(
        default=None,
        description=f"SMTP password, write-only: absent or {SECRET_MASK!r} keeps it, null clears.",
    )
    from_email: EmailStr | None = Field(default=None, description="From address of own mail.")
    from_name: OneLine | None = Field(default=None, max_length=200, description="From name.")
    custom_domain: HostName | None = Field(
        default=None, description="Own sending domain on the shared relay (From at this domain)."
    )
    on_auth_failure: AuthFailurePolicy = Field(
        default=AuthFailurePolicy.HOLD,
        description="When the own SMTP login fails: hold the mail, or send via the shared relay.",
    )


class PaymentSettingsInput(BaseModel):
    """A tenant admin's payment processing settings (read by the billing core)."""

    model_config = ConfigDict(extra="ignore")

    enabled: bool = Field(default=False, description="Payment processing on (off by default).")
    gateway: OneLine | None = Field(default=None, max_length=100, description="Gateway name.")
    public_key: OneLine | None = Field(default=None, max_length=MAX_SECRET_LENGTH)
    private_key: WriteOnly | None = Field(
        default=None,
        description=f"Write-only: absent or {SECRET_MASK!r} keeps it, null clears it.",
    )
    staff_methods: Methods = Field(default_factory=list, description="Accepted by staff.")
    portal_methods: Methods = Field(default_factory=list, description="Accepted in the portal.")


class SendingSettingsView(BaseModel):
    """A tenant's sending settings as shown: the password only as set or not."""

    tenant: str
    mode: SendingMode = SendingMode.SHARED
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_tls: SmtpTls | None = None
    smtp_username: str | None = None
    password: str | None = Field(default=None, description=f"{SECRET_MASK!r} when set, else null.")
    password_set: bool = False
    password_set_at: datetime | None = None
    from_email: str | None = None
    from_name: str | None = None
    custom_domain: str | None = None
    on_auth_failure: AuthFailurePolicy = AuthFailurePolicy.HOLD
    broken: bool = Field(default=False, description="The own SMTP login failed; mail is held.")
    broken_at: datetime | None = None
    broken_reason: str | None = None
    last_check_at: datetime | None = None
    last_check_ok: bool | None = None
    last_check_detail: str | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, tenant: str, row: TenantSending | None) -> SendingSettingsView:
        """What a tenant admin sees of its stored settings (never the password)."""
        if row is None:
            return cls(tenant=tenant)
        shown = {name: getattr(row, name) for name in cls.model_fields if name in _STORED_AS_IS}
        return cls(
            tenant=tenant,
            **shown,
            password=SECRET_MASK if row.smtp_password else None,
            password_set=row.smtp_password is not None,
            password_set_at=row.smtp_password_set_at if row.smtp_password else None,
            broken=row.broken_at is not None,
        )


class PaymentSettingsView(BaseModel):
    """A tenant's payment settings as shown: the private key only as set or not."""

    tenant: str
    enabled: bool = False
    gateway: str | None = None
    public_key: str | None = None
    private_key: str | None = Field(default=None, description=f"{SECRET_MASK!r} when set.")
    private_key_set: bool = False
    private_key_set_at: datetime | None = None
    staff_methods: list[PaymentMethod] = Field(default_factory=list)
    portal_methods: list[PaymentMethod] = Field(default_factory=list)
    updated_at: datetime | None = None

    @classmethod
    def of(cls, tenant: str, row: TenantPayments | None) -> PaymentSettingsView:
        """What a tenant admin sees of its stored settings (never the private key)."""
        if row is None:
            return cls(tenant=tenant)
        return cls(
            tenant=tenant,
            enabled=row.enabled,
            gateway=row.gateway,
            public_key=row.public_key,
            private_key=SECRET_MASK if row.private_key else None,
            private_key_set=row.private_key is not None,
            private_key_set_at=row.private_key_set_at if row.private_key else None,
            staff_methods=[PaymentMethod(m) for m in row.staff_methods],
            portal_methods=[PaymentMethod(m) for m in row.portal_methods],
            updated_at=row.updated_at,
        )


@dataclass(frozen=True, slots=True)
class TenantSendingConfig:
    """What the dispatcher needs to send a tenant's mail; the password stays out of repr."""

    tenant: str
    mode: SendingMode
    on_auth_failure: AuthFailurePolicy
    from_email: str | None = None
    from_name: str | None = None
    custom_domain: str | None = None
    broken_at: datetime | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_tls: SmtpTls | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = field(default=None, repr=False)

    @property
    def broken(self) -> bool:
        return self.broken_at is not None

    @property
    def sender_email(self) -> str | None:
        """The From address, or None for the platform's shared sender."""
        if self.mode is SendingMode.OWN_SMTP or self.custom_domain:
            return self.from_email
        return None

    def smtp_config(self, **options: Any) -> SmtpConfig | None:
        """The tenant's SMTP server (own_smtp mode), with pool options such as `timeout`."""
        if self.mode is not SendingMode.OWN_SMTP or not (self.smtp_host and self.smtp_port):
            return None
        tls: TlsMode = "implicit" if self.smtp_tls is SmtpTls.IMPLICIT else "starttls_required"
        return SmtpConfig(
            self.smtp_host, self.smtp_port, tls, self.smtp_username, self.smtp_password, **options
        )


@dataclass(frozen=True, slots=True)
class TenantPaymentConfig:
    """What the billing core needs to take payments; the private key stays out of repr."""

    tenant: str
    enabled: bool
    gateway: str | None
    public_key: str | None
    staff_methods: tuple[PaymentMethod, ...]
    portal_methods: tuple[PaymentMethod, ...]
    private_key: SecretStr | None = field(default=None, repr=False)
