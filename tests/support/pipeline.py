"""A dispatcher wired for tests: real store and renderers, a hand-moved clock, kept statuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mailer.compose import Composer, SenderIdentity
from mailer.dispatch import Dispatcher
from mailer.dkim import DkimSigner
from mailer.events import StatusEvent
from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer
from mailer.retry import RetryPolicy
from mailer.senders import SenderDirectory, TenantSender
from mailer.store.database import session_factory
from mailer.transport.base import Envelope, Outcome, RecipientResult, SendResult, Transport

IDENTITY = SenderIdentity("noreply-invoice@mailer.test", "bounces.mailer.test", "mailer.test")
POLICY = RetryPolicy(initial_delay=60, max_delay=600, jitter=0, horizon=timedelta(hours=1))


class WorkerDied(BaseException):
    """Stands for the process being killed in the middle of a send."""


class ScriptedTransport:
    """Accepts everything unless told otherwise for a recipient; remembers what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[Envelope, bytes]] = []
        self.script: dict[str, list[Outcome]] = {}
        self.die_on_next_send = False
        self.login_refused_code: int | None = None  # e.g. 535: every recipient fails the login

    async def send(self, envelope: Envelope, message: bytes) -> SendResult:
        if self.die_on_next_send:
            self.die_on_next_send = False
            raise WorkerDied
        self.sent.append((envelope, message))
        results = []
        for rcpt in envelope.recipients:
            outcomes = self.script.get(rcpt)
            outcome = outcomes.pop(0) if outcomes else Outcome.ACCEPTED
            code = {Outcome.ACCEPTED: 250, Outcome.TEMPORARY_FAILURE: 451}.get(outcome, 550)
            if self.login_refused_code:
                outcome, code = Outcome.PERMANENT_FAILURE, self.login_refused_code
            results.append(RecipientResult(rcpt, outcome, code, None, f"{code} scripted"))
        return SendResult(tuple(results))

    async def aclose(self) -> None:
        return None


class CollectingPublisher:
    """Keeps every status the dispatcher publishes."""

    def __init__(self) -> None:
        self.statuses: list[StatusEvent] = []

    async def publish(self, statuses: Sequence[StatusEvent]) -> None:
        self.statuses.extend(statuses)


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 22, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Pipeline:
    """A dispatcher and everything a test needs to drive and observe it."""

    dispatcher: Dispatcher
    transport: Transport
    publisher: CollectingPublisher
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]

    def statuses(self, recipient: str | None = None) -> list[str]:
        """Published status values, optionally for one recipient, in order."""
        return [s.status.value for s in self.publisher.statuses if recipient in (None, s.recipient)]


def build_pipeline(
    engine: AsyncEngine,
    transport: Transport,
    pdfs: PdfRenderer,
    renderer: EmailRenderer,
    signer: DkimSigner | None = None,
    directory: SenderDirectory | None = None,
    *,
    in_flight_limit: int = 512,
) -> Pipeline:
    publisher, clock = CollectingPublisher(), Clock()
    dispatcher = Dispatcher(
        sessions=session_factory(engine),
        composer=Composer(renderer, pdfs, signer, IDENTITY),
        transport=transport,
        publisher=publisher,
        policy=POLICY,
        directory=directory,
        clock=clock,
        in_flight_limit=in_flight_limit,
    )
    return Pipeline(dispatcher, transport, publisher, clock, session_factory(engine))


@dataclass
class FakeDirectory:
    """Tenant sending settings held in memory, as the tenant-settings service would give them."""

    senders: dict[str, TenantSender] = field(default_factory=dict)
    domains: dict[str, frozenset[str]] = field(default_factory=dict)
    signers: dict[tuple[str, str], DkimSigner] = field(default_factory=dict)
    servers: dict[str, Transport] = field(default_factory=dict)
    methods: dict[str, tuple[str, ...]] = field(default_factory=dict)

    async def sender_settings(self, session: AsyncSession, tenant: str) -> TenantSender | None:
        return self.senders.get(tenant)

    async def verified_domains(self, session: AsyncSession, tenant: str) -> frozenset[str]:
        return self.domains.get(tenant, frozenset())

    async def signer_for(
        self, session: AsyncSession, tenant: str, domain: str
    ) -> DkimSigner | None:
        return self.signers.get((tenant, domain))

    async def own_transport(self, session: AsyncSession, tenant: str) -> Transport | None:
        return self.servers.get(tenant)

    async def own_server_refused_login(
        self, session: AsyncSession, tenant: str, detail: str, now: datetime
    ) -> bool:
        sender = self.senders[tenant]
        if sender.broken:
            return False
        self.senders[tenant] = replace(sender, broken=True)
        return True

    async def payment_methods(self, session: AsyncSession, tenant: str) -> tuple[str, ...]:
        return self.methods.get(tenant, ())
