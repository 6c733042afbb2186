"""The `mailer worker` children of `mailer run`: how many, their PDF share, their supervision."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType

from mailer.settings import Settings, settings_environment

__all__ = [
    "DEFAULT_FIRST_RESTART_DELAY",
    "DEFAULT_GRACE",
    "DEFAULT_MAX_RESTART_DELAY",
    "DEFAULT_PARENT_CHECK_INTERVAL",
    "DEFAULT_STABLE_AFTER",
    "WorkerSupervisor",
    "consuming_processes",
    "pdf_workers_per_process",
    "until_parent_exits",
    "worker_command",
    "worker_environment",
]

logger = logging.getLogger(__name__)

# A stopping worker's dispatcher waits up to 30 s for deliveries in flight.
DEFAULT_GRACE = 45.0
DEFAULT_FIRST_RESTART_DELAY = 1.0
DEFAULT_MAX_RESTART_DELAY = 30.0
# A child that ran this long before exiting is restarted after the first delay again.
DEFAULT_STABLE_AFTER = 60.0
DEFAULT_PARENT_CHECK_INTERVAL = 1.0


def consuming_processes(workers: int, cpu_count: int | None) -> int:
    """The processes consuming send events under `mailer run`: `workers`, or one per core."""
    return workers or cpu_count or 1


def pdf_workers_per_process(pdf_workers: int, processes: int, cpu_count: int | None) -> int:
    """Each consuming process's PDF pool: as configured, else the cores shared out among them."""
    return pdf_workers or max(1, (cpu_count or 1) // processes)


def worker_command(parent_pid: int) -> list[str]:
    """`mailer worker` with this interpreter, stopping when process `parent_pid` is gone."""
    return [sys.executable, "-m", "mailer.cli", "worker", "--parent-pid", str(parent_pid)]


def worker_environment(
    inherited: Mapping[str, str], settings: Settings, broker_url: str
) -> dict[str, str]:
    """The child's environment: the parent's, with the parent's effective settings pinned."""
    pinned = {"MAILER_BROKER_URL": broker_url, "MAILER_WORKERS": "1"}
    return dict(inherited) | settings_environment(settings) | pinned


async def until_parent_exits(
    parent_pid: int, interval: float = DEFAULT_PARENT_CHECK_INTERVAL
) -> None:
    """Return once this process's parent is no longer `parent_pid` (it died: we were adopted)."""
    # Polling, as nothing portable signals a parent's death; getppid() costs a microsecond.
    while os.getppid() == parent_pid:  # noqa: ASYNC110
        await asyncio.sleep(interval)
    logger.warning("parent process %d is gone; stopping", parent_pid)


class WorkerSupervisor:
    """Keeps `count` processes running `command`, restarting any that exits, until closed.

    Children get a session of their own, so a Ctrl-C in the terminal reaches only the parent,
    which stops them in order: SIGTERM, then SIGKILL for those still running after `grace`.
    """

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        *,
        env: Mapping[str, str] | None = None,
        grace: float = DEFAULT_GRACE,
        first_restart_delay: float = DEFAULT_FIRST_RESTART_DELAY,
        max_restart_delay: float = DEFAULT_MAX_RESTART_DELAY,
        stable_after: float = DEFAULT_STABLE_AFTER,
    ) -> None:
        self._command = list(command)
        self._count = count
        self._env = None if env is None else dict(env)
        self._grace = grace
        self._first_restart_delay = first_restart_delay
        self._max_restart_delay = max_restart_delay
        self._stable_after = stable_after
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._slots: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        """The process ids of the children running now."""
        return [p.pid for p in self._processes.values() if p.returncode is None]

    async def start(self) -> None:
        """Start the children (returns once they are started, not once they are ready)."""
        try:
            for slot in range(self._count):
                self._processes[slot] = await self._spawn()
                self._slots.append(
                    asyncio.create_task(self._keep_running(slot), name=f"mailer-worker-{slot}")
                )
        except BaseException:
            await self.aclose()
            raise

    def stop(self) -> None:
        """Stop restarting children and send them SIGTERM; `aclose` waits for them."""
        self._stopping = True
        for process in self._processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()

    async def aclose(self) -> None:
        """Stop the children: SIGTERM, up to `grace` seconds to finish, then SIGKILL."""
        self._stopping = True
        for task in self._slots:
            task.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        self._slots.clear()
        self.stop()  # again: a restart may have started a child since
        exits = {
            asyncio.ensure_future(process.wait()): process
            for process in self._processes.values()
            if process.returncode is None
        }
        if not exits:
            return
        _, late = await asyncio.wait(exits, timeout=self._grace)
        for future in late:
            process = exits[future]
            logger.warning(
                "mailer worker (pid %d) still running %g s after SIGTERM; killing it",
                process.pid,
                self._grace,
            )
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await asyncio.gather(*exits)

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.DEVNULL,
            env=self._env,
            start_new_session=True,
        )

    async def _keep_running(self, slot: int) -> None:
        loop = asyncio.get_running_loop()
        delay = self._first_restart_delay
        while True:
            process = self._processes[slot]
            started = loop.time()
            code = await process.wait()
            if self._stopping:
                return
            if loop.time() - started >= self._stable_after:
                delay = self._first_restart_delay
            logger.error(
                "mailer worker (pid %d) exited with %s; restarting it in %g s",
                process.pid,
                _describe_exit(code),
                delay,
            )
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_restart_delay)
                if self._stopping:
                    return
                try:
                    self._processes[slot] = await self._spawn()
                    break
                except OSError:
                    logger.exception("could not start a mailer worker; retrying in %g s", delay)

    async def __aenter__(self) -> WorkerSupervisor:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _describe_exit(code: int) -> str:
    if code >= 0:
        return f"code {code}"
    try:
        return f"signal {signal.Signals(-code).name}"
    except ValueError:  # a real-time signal has no name
        return f"signal {-code}"
