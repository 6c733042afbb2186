"""Fixtures of the billing tests: a migrated store, a clock the test moves, and a tenant."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import OutboxEvent
from mailer.store.database import create_engine, migrate, session_factory
from tests.support.databases import temporary_database

TENANT = "acme"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


@dataclass
class FakeClock:
    """A clock that only moves when the test says so."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Published:
    """What the outbox relay handed to the broker, by subject."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, subject: str, body: bytes) -> None:
        self.messages.append((subject, json.loads(body)))

    def on(self, subject: str) -> list[dict[str, Any]]:
        return [payload for s, payload in self.messages if s == subject]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'billing.db'}"


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await migrate(engine)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def pg_sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated store in a throwaway PostgreSQL database (integration tests)."""
    async with temporary_database("postgresql", tmp_path) as url:
        engine = create_engine(url)
        try:
            await migrate(engine)
            yield session_factory(engine)
        finally:
            await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def queued(sessions: async_sessionmaker[AsyncSession], subject: str) -> list[dict[str, Any]]:
    """The outbox rows of `subject`, oldest first, as the relay would publish them."""
    async with sessions() as session:
        rows = await session.execute(
            select(OutboxEvent.payload)
            .where(OutboxEvent.subject == subject)
            .order_by(OutboxEvent.id)
        )
        return [json.loads(payload) for payload in rows.scalars()]
