"""The one wiring place: builds broker, store, renderers, transport and dispatcher from Settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from billing.wiring import build_billing_side
from bounce.listener import start_bounce_listener
from bounce.processor import InboundProcessor
from consumers.send import register_send_consumer
from consumers.sms import register_sms_consumer
from mailer.broker import AnyBroker, BrokerPublisher, create_broker
from mailer.compose import Composer, SenderIdentity
from mailer.dispatch import Dispatcher
from mailer.dkim import DkimSigner
from mailer.embedded_nats import EmbeddedNats
from mailer.errors import ConfigurationError
from mailer.pdf_cache import PdfCache
from mailer.pdf_files import PdfFiles
from mailer.pdf_pool import PdfRenderer, slow_rendering_warning
from mailer.render import EmailRenderer, default_templates_dir
from mailer.retry import RetryPolicy
from mailer.secrets import SecretBox
from mailer.sending_check import SendingChecker, check_own_servers
from mailer.settings import Settings, parse_listen
from mailer.sms.wiring import build_sms_side
from mailer.store.database import create_engine, migrate, session_factory
from mailer.tenant_directory import StoredDirectory
from mailer.transport.base import Transport
from mailer.transport.outbox import OutboxTransport
from mailer.transport.smtp import SmtpConfig, SmtpTransport

logger = logging.getLogger(__name__)
MIB = 1024 * 1024


@dataclass
class Runtime:
    """Everything a running process holds, for the HTTP API, the CLI and tests."""

    settings: Settings
    broker: AnyBroker
    broker_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    publisher: BrokerPublisher
    dispatcher: Dispatcher | None = None
    checker: SendingChecker | None = None
    pdfs: PdfRenderer | None = None
    bounce_port: int | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def ready(self) -> bool:
        """True when the store answers and the broker is connected."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return bool(await self.broker.ping(timeout=2.0))
        except Exception:  # any failure means "not ready", which is the answer asked for
            logger.warning("readiness check failed", exc_info=True)
            return False


def build_transport(settings: Settings) -> Transport:
    """The shared relay when one is configured, else the local outbox."""
    if settings.relay_url is None:
        logger.info("no relay configured: mail goes to the local outbox %s", settings.outbox_dir)
        return OutboxTransport(settings.outbox_dir)
    config = SmtpConfig.from_url(settings.relay_url.get_secret_value())
    if settings.smtp_ca_file is not None:
        config = replace(config, ca_file=settings.smtp_ca_file)
    return SmtpTransport(config)


def build_signer(settings: Settings) -> DkimSigner | None:
    """A DKIM signer when domain, selector and key are all configured."""
    parts = (settings.dkim_domain, settings.dkim_selector, settings.dkim_private_key_file)
    if not any(parts):
        logger.info("DKIM signing is off (MAILER_DKIM_* not set)")
        return None
    domain, selector, key_file = parts
    if not (domain and selector and key_file):
        raise ConfigurationError("DKIM needs MAILER_DKIM_DOMAIN, _SELECTOR and _PRIVATE_KEY_FILE")
    return DkimSigner.from_file(domain, selector, key_file)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        initial_delay=settings.retry_initial_delay,
        max_delay=settings.retry_max_delay,
        horizon=settings.retry_horizon_delta,
    )


