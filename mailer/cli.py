"""The `mailer` command: run the service, run a worker, publish events, print the contract."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import uvicorn

from billing.broker import declare_billing_events
from bounce import cli as bounce_cli
from consumers.send import register_send_consumer
from consumers.sms import register_sms_consumer
from mailer import domain_service, tenant_settings
from mailer.api import asyncapi_document, create_api
from mailer.bootstrap import running
from mailer.broker import BrokerPublisher, create_broker
from mailer.errors import ConfigurationError, MailerError
from mailer.gc_policy import tune_for_throughput
from mailer.intake import InvalidEvent, parse_event
from mailer.secrets import SecretBox, generate_secret_key
from mailer.settings import Settings, parse_listen, settings_table
from mailer.store.database import create_engine, migrate, session_factory
from mailer.workers import (
    WorkerSupervisor,
    consuming_processes,
    pdf_workers_per_process,
    until_parent_exits,
    worker_command,
    worker_environment,
)

logger = logging.getLogger("mailer")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mailer` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(asyncio.run(args.command(settings, args)))
    except MailerError as exc:
        print(f"mailer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailer", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="the whole service: broker (embedded if unset), consumer, scheduler and HTTP API",
    )
    run.set_defaults(command=_run)
    worker = commands.add_parser(
        "worker",
        help="a consumer and scheduler without HTTP (scale out with several in one consumer group)",
    )
    worker.add_argument(
        "--parent-pid",
        type=int,
        metavar="PID",
        help="stop once process PID is no longer the parent (how `mailer run` starts workers)",
    )
    worker.set_defaults(command=_worker)
    send = commands.add_parser("send", help="validate event files and publish them on mail.send")
    send.add_argument("files", nargs="+", type=Path, metavar="EVENT.json")
    send.set_defaults(command=_send)
    listener = commands.add_parser(
        "bounce-listener",
        help="the bounce SMTP listener and the processing of what it receives, without the rest",
    )
    listener.set_defaults(command=_bounce_listener)
    bounce = commands.add_parser("bounce", help="bounce tools")
    bounce_tools = bounce.add_subparsers(required=True, metavar="TOOL")
    parse = bounce_tools.add_parser("parse", help="parse bounce files, print JSON Lines")
    parse.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parse.set_defaults(command=_bounce_parse)
    asyncapi = commands.add_parser("asyncapi", help="print the AsyncAPI document of the contract")
    asyncapi.set_defaults(command=_asyncapi)
    database = commands.add_parser("migrate", help="bring the database schema up to date")
    database.set_defaults(command=_migrate)
    secret_key = commands.add_parser(
        "secret-key",
        help="print a new MAILER_SECRET_KEY entry "
        "(put it first to rotate; keep the old ones after it)",
    )
    secret_key.add_argument("--version", default="k1", help="the key's version label")
    secret_key.set_defaults(command=_secret_key)
    rotate = commands.add_parser(
        "rotate-secrets",
        help="re-encrypt every stored secret under the first (current) key of MAILER_SECRET_KEY",
    )
    rotate.set_defaults(command=_rotate_secrets)
    table = commands.add_parser("settings", help="print the settings table (Markdown)")
    table.set_defaults(command=_settings)
    return parser  # fmt: skip


async def _run(settings: Settings, _args: argparse.Namespace) -> int:
    cores = os.cpu_count()
    processes = consuming_processes(settings.workers, cores)
    pdf_workers = pdf_workers_per_process(settings.pdf_workers, processes, cores)
    settings = settings.model_copy(update={"pdf_workers": pdf_workers})
    async with running(settings, consume=True, bounces=True) as runtime:
        tune_for_throughput()
        host, port = parse_listen(settings.http_listen)
        print(f"broker: {runtime.broker_url}  (also in {settings.data_dir / 'broker.url'})")
        print(
            f"bounce listener: {settings.bounce_listen}  (for @{settings.effective_bounce_domain})"
        )
        print(f"HTTP API: http://{host}:{port}  (OpenAPI at /openapi.json)")
        if settings.relay_url is None:
            print(f"outbox: {settings.outbox_dir.resolve()}  (no MAILER_RELAY_URL set)")
        children = WorkerSupervisor(
            worker_command(os.getpid()),
            processes - 1,
            env=worker_environment(os.environ, settings, runtime.broker_url),
        )
        async with children:
            print(_workers_line(processes, pdf_workers))
            config = uvicorn.Config(
                create_api(runtime), host=host, port=port, log_level="warning", lifespan="off"
            )
            server = _HttpServer(config)

            def stop() -> None:
                server.should_exit = True
                children.stop()  # they finish their sends while this process finishes its own

            _on_stop_signal(stop)
            await server.serve()
    return 0


def _workers_line(processes: int, pdf_workers: int) -> str:
    if processes == 1:
        return f"workers: 1 process (this one), PDF pool of {pdf_workers}"
    return (
        f"workers: {processes} processes (this one and {processes - 1} `mailer worker`), "
        f"PDF pool of {pdf_workers} in each"
    )


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: the CLI owns shutdown, so cleanup always runs."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _worker(settings: Settings, args: argparse.Namespace) -> int:
    if settings.broker_url is None:
        settings = settings.model_copy(update={"broker_url": _local_broker_url(settings)})
    async with running(settings, consume=True):
        tune_for_throughput()
        logger.info("worker started; stop with SIGTERM or Ctrl-C")
        await _until_signalled(args.parent_pid)
    return 0


async def _bounce_listener(settings: Settings, _args: argparse.Namespace) -> int:
    if settings.broker_url is None:
        settings = settings.model_copy(update={"broker_url": _local_broker_url(settings)})
    async with running(settings, consume=False, bounces=True):
        logger.info("bounce listener started; stop with SIGTERM or Ctrl-C")
        await _until_signalled()
    return 0


async def _bounce_parse(_settings: Settings, args: argparse.Namespace) -> int:
    return bounce_cli.main([str(path) for path in args.files])


async def _send(settings: Settings, args: argparse.Namespace) -> int:
    bodies = []
    for path in args.files:
        body = path.read_bytes()
        try:
            event = parse_event(body)
        except InvalidEvent as invalid:
            print(f"{path}: rejected: {invalid.reason}", file=sys.stderr)
            return 1
        bodies.append((path, event.tenant, event.id, body))
    broker = create_broker(settings.broker_url or _local_broker_url(settings))
    async with broker:
        await broker.connect()
        publisher = BrokerPublisher(broker)
        for path, tenant, request_id, body in bodies:
            await publisher.publish_send(body)
            print(f"{path}: published tenant={tenant} id={request_id}")
    return 0


async def _asyncapi(settings: Settings, _args: argparse.Namespace) -> int:
    broker = create_broker(settings.broker_url or "nats://127.0.0.1:4222")
    register_send_consumer(broker, _documentation_only, max_workers=1)
    register_sms_consumer(broker, _documentation_only, max_workers=1)
    declare_billing_events(broker)
    print(asyncapi_document(broker))
    return 0


async def _documentation_only(_body: bytes) -> None:
    raise RuntimeError("this broker only describes the contract; it does not consume")


async def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.effective_database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    print("database schema is up to date")
    return 0


async def _secret_key(_settings: Settings, args: argparse.Namespace) -> int:
    print(generate_secret_key(args.version))
    return 0


async def _rotate_secrets(settings: Settings, _args: argparse.Namespace) -> int:
    box = SecretBox.from_settings(settings)
    if box is None:
        raise ConfigurationError("MAILER_SECRET_KEY is not set")
    engine = create_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        async with session_factory(engine)() as session:
            settings_count = await tenant_settings.rotate_secrets(session, box)
            keys_count = await domain_service.rotate_key_secrets(session, box)
    finally:
        await engine.dispose()
    print(f"re-encrypted {settings_count} tenant secrets and {keys_count} DKIM keys "
          f"under key {box.current_version}")  # fmt: skip
    return 0


async def _settings(_settings: Settings, _args: argparse.Namespace) -> int:
    print(settings_table())
    return 0


def _local_broker_url(settings: Settings) -> str:
    """The embedded broker of a `mailer run` on this machine, from its broker.url file."""
    url_file = settings.data_dir / "broker.url"
    try:
        return url_file.read_text().strip()
    except FileNotFoundError:
        raise MailerError(
            f"no MAILER_BROKER_URL and no {url_file}: start `mailer run` first or set the URL"
        ) from None


async def _until_signalled(parent_pid: int | None = None) -> None:
    """Return on SIGINT or SIGTERM, or once process `parent_pid` (if given) is gone."""
    stop = asyncio.Event()
    _on_stop_signal(stop.set)
    waits: list[asyncio.Task[object]] = [asyncio.create_task(stop.wait())]
    if parent_pid is not None:
        waits.append(asyncio.create_task(until_parent_exits(parent_pid)))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


def _on_stop_signal(callback: Callable[[], object]) -> None:
    """Run `callback` on SIGINT or SIGTERM, so the process stops through its normal cleanup."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, callback)


if __name__ == "__main__":
    raise SystemExit(main())
