"""Starts the processes of one scenario on loopback: sink, NATS, and the service as users run it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import make_url

from bench.events import MESSAGE_ID_DOMAIN
from bench.processes import ManagedProcess
from mailer.embedded_nats import free_port, nats_server_binary

READY_TIMEOUT = 90.0
DKIM_SELECTOR = "bench"
FROM_ADDRESS = "noreply@bench.example"
REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_STARTED = "worker started"


class StackError(RuntimeError):
    """A process of the benchmark did not start, or died."""


def write_dkim_key(path: Path) -> Path:
    """A fresh RSA-2048 private key in PEM at `path`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    return path


def python_env() -> dict[str, str]:
    """This environment without MAILER_* settings, with the repository importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def wait_until(
    ready: Callable[[], bool],
    what: str,
    watched: Sequence[ManagedProcess],
    timeout: float = READY_TIMEOUT,
) -> None:
    """Poll `ready`; StackError with the logs' tails if a watched process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        for process in watched:
            if not process.alive():
                raise StackError(
                    f"{process.name} exited with {process.popen.returncode} before {what} was "
                    f"ready; end of its log:\n{process.tail()}"
                )
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}:\n{p.tail()}" for p in watched)
            raise StackError(f"{what} not ready after {timeout:g} s\n{tails}")
        time.sleep(0.1)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True, slots=True)
class Sink:
    """A counting SMTP sink process and the file it logs arrivals to."""

    process: ManagedProcess
    port: int
    arrivals: Path


def start_sink(directory: Path, name: str = "sink") -> Sink:
    port = free_port()
    arrivals = directory / f"{name}-arrivals.tsv"
    argv = [sys.executable, "-m", "bench.sink", "--port", str(port), "--log", str(arrivals)]
    process = ManagedProcess(name, argv, log=directory / f"{name}.log", env=python_env())
    wait_until(lambda: listening(port), name, [process])
    return Sink(process, port, arrivals)


def start_nats(directory: Path) -> tuple[ManagedProcess, str]:
    """A standalone NATS JetStream server with its own store; the process and its URL."""
    port = free_port()
    argv = [
        str(nats_server_binary()),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-js",
        "-sd",
        str(directory / "nats-store"),
    ]
    process = ManagedProcess("nats", argv, log=directory / "nats.log")
    wait_until(lambda: listening(port), "nats-server", [process])
    return process, f"nats://127.0.0.1:{port}"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """What every service process of a scenario shares."""

    sink_port: int
    dkim_key: Path
    data_dir: Path
    broker_url: str | None
    """None: `mailer run` starts its embedded NATS."""
    database_url: str | None
    """None: the SQLite file in the data directory."""


def service_env(config: ServiceConfig, *, log_level: str = "WARNING") -> dict[str, str]:
    env = python_env() | {
        "MAILER_DATA_DIR": str(config.data_dir),
        "MAILER_RELAY_URL": f"smtp://127.0.0.1:{config.sink_port}?max_connections=8",
        "MAILER_FROM_ADDRESS": FROM_ADDRESS,
        "MAILER_DKIM_DOMAIN": MESSAGE_ID_DOMAIN,
        "MAILER_DKIM_SELECTOR": DKIM_SELECTOR,
        "MAILER_DKIM_PRIVATE_KEY_FILE": str(config.dkim_key),
        "MAILER_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
        "MAILER_BOUNCE_LISTEN": f"127.0.0.1:{free_port()}",
        "MAILER_LOG_LEVEL": log_level,
    }
    if config.broker_url is not None:
        env["MAILER_BROKER_URL"] = config.broker_url
    if config.database_url is not None:
        env["MAILER_DATABASE_URL"] = config.database_url
    return env


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_service(config: ServiceConfig, directory: Path) -> tuple[ManagedProcess, str]:
    """`mailer run` as users run it; the process and the broker URL to publish to."""
    env = service_env(config)
    argv = [sys.executable, "-m", "mailer.cli", "run"]
    process = ManagedProcess("service", argv, log=directory / "service.log", env=env, cwd=directory)
    health = f"http://{env['MAILER_HTTP_LISTEN']}/healthz"
    url_file = config.data_dir / "broker.url"
    embedded = config.broker_url is None
    wait_until(
        lambda: _healthy(health) and (url_file.exists() or not embedded), "the service", [process]
    )
    return process, config.broker_url or url_file.read_text().strip()


def start_worker(config: ServiceConfig, directory: Path, name: str) -> ManagedProcess:
    """`mailer worker`, ready once it logs "worker started" (so it logs at INFO)."""
    env = service_env(config, log_level="INFO")
    argv = [sys.executable, "-m", "mailer.cli", "worker"]
    log = directory / f"{name}.log"
    process = ManagedProcess(name, argv, log=log, env=env, cwd=directory)
    wait_until(lambda: WORKER_STARTED in log.read_text(errors="replace"), name, [process])
    return process


@contextlib.contextmanager
def fresh_database(url: str | None) -> Iterator[str | None]:
    """For a PostgreSQL URL, a new empty database on the same server, dropped afterwards;
    any other URL as it is (None is the SQLite file of the fresh data directory)."""
    if url is None or not make_url(url).get_backend_name().startswith("postgresql"):
        yield url
        return
    parsed = make_url(url)
    name = f"bench_{secrets.token_hex(6)}"
    asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: str, statement: str) -> None:
    parsed = make_url(url)
    connection = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
