"""A seeded inbox for tests: two tenants' threads, suppressions and history behind create_api."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mailer import api as api_module
from mailer.api import create_api
from mailer.bootstrap import Runtime
from mailer.settings import Settings
from mailer.store.database import create_engine, migrate, session_factory
from mailer.store.inbox_models import BounceRecord, Suppression, Thread, ThreadEntry
from mailer.store.models import StatusRecord
from tests.support.databases import temporary_database

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
ACME_TOKEN = "acme-token-7f3a9c1e5b"
GLOBEX_TOKEN = "globex-token-2d8e4b6a0c"
TOKENS = f"acme:{ACME_TOKEN}, globex:{GLOBEX_TOKEN}"
DIAGNOSTIC = "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown"


@dataclass
class Seeded:
    """Primary keys of the seeded threads, by name."""

    threads: dict[str, int] = field(default_factory=dict)


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def publish_send(self, body: bytes) -> None:
        self.sent.append(body)


@dataclass
class FakeRuntime:
    """What create_api uses of a Runtime, without a broker."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    broker: Any = None
    checker: Any = None  # no sending side: the test-send endpoint answers 503

    async def ready(self) -> bool:
        return True


@dataclass
class Inbox:
    app: FastAPI
    runtime: FakeRuntime
    seeded: Seeded

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers, **kwargs
        )


def entry(direction: str, at: datetime, **values: Any) -> ThreadEntry:
    return ThreadEntry(direction=direction, at=at, **{"recipients": [], "details": {}} | values)


def bounce_details(address: str, reason: str, hard: bool, diagnostic: str) -> dict[str, Any]:
    status = "5.1.1" if hard else "4.2.2"
    return {"address": address, "reason": reason, "hard": hard, "status": status,
            "reply_code": 550 if hard else 452, "diagnostic": diagnostic}  # fmt: skip


def thread(tenant: str, key: str, subject: str, age: timedelta, **values: Any) -> Thread:
    created, updated = NOW - age - timedelta(days=1), NOW - age
    token = f"{tenant}-{key}"
    return Thread(tenant=tenant, key=key, subject=subject, reply_token=token,
                  created_at=created, updated_at=updated, **values)  # fmt: skip


def status(tenant: str, recipient: str, value: str, at: datetime) -> StatusRecord:
    return StatusRecord(tenant=tenant, request_id="r", recipient=recipient, status=value, at=at)


def bounce(tenant: str, address: str, hard: bool, at: datetime) -> BounceRecord:
    return BounceRecord(tenant=tenant, address=address, hard=hard, at=at, reason="userunknown")


async def seed(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    """Two tenants; acme has three threads (two with bounces), globex one with the same address."""
    day = timedelta(days=1)
    async with sessions() as session:
        a1 = thread("acme", "INV-1001", "Invoice INV-1001", timedelta(hours=1), has_bounce=True)
        a1.entries = [
            entry("outgoing", NOW - timedelta(hours=3), recipients=["bob@example.org"],
                  subject="Invoice INV-1001", body_text="Please find attached."),
            entry("bounce", NOW - timedelta(hours=1), sender="MAILER-DAEMON@mx.example.org",
                  details=bounce_details("bob@example.org", "userunknown", True, DIAGNOSTIC)),
        ]  # fmt: skip
        a2 = thread("acme", "INV-1002", "Invoice INV-1002", timedelta(hours=2), status="pending")
        a2.entries = [
            entry("outgoing", NOW - timedelta(hours=5), recipients=["carol@other.test"]),
            entry("reply", NOW - timedelta(hours=2), sender="Carol <carol@other.test>",
                  body_text="Paid yesterday."),
        ]  # fmt: skip
        a3 = thread("acme", "customer:dave", "Statement", timedelta(hours=3), status="closed",
                    has_bounce=True)  # fmt: skip
        a3.entries = [
            entry("bounce", NOW - timedelta(hours=3),
                  details=bounce_details("dave@example.net", "mailboxfull", False, "452 full")),
        ]  # fmt: skip
        g1 = thread("globex", "INV-1001", "Globex confidential", timedelta(0), has_bounce=True)
        g1.entries = [
            entry(
                "bounce", NOW, details=bounce_details("bob@example.org", "userunknown", True, "x")
            )
        ]
        for t in (a1, a2, a3, g1):
            for e in t.entries:
                e.tenant = t.tenant
        session.add_all([a1, a2, a3, g1])
        session.add_all(
            [Suppression(tenant=tenant, address="bob@example.org", reason="userunknown",
                         detail=DIAGNOSTIC, created_at=NOW - timedelta(hours=1))
             for tenant in ("acme", "globex")]
            + [status("acme", f"c{n}@example.org", "sent", NOW - timedelta(hours=n))
               for n in range(3)]
            + [status("acme", "carol@other.test", "sent", NOW - timedelta(hours=5)),
               status("acme", "bob@example.org", "sent", NOW - day),
               status("acme", "eve@EXAMPLE.org", "sent", NOW - day),
               status("acme", "bob@example.org", "suppressed", NOW - day),
               status("acme", "dave@example.net", "sent", NOW - 2 * day),
               status("acme", "old@example.org", "sent", NOW - 40 * day),
               status("acme", "x@example.org", "queued", NOW),
               bounce("acme", "bob@example.org", True, NOW - timedelta(hours=1)),
               bounce("acme", "dave@example.net", False, NOW - 2 * day),
               bounce("acme", "old@example.org", True, NOW - 31 * day)]
            + [status("globex", f"g{n}@example.org", "sent", NOW) for n in range(10)]
            + [bounce("globex", "bob@example.org", True, NOW)]
        )  # fmt: skip
        await session.commit()
        ids = {"a1": a1.id, "a2": a2.id, "a3": a3.id, "g1": g1.id}
    return Seeded(ids)


@contextlib.asynccontextmanager
async def inbox_app(
    directory: Path, *, tokens: str | None, backend: str = "sqlite"
) -> AsyncIterator[Inbox]:
    """create_api over a migrated, seeded store; `pin_clock` makes its clock say NOW."""
    async with temporary_database(backend, directory) as url:
        engine = create_engine(url)
        try:
            await migrate(engine)
            sessions = session_factory(engine)
            seeded = await seed(sessions)
            settings = Settings(_env_file=None, data_dir=directory, api_tokens=tokens)  # type: ignore[call-arg]
            runtime = FakeRuntime(settings, engine, sessions)
            yield Inbox(create_api(cast(Runtime, runtime)), runtime, seeded)
        finally:
            await engine.dispose()


def pin_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the app's clock say NOW for the rest of the test (use it from a fixture)."""
    monkeypatch.setattr(api_module, "_now", lambda: NOW)