@contextlib.asynccontextmanager
async def running(
    settings: Settings, *, consume: bool, bounces: bool = False
) -> AsyncIterator[Runtime]:
    """Start broker (embedded when unset) and store; with `consume` the delivery side, with
    `bounces` the bounce listener and the processing of what it receives."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        broker_url = settings.broker_url
        if broker_url is None:
            embedded = EmbeddedNats(settings.data_dir)
            broker_url = await embedded.start()
            stack.push_async_callback(embedded.stop)
        engine = create_engine(settings.effective_database_url)
        stack.push_async_callback(engine.dispose)
        await migrate(engine)
        broker = create_broker(broker_url)
        runtime = Runtime(
            settings=settings,
            broker=broker,
            broker_url=broker_url,
            engine=engine,
            sessions=session_factory(engine),
            publisher=BrokerPublisher(broker),
        )
        if consume:
            await _start_delivery(runtime, stack)
        else:
            await broker.connect()
        stack.push_async_callback(broker.stop)
        if bounces:
            await _start_bounce_side(runtime, stack)
        try:
            yield runtime
        finally:
            for task in runtime.tasks:
                task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)


async def _start_delivery(runtime: Runtime, stack: contextlib.AsyncExitStack) -> None:
    settings = runtime.settings
    if (warning := slow_rendering_warning()) is not None:
        logger.warning(warning)
    pdfs = PdfRenderer(
        max_workers=settings.pdf_workers or None,
        timeout=settings.pdf_timeout,
        address_space_limit=settings.pdf_memory_limit_mb * MIB,
        cache=_pdf_cache(settings),
    )
    stack.push_async_callback(pdfs.aclose)
    runtime.pdfs = pdfs
    transport = build_transport(settings)
    stack.push_async_callback(transport.aclose)
    composer = Composer(
        EmailRenderer(default_templates_dir()),
        pdfs,
        build_signer(settings),
        SenderIdentity(
            from_address=settings.from_address,
            bounce_domain=settings.effective_bounce_domain,
            message_id_domain=settings.message_id_domain,
        ),
    )
    directory = StoredDirectory(SecretBox.from_settings(settings), ca_file=settings.smtp_ca_file)
    stack.push_async_callback(directory.aclose)
    dispatcher = Dispatcher(
        sessions=runtime.sessions,
        composer=composer,
        transport=transport,
        publisher=runtime.publisher,
        policy=retry_policy(settings),
        directory=directory,
        lease=timedelta(seconds=settings.lease_seconds),
        in_flight_limit=settings.in_flight_limit,
    )
    # Closed before the transports and the PDF pool it delivers through (the stack is LIFO).
    stack.push_async_callback(dispatcher.aclose)
    runtime.dispatcher = dispatcher
    runtime.checker = SendingChecker(composer, transport, directory, _now)
    sms, close_sms = build_sms_side(settings, runtime.sessions, runtime.publisher)
    stack.push_async_callback(close_sms)
    register_sms_consumer(runtime.broker, sms.submit, max_workers=settings.max_concurrent_sends)
    register_send_consumer(
        runtime.broker, dispatcher.take, max_workers=settings.max_concurrent_sends
    )
    billing = build_billing_side(runtime.broker, runtime.sessions, _now)
    await runtime.broker.start()
    interval = settings.scheduler_interval
    runtime.tasks += [
        asyncio.create_task(
            _poll_forever(
                "billing outbox relay", billing.relay.run_once, settings.billing_relay_interval
            )
        ),
        *(
            asyncio.create_task(_poll_forever(name, job, settings.billing_interval))
            for name, job in billing.jobs
        ),
        asyncio.create_task(
            _poll_forever("scheduler", dispatcher.run_due, interval, dispatcher.room_freed)
        ),
        asyncio.create_task(_poll_forever("sms scheduler", sms.run_due, interval)),
        asyncio.create_task(
            _every(
                settings.smtp_health_interval,
                "own SMTP health check",
                lambda: check_own_servers(runtime.sessions, directory, _now),
            )
        ),
    ]


async def _start_bounce_side(runtime: Runtime, stack: contextlib.AsyncExitStack) -> None:
    settings = runtime.settings
    processor = InboundProcessor(runtime.sessions, runtime.publisher)
    wake_up = asyncio.Event()
    host, port = parse_listen(settings.bounce_listen)
    listener = await start_bounce_listener(
        host=host,
        port=port,
        domain=settings.effective_bounce_domain,
        sessions=runtime.sessions,
        max_message_bytes=settings.bounce_max_message_bytes,
        on_stored=lambda _inbound_id: wake_up.set(),
    )
    runtime.bounce_port = listener.port
    stack.push_async_callback(listener.close)
    runtime.tasks.append(
        asyncio.create_task(
            _poll_forever(
                "inbound processing", processor.run_pending, settings.scheduler_interval, wake_up
            )
        )
    )


def _pdf_cache(settings: Settings) -> PdfCache | None:
    if not (settings.pdf_cache_mb or settings.pdf_files_mb):
        return None
    files = (
        PdfFiles(settings.data_dir / "pdf-cache", settings.pdf_files_mb * MIB)
        if settings.pdf_files_mb
        else None
    )
    return PdfCache(settings.pdf_cache_mb * MIB, files)


def _now() -> datetime:
    return datetime.now(UTC)


async def _every(interval: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
    """Run `job` every `interval` seconds for as long as the process runs."""
    while True:
        try:
            await job()
        except Exception:  # an outage must not end the loop; the next round retries
            logger.exception("%s failed", name)
        await asyncio.sleep(interval)


async def _poll_forever(
    name: str,
    tick: Callable[[], Awaitable[int]],
    interval: float,
    wake_up: asyncio.Event | None = None,
) -> None:
    """Run `tick` again at once while it finds work, else after `interval` or a wake-up."""
    wake_up = wake_up or asyncio.Event()
    while True:
        try:
            handled = await tick()
        except Exception:  # a store outage must not end the loop; the next tick retries
            logger.exception("%s tick failed", name)
            handled = 0
        if not handled:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake_up.wait(), timeout=interval)
            wake_up.clear()
