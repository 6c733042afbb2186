"""SmtpConfig: explicit settings and smtp:// URLs, with the password kept out of sight."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from mailer.errors import ConfigurationError
from mailer.transport.smtp import SmtpTransport
from mailer.transport.smtp_config import SmtpConfig

PASSWORD = "s3cret/p@ss:word"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.internal", ("relay.internal", 25, "starttls", None)),
        (
            "smtp://relay.internal:2525?starttls=required",
            ("relay.internal", 2525, "starttls_required", None),
        ),
        ("smtp://relay.internal?starttls=none", ("relay.internal", 25, "none", None)),
        (
            "smtps://mailer%40acme.test:pw@smtp.acme.test",
            ("smtp.acme.test", 465, "implicit", "mailer@acme.test"),
        ),
        ("SMTPS://[::1]:4650", ("::1", 4650, "implicit", None)),
    ],
)
def test_from_url(url: str, expected: tuple[str, int, str, str | None]) -> None:
    config = SmtpConfig.from_url(url)

    assert (config.host, config.port, config.tls, config.username) == expected


def test_from_url_decodes_the_password_and_reads_parameters() -> None:
    config = SmtpConfig.from_url(
        "smtp://u:s3cret%2Fp%40ss%3Aword@relay:587"
        "?starttls=required&timeout=2.5&max_connections=3&max_idle=10&local_hostname=me.test"
    )

    assert config.password is not None
    assert config.password.get_secret_value() == PASSWORD
    assert (config.timeout, config.max_connections, config.max_idle) == (2.5, 3, 10.0)
    assert config.local_hostname == "me.test"


def test_password_never_shows_in_repr_or_str() -> None:
    config = SmtpConfig.from_url("smtp://user:hunter2@relay:587?starttls=required")

    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config)
    assert "hunter2" not in repr(SmtpTransport(config))


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@relay",
        "hunter2:x@relay",
        "smtp://user:hunter2@relay:notaport",
        "smtp://user:hunter2@relay:70000",
        "smtp://user:hunter2@",
        "smtp://user:hunter2@relay/path",
        "smtp://user:hunter2@relay#frag",
        "smtp://user:hunter2@relay?starttls=maybe",
        "smtp://user:hunter2@relay?timeout=soon",
        "smtp://user:hunter2@relay?timeout=0",
        "smtp://user:hunter2@relay?max_connections=0",
        "smtp://relay?password=hunter2",
        "smtp://user:hunter2@relay?timeout=1&timeout=2",
        "smtp://user:hunter2@relay?starttls=none",
        "smtps://user:hunter2@relay?starttls=required",
        "smtp://user:hunter2@[::1",
    ],
)
def test_bad_urls_raise_configuration_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SmtpConfig.from_url(url)

    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_credentials_without_tls_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="plaintext"):
        SmtpConfig("relay", 25, tls="none", username="u", password=SecretStr("p"))
