"""Token parsing, tenant scoping, CSRF tokens and the start-up log of the API's auth mode."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import HTTPException
from pydantic import SecretStr

from mailer.auth import Caller, csrf_token, log_auth_mode, parse_tokens
from mailer.errors import ConfigurationError
from mailer.settings import Settings

SECRET = "s3cret-token-abcdef0123"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_tokens_map_to_their_tenants() -> None:
    table = parse_tokens(
        f" acme : {SECRET} ,globex:other-token-9876543210,acme:rotated-0123456789,"
    )
    assert table.tenant_for(SECRET) == "acme"
    assert table.tenant_for("rotated-0123456789") == "acme"
    assert table.tenant_for("other-token-9876543210") == "globex"
    for wrong in ("", SECRET[:-1], SECRET + "x", SECRET.upper(), "acme"):
        assert table.tenant_for(wrong) is None


def test_a_token_may_contain_colons() -> None:
    assert parse_tokens("acme:abc:def:0123456789").tenant_for("abc:def:0123456789") == "acme"


@pytest.mark.parametrize("value", [None, "", " , ,"])
def test_no_tokens_means_open(value: str | None) -> None:
    table = parse_tokens(value)
    assert table.open and table.tenant_for("anything") is None


@pytest.mark.parametrize(
    "value", [SECRET, f":{SECRET}", "acme:", f"acme:{SECRET},{SECRET}", "x" * 101 + ":token"]
)
def test_malformed_entries_are_refused_without_echoing_the_token(value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_tokens(value)
    assert SECRET not in str(raised.value) and "MAILER_API_TOKENS" in str(raised.value)


def test_one_token_for_two_tenants_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="repeats a token"):
        parse_tokens(f"acme:{SECRET},globex:{SECRET}")


def test_short_tokens_are_warned_about_at_start_but_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert parse_tokens("acme:short1").weak == {"acme"}
    with caplog.at_level(logging.WARNING, logger="mailer.auth"):
        log_auth_mode(settings(api_tokens=SecretStr(f"acme:short1,globex:{SECRET}")))
    assert "'acme' is shorter than 16" in caplog.text
    assert "short1" not in caplog.text and "globex" not in caplog.text


def test_open_callers_act_for_the_tenant_they_name() -> None:
    anyone = Caller(None)
    assert anyone.scope("acme") == "acme" and anyone.scope(" globex ") == "globex"
    for missing in (None, "", "  "):
        with pytest.raises(HTTPException) as raised:
            anyone.scope(missing)
        assert raised.value.status_code == 422
    with pytest.raises(HTTPException):
        anyone.scope("x" * 101)


def test_token_callers_act_for_their_own_tenant_only() -> None:
    acme = Caller("acme")
    assert acme.scope(None) == acme.scope("") == acme.scope("acme") == "acme"
    with pytest.raises(HTTPException) as raised:
        acme.scope("globex")
    assert raised.value.status_code == 403 and "another" in str(raised.value.detail)


def test_csrf_tokens_belong_to_their_cookie() -> None:
    assert csrf_token("cookie-a") == csrf_token("cookie-a")
    assert csrf_token("cookie-a") != csrf_token("cookie-b")
    assert "cookie-a" not in csrf_token("cookie-a") and len(csrf_token("cookie-a")) == 64


def test_open_mode_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="mailer.auth"):
        log_auth_mode(settings())
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "OPEN" in record.getMessage()


def test_open_mode_on_a_public_address_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="mailer.auth"):
        log_auth_mode(settings(http_listen="0.0.0.0:8080"))
    [record] = caplog.records
    assert record.levelno == logging.ERROR and "not a loopback" in record.getMessage()


def test_token_mode_says_so_without_the_tokens(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="mailer.auth"):
        log_auth_mode(settings(api_tokens=SecretStr(f"acme:{SECRET},acme:{SECRET}x")))
    [record] = caplog.records
    assert record.levelno == logging.INFO and "1 tenant" in record.getMessage()
    assert SECRET not in caplog.text
