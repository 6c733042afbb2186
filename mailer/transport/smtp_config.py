"""Settings for one SMTP server, and parsing them from an smtp:// or smtps:// URL."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, get_args
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import SecretStr

from mailer.errors import ConfigurationError

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_IDLE",
    "DEFAULT_SMTPS_PORT",
    "DEFAULT_SMTP_PORT",
    "DEFAULT_TIMEOUT",
    "SmtpConfig",
    "TlsMode",
]

TlsMode = Literal["none", "starttls", "starttls_required", "implicit"]

DEFAULT_SMTP_PORT = 25
DEFAULT_SMTPS_PORT = 465
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 8
DEFAULT_MAX_IDLE = 60.0

_STARTTLS_PARAM: dict[str, TlsMode] = {
    "required": "starttls_required",
    "opportunistic": "starttls",
    "none": "none",
}
_URL_PARAMS = frozenset({"starttls", "timeout", "max_connections", "max_idle", "local_hostname"})

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to reach one SMTP server; the password never appears in repr or errors."""

    host: str  # name or IP; also the name the TLS certificate must carry
    port: int
    tls: TlsMode = "starttls"  # implicit | starttls_required | starttls (opportunistic) | none
    username: str | None = None  # AUTH only over TLS; its presence makes TLS mandatory
    password: SecretStr | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT  # seconds per connect, TLS handshake and reply
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # open sessions at once, pooled or busy
    max_idle: float = DEFAULT_MAX_IDLE  # seconds a pooled session may idle; 0 disables reuse
    local_hostname: str | None = None  # EHLO name; the machine's FQDN when unset
    ca_file: Path | None = None  # trust only these CAs (private CA, tests); system CAs if unset

    def __post_init__(self) -> None:
        _check(_is_hostname(self.host), "SMTP host must be a non-empty host name")
        _check(0 < self.port < 65536, "SMTP port must be between 1 and 65535")
        _check(self.tls in get_args(TlsMode), f"SMTP tls must be one of {get_args(TlsMode)}")
        _check(self.timeout > 0, "SMTP timeout must be positive")
        _check(self.max_connections >= 1, "SMTP max_connections must be at least 1")
        _check(self.max_idle >= 0, "SMTP max_idle must not be negative")
        _check(
            self.local_hostname is None or _is_hostname(self.local_hostname),
            "SMTP local_hostname must be a plain host name",
        )
        _check(self.password is None or bool(self.username), "SMTP password needs a username")
        _check(
            not (self.username and self.tls == "none"),
            "SMTP credentials need TLS: tls='none' would send them in plaintext",
        )

    @property
    def requires_tls(self) -> bool:
        """Whether a session without TLS must be refused: required modes, or credentials."""
        if self.tls == "starttls":
            return self.username is not None
        return self.tls != "none"

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse ``smtp[s]://[user[:password]@]host[:port][?param=value...]``.

        ``smtp://`` defaults to port 25 with opportunistic STARTTLS (``?starttls=required`` fails
        closed without it, ``?starttls=none`` never upgrades); ``smtps://`` is implicit TLS on
        port 465. Other parameters: ``timeout``, ``max_connections``, ``max_idle`` (seconds) and
        ``local_hostname``. User and password are percent-decoded, so encode ``@ : / ? #``.
        """
        # Errors below name the faulty part only, never the URL, which may hold the password;
        # `from None` keeps library messages that quote URL pieces out of tracebacks too.
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise ConfigurationError("SMTP URL has an invalid host or port") from None
        if parts.scheme not in ("smtp", "smtps"):
            raise ConfigurationError("SMTP URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ConfigurationError("SMTP URL has no host")
        if parts.path not in ("", "/") or parts.fragment:
            raise ConfigurationError("SMTP URL must not have a path or fragment")
        params = _url_params(parts.query)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (DEFAULT_SMTPS_PORT if implicit else DEFAULT_SMTP_PORT),
            tls=_tls_mode(implicit, params.get("starttls")),
            username=unquote(parts.username) if parts.username else None,
            password=SecretStr(unquote(parts.password)) if parts.password is not None else None,
            timeout=_number(params, "timeout", float, DEFAULT_TIMEOUT),
            max_connections=_number(params, "max_connections", int, DEFAULT_MAX_CONNECTIONS),
            max_idle=_number(params, "max_idle", float, DEFAULT_MAX_IDLE),
            local_hostname=params.get("local_hostname"),
        )


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigurationError(message)


def _is_hostname(value: str) -> bool:
    return bool(value) and value.isascii() and value.isprintable() and " " not in value


def _url_params(query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigurationError("SMTP URL query string is malformed") from None
    unknown = sorted(set(parsed) - _URL_PARAMS)
    _check(not unknown, f"SMTP URL has unknown parameters {unknown}; known: {sorted(_URL_PARAMS)}")
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    _check(not repeated, f"SMTP URL repeats parameters {repeated}")
    return {name: values[0] for name, values in parsed.items()}


def _tls_mode(implicit: bool, starttls: str | None) -> TlsMode:
    if implicit:
        _check(starttls is None, "SMTP URL: starttls does not apply to smtps:// (implicit TLS)")
        return "implicit"
    if starttls is None:
        return "starttls"
    mode = _STARTTLS_PARAM.get(starttls)
    if mode is None:
        raise ConfigurationError(f"SMTP URL: starttls must be one of {sorted(_STARTTLS_PARAM)}")
    return mode


def _number(params: Mapping[str, str], name: str, kind: Callable[[str], _T], default: _T) -> _T:
    if name not in params:
        return default
    try:
        return kind(params[name])
    except ValueError:
        raise ConfigurationError(f"SMTP URL: {name} must be a number") from None
