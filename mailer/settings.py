"""All configuration, read once from MAILER_* environment variables (and `.env`)."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")
DEFAULT_BOUNCE_LISTEN = "127.0.0.1:2525"
DEFAULT_HTTP_LISTEN = "127.0.0.1:8080"


def _default_from_address() -> str:
    host = socket.getfqdn() or "localhost"
    if "." not in host:
        host = f"{host}.localdomain"
    return f"noreply-invoice@{host}"


def parse_listen(value: str) -> tuple[str, int]:
    """`127.0.0.1:8080` or `[::1]:8080` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class Settings(BaseSettings):
    """The service's settings; every field is documented and has a working default."""

    model_config = SettingsConfigDict(
        env_prefix="MAILER_", env_file=".env", extra="ignore", frozen=True
    )

    broker_url: str | None = Field(
        default=None,
        description="Broker URL (nats://, amqp://, kafka://, redis://). Unset: start an embedded "
        "NATS server with JetStream under the data directory.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL, e.g. postgresql+asyncpg://user@host/db. "
        "Unset: SQLite file under the data directory.",
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Where the embedded broker, SQLite database and local outbox live.",
    )
    relay_url: SecretStr | None = Field(
        default=None,
        description="Shared relay: smtp://user:pass@host:port, smtps:// for implicit TLS, "
        "?starttls=required to refuse plaintext. Unset: deliver into the local outbox.",
    )
    from_address: str = Field(
        default_factory=_default_from_address,
        description="Shared sender address (From of every email sent through the relay).",
    )
    dkim_domain: str | None = Field(default=None, description="Domain (d=) of DKIM signatures.")
    dkim_selector: str | None = Field(default=None, description="Selector (s=) of DKIM signatures.")
    dkim_private_key_file: Path | None = Field(
        default=None, description="PEM file of the RSA (>= 2048 bits) DKIM private key."
    )
    sms_provider_url: str | None = Field(
        default=None,
        description="Base URL of a Twilio-compatible SMS API, e.g. https://api.twilio.com. "
        "Unset: SMS are appended to the local outbox `sms-outbox.jsonl` in the data directory.",
    )
    sms_account_sid: str | None = Field(
        default=None, description="Account SID of the SMS provider (the basic auth user)."
    )
    sms_auth_token: SecretStr | None = Field(
        default=None, description="Auth token of the SMS provider (the basic auth password)."
    )
    sms_from: str | None = Field(
        default=None,
        description="SMS sender: an E.164 number, or a messaging service SID (MG...).",
    )
    bounce_domain: str | None = Field(
        default=None,
        description="Domain of the VERP return path `bounces+<token>@<domain>`. "
        "Default: the domain of the shared sender address.",
    )
    bounce_listen: str = Field(
        default=DEFAULT_BOUNCE_LISTEN, description="HOST:PORT of the bounce SMTP listener."
    )
    bounce_max_message_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest message the bounce listener accepts (552 above).",
    )
    spf_include: str | None = Field(
        default=None,
        description="SPF include mechanism domain of the shared relay, e.g. _spf.mailer.example, "
        "that tenants' custom domains must include. Default: `_spf.<bounce domain>`.",
    )
    dns_resolver: str | None = Field(
        default=None,
        description="HOST:PORT of the DNS resolver used to verify tenants' domains. "
        "Unset: the system resolver.",
    )
    http_listen: str = Field(default=DEFAULT_HTTP_LISTEN, description="HOST:PORT of the HTTP API.")
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs trusted for tenants' own SMTP servers (and the relay); "
        "unset: the system's CAs.",
    )
    smtp_health_interval: float = Field(
        default=900.0,
        gt=0,
        description="Seconds between login checks of tenants' own SMTP servers.",
    )
    api_tokens: SecretStr | None = Field(
        default=None,
        description="Per-tenant bearer tokens for the API and the inbox page, `tenant:token,...`. "
        "Unset: the API is open (fine on loopback only; the log says so at start).",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Keys that encrypt the tenants' stored secrets (SMTP passwords, DKIM and "
        "payment keys), `version:base64-32-byte-key,...`: the first encrypts, all decrypt, so a "
        "new key is put first to rotate. `mailer secret-key` makes one. Unset: no secret can be "
        "stored.",
    )
    retry_initial_delay: float = Field(
        default=60.0, gt=0, description="Seconds before the first retry of a deferred message."
    )
    retry_max_delay: float = Field(
        default=3600.0, gt=0, description="Upper bound of the delay between two retries."
    )
    retry_horizon: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="Seconds after the first attempt when a still-deferred message fails.",
    )
    workers: int = Field(
        default=0,
        ge=0,
        description="Processes consuming send events under `mailer run`, which counts as one and "
        "starts the others as `mailer worker` children (0: one per CPU core; 1: only itself). "
        "`mailer worker` ignores it.",
    )
    pdf_workers: int = Field(
        default=0,
        ge=0,
        description="PDF rendering processes in each consuming process (0: one per CPU core, "
        "divided among the consuming processes of `mailer run`, at least one each).",
    )
    pdf_timeout: float = Field(default=60.0, gt=0, description="Seconds allowed for one PDF.")
    pdf_memory_limit_mb: int = Field(
        default=1024, ge=128, description="Address-space limit of each PDF process, in MiB."
    )
    pdf_cache_mb: int = Field(
        default=64,
        ge=0,
        description="Memory for rendered PDFs kept for reuse, in MiB: reminders and re-sends of "
        "the same document version reuse its PDF instead of rendering it again (0: no cache).",
    )
    pdf_files_mb: int = Field(
        default=512,
        ge=0,
        description="Disk for rendered PDFs in `pdf-cache/` under the data directory, in MiB: "
        "the consuming processes of a machine share it, so a document one of them rendered is "
        "not rendered again by another (0: none).",
    )
    max_concurrent_sends: int = Field(
        default=64,
        ge=1,
        description="Events one worker takes from the broker at once (each is stored, then "
        "acknowledged; delivery goes on in the background).",
    )
    in_flight_limit: int = Field(
        default=512,
        ge=1,
        description="Emails one worker delivers at once; beyond it, accepted events wait in the "
        "store for the scheduler, so a backlog of PDFs costs no memory.",
    )
    lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a worker owns a message it is sending; after a crash another "
        "worker takes it over once this has passed.",
    )
    scheduler_interval: float = Field(
        default=1.0, gt=0, description="Seconds between scans for scheduled and deferred mail."
    )
    billing_interval: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between checks of the billing core's automatic sends, recurring "
        "invoices, billing runs, reminders and statements.",
    )
    billing_relay_interval: float = Field(
        default=1.0, gt=0, description="Seconds between scans of the billing outbox for events."
    )
    log_level: str = Field(default="INFO", description="Python logging level.")

    @field_validator("bounce_listen", "http_listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @property
    def effective_bounce_domain(self) -> str:
        return self.bounce_domain or self.from_address.rpartition("@")[2]

    @property
    def message_id_domain(self) -> str:
        return self.dkim_domain or self.from_address.rpartition("@")[2]

    @property
    def sqlite_url(self) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / 'mailer.db').resolve()}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or self.sqlite_url

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def retry_horizon_delta(self) -> timedelta:
        return timedelta(seconds=self.retry_horizon)


def settings_table() -> str:
    """The README's settings table, generated from the fields above."""
    rows = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = "" if field.default_factory is not None else field.default
        shown = "(host name based)" if field.default_factory is not None else default
        rows.append(
            f"| `MAILER_{name.upper()}` | `{shown}` | {field.description} |"
            if shown not in (None, "")
            else f"| `MAILER_{name.upper()}` | unset | {field.description} |"
        )
    return "\n".join(rows)


def settings_environment(settings: Settings) -> dict[str, str]:
    """`settings` as MAILER_* variables, for a child process that must run with the same ones
    (variables override `.env`; unset settings are left out)."""
    variables = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        variables[f"MAILER_{name.upper()}"] = str(value)
    return variables
