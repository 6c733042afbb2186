"""An app for tests of tenant settings: create_api over a migrated store, with a secret key."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from mailer.api import create_api
from mailer.bootstrap import Runtime
from mailer.secrets import SecretBox
from mailer.settings import Settings
from mailer.store.database import create_engine, migrate, session_factory
from tests.support.databases import temporary_database
from tests.support.inbox import ACME_TOKEN, GLOBEX_TOKEN, TOKENS, FakeRuntime

__all__ = ["ACME_TOKEN", "GLOBEX_TOKEN", "TOKENS", "TenantApp", "key_entry", "tenant_app"]


def key_entry(version: str = "k1", fill: int = 1) -> str:
    """A fixed, recognisable `version:base64` key entry (never use such a key for real)."""
    return f"{version}:{base64.b64encode(bytes([fill]) * 32).decode()}"


SECRET_KEY = key_entry()


@dataclass
class TenantApp:
    app: FastAPI
    runtime: FakeRuntime

    @property
    def box(self) -> SecretBox | None:
        return SecretBox.from_settings(self.runtime.settings)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers, **kwargs
        )

    async def raw(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows exactly as stored, bypassing the models (to look for plaintext at rest)."""
        async with self.runtime.engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql), params)]


@contextlib.asynccontextmanager
async def tenant_app(
    directory: Path,
    *,
    tokens: str | None = TOKENS,
    secret_key: str | None = SECRET_KEY,
    backend: str = "sqlite",
) -> AsyncIterator[TenantApp]:
    """create_api over an empty migrated store; `secret_key=None` leaves MAILER_SECRET_KEY unset."""
    async with temporary_database(backend, directory) as url:
        engine = create_engine(url)
        try:
            await migrate(engine)
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, data_dir=directory, api_tokens=tokens, secret_key=secret_key
            )
            runtime = FakeRuntime(settings, engine, session_factory(engine))
            yield TenantApp(create_api(cast(Runtime, runtime)), runtime)
        finally:
            await engine.dispose()
