"""`mailer run` with worker children: their count, PDF share, settings and supervision."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.parser
import email.policy
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from pydantic import SecretStr

from mailer.broker import BrokerPublisher, create_broker
from mailer.cli import _parser, _until_signalled
from mailer.embedded_nats import free_port
from mailer.settings import Settings, settings_environment
from mailer.workers import (
    WorkerSupervisor,
    consuming_processes,
    pdf_workers_per_process,
    until_parent_exits,
    worker_command,
    worker_environment,
)
from tests.conftest import load_example

MAILER = [sys.executable, "-m", "mailer.cli"]


@pytest.mark.parametrize(
    ("workers", "cpu_count", "expected"),
    [(0, 8, 8), (0, None, 1), (1, 8, 1), (3, 8, 3), (12, 2, 12)],
)
def test_consuming_processes_default_to_one_per_core(
    workers: int, cpu_count: int | None, expected: int
) -> None:
    assert consuming_processes(workers, cpu_count) == expected


@pytest.mark.parametrize(
    ("pdf_workers", "processes", "cpu_count", "expected"),
    [
        (0, 1, 8, 8),  # one consuming process: one PDF process per core, as before
        (0, 2, 8, 4),
        (0, 3, 8, 2),
        (0, 8, 8, 1),
        (0, 16, 8, 1),  # never none
        (0, 2, None, 1),
        (5, 4, 8, 5),  # an explicit size is per process
    ],
)
def test_pdf_processes_share_the_cores_out(
    pdf_workers: int, processes: int, cpu_count: int | None, expected: int
) -> None:
    assert pdf_workers_per_process(pdf_workers, processes, cpu_count) == expected


def test_workers_setting_is_validated_and_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_WORKERS", "3")
    assert Settings(_env_file=None).workers == 3  # type: ignore[call-arg]
    monkeypatch.setenv("MAILER_WORKERS", "-1")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert Settings.model_fields["workers"].default == 0
    assert Settings.model_fields["workers"].description


def _everything_set() -> Settings:
    values: dict[str, Any] = {
        "broker_url": "nats://127.0.0.1:14222",
        "database_url": "postgresql+asyncpg://mailer@db.test/mailer",
        "data_dir": Path("some/relative dir"),
        "relay_url": SecretStr("smtp://user:p%40ss@relay.test:587"),
        "from_address": "noreply@mailer.test",
        "dkim_domain": "mailer.test",
        "dkim_selector": "s1",
        "dkim_private_key_file": Path("/keys/dkim.pem"),
        "sms_provider_url": "https://sms.test",
        "sms_account_sid": "AC1",
        "sms_auth_token": SecretStr("token"),
        "sms_from": "+15550100",
        "bounce_domain": "bounces.mailer.test",
        "bounce_listen": "[::1]:2526",
        "bounce_max_message_bytes": 2048,
        "spf_include": "_spf.mailer.test",
        "dns_resolver": "127.0.0.1:5353",
        "http_listen": "0.0.0.0:8081",
        "smtp_ca_file": Path("/ca.pem"),
        "smtp_health_interval": 0.25,
        "api_tokens": SecretStr("acme:secret"),
        "secret_key": SecretStr("k1:" + "A" * 43 + "="),
        "retry_initial_delay": 1e-05,
        "retry_max_delay": 7.5,
        "retry_horizon": 120.0,
        "workers": 3,
        "pdf_workers": 2,
        "pdf_timeout": 5.0,
        "pdf_memory_limit_mb": 256,
        "pdf_cache_mb": 0,
        "max_concurrent_sends": 7,
        "in_flight_limit": 9,
        "lease_seconds": 11.0,
        "scheduler_interval": 0.5,
        "billing_interval": 3.0,
        "billing_relay_interval": 0.75,
        "log_level": "DEBUG",
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_a_child_started_with_the_settings_environment_has_the_same_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _everything_set()
    variables = settings_environment(settings)
    assert set(variables) == {f"MAILER_{name.upper()}" for name in Settings.model_fields}
    for name in list(os.environ):
        if name.startswith("MAILER_"):
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert Settings(_env_file=None) == settings  # type: ignore[call-arg]


def test_unset_settings_are_left_out() -> None:
    variables = settings_environment(Settings(_env_file=None))  # type: ignore[call-arg]
    assert "MAILER_BROKER_URL" not in variables and "MAILER_RELAY_URL" not in variables


def test_the_worker_environment_pins_broker_workers_and_pdf_pool() -> None:
    settings = Settings(_env_file=None, workers=4, pdf_workers=2)  # type: ignore[call-arg]
    inherited = {"PATH": "/bin", "MAILER_BROKER_URL": "nats://elsewhere:4222"}
    env = worker_environment(inherited, settings, "nats://127.0.0.1:4321")
    assert env["PATH"] == "/bin"
    assert env["MAILER_BROKER_URL"] == "nats://127.0.0.1:4321"
    assert env["MAILER_WORKERS"] == "1"
    assert env["MAILER_PDF_WORKERS"] == "2"


def test_the_worker_command_is_a_mailer_worker_watching_its_parent() -> None:
    command = worker_command(4321)
    assert command[:3] == MAILER
    args = _parser().parse_args(command[3:])
    assert args.command.__name__ == "_worker" and args.parent_pid == 4321


async def test_a_worker_stops_waiting_once_its_parent_is_not_the_one_given() -> None:
    await asyncio.wait_for(_until_signalled(parent_pid=os.getppid() + 1), timeout=5)
    waiting = asyncio.create_task(until_parent_exits(os.getppid(), interval=0.01))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    waiting.cancel()


def test_a_process_watching_its_parent_ends_when_the_parent_is_killed(tmp_path: Path) -> None:
    watcher = (
        "import asyncio, sys; from mailer.workers import until_parent_exits; "
        "asyncio.run(until_parent_exits(int(sys.argv[1]), 0.05))"
    )
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time; "
            f"child = subprocess.Popen([sys.executable, '-c', {watcher!r}, str(os.getpid())]); "
            "print(child.pid, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    assert _gone([child], timeout=10), "the watcher outlived its parent"


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], timeout: float) -> None:
    """Poll until `condition` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def _starts(path: Path) -> int:
    return len(path.read_text()) if path.exists() else 0


async def test_a_child_that_exits_is_restarted_with_a_growing_capped_delay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    starts = tmp_path / "starts"
    code = f"import sys; open({str(starts)!r}, 'a').write('x'); sys.exit(3)"
    supervisor = WorkerSupervisor(
        [sys.executable, "-c", code],
        1,
        first_restart_delay=0.05,
        max_restart_delay=0.2,
        stable_after=60.0,
    )
    with caplog.at_level(logging.ERROR, logger="mailer.workers"):
        async with supervisor:
            await wait_for(lambda: _starts(starts) >= 5, timeout=20)
    exits = [r.getMessage() for r in caplog.records if "exited with" in r.getMessage()]
    assert len(exits) >= 4 and all("exited with code 3" in message for message in exits)
    delays = [message.rpartition(" in ")[2] for message in exits[:4]]
    assert delays == ["0.05 s", "0.1 s", "0.2 s", "0.2 s"]


async def test_the_delay_starts_over_after_a_child_ran_a_while(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    starts = tmp_path / "starts"
    code = f"import sys, time; open({str(starts)!r}, 'a').write('x'); time.sleep(0.1); sys.exit(1)"
    supervisor = WorkerSupervisor(
        [sys.executable, "-c", code], 1, first_restart_delay=0.05, stable_after=0.05
    )
    with caplog.at_level(logging.ERROR, logger="mailer.workers"):
        async with supervisor:
            await wait_for(lambda: _starts(starts) >= 3, timeout=20)
    exits = [r.getMessage() for r in caplog.records if "exited with" in r.getMessage()]
    assert len(exits) >= 2 and all(message.endswith("in 0.05 s") for message in exits)


async def test_children_get_sigterm_then_sigkill_after_the_grace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    polite, stubborn = tmp_path / "polite", tmp_path / "stubborn"
    on_term = (
        "import signal, sys, time, pathlib; p = pathlib.Path(sys.argv[1]); "
        "signal.signal(signal.SIGTERM, lambda *_: (p.write_text('terminated'), sys.exit(0))); "
        "p.write_text('ready'); time.sleep(60)"
    )
    ignores_term = (
        "import signal, sys, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "pathlib.Path(sys.argv[1]).write_text('ready'); time.sleep(60)"
    )
    first = WorkerSupervisor([sys.executable, "-c", on_term, str(polite)], 2, grace=0.5)
    second = WorkerSupervisor([sys.executable, "-c", ignores_term, str(stubborn)], 1, grace=0.5)
    with caplog.at_level(logging.WARNING, logger="mailer.workers"):
        await first.start()
        await second.start()
        children = [psutil.Process(pid) for pid in first.pids + second.pids]
        assert len(children) == 3
        await wait_for(lambda: polite.exists() and stubborn.exists(), timeout=20)
        await first.aclose()
        assert polite.read_text() == "terminated"
        assert not any("killing" in record.getMessage() for record in caplog.records)
        started = time.monotonic()
        await second.aclose()
        assert 0.5 <= time.monotonic() - started < 30  # it would sleep for 60 s
    assert first.pids == second.pids == []
    assert _gone(children, timeout=5)
    messages = [record.getMessage() for record in caplog.records]
    assert not any("exited with" in message for message in messages)  # no restart on shutdown
    assert any("still running 0.5 s after SIGTERM; killing it" in m for m in messages)


async def test_children_have_their_own_session_so_ctrl_c_reaches_only_the_parent() -> None:
    async with WorkerSupervisor([sys.executable, "-c", "import time; time.sleep(60)"], 1) as sup:
        [pid] = sup.pids
        assert os.getsid(pid) == pid != os.getsid(0)


def _gone(processes: list[psutil.Process], timeout: float) -> bool:
    """Whether all ended (zombies count: only their exit status is left) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(process) for process in processes):
            return True
        time.sleep(0.05)
    return False


def _alive(process: psutil.Process) -> bool:
    try:
        status: str = process.status()
    except psutil.NoSuchProcess:
        return False
    return status != str(psutil.STATUS_ZOMBIE)


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, Path]]:
    """`mailer run` with MAILER_WORKERS=2; the process, its HTTP base, data dir and log."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILER_")} | {
        "MAILER_DATA_DIR": str(tmp_path / "var"),
        "MAILER_HTTP_LISTEN": f"127.0.0.1:{port}",
        "MAILER_BOUNCE_LISTEN": f"127.0.0.1:{free_port()}",
        "MAILER_WORKERS": "2",
    }
    log_path = tmp_path / "mailer.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([*MAILER, "run"], env=env, cwd=tmp_path, stdout=log, stderr=log)
        try:
            yield process, f"http://127.0.0.1:{port}", tmp_path / "var", log_path
        finally:
            if process.poll() is None:  # the test failed before it stopped the service
                leftovers = psutil.Process(process.pid).children(recursive=True)
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                for leftover in leftovers:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        leftover.kill()


def _worker_children(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    with_worker = []
    for child in psutil.Process(process.pid).children():
        try:
            if "worker" in child.cmdline():
                with_worker.append(child)
        except psutil.NoSuchProcess:
            continue
    return with_worker


async def _healthy(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base}/healthz")).status_code == 200
    except httpx.TransportError:
        return False


def _message_ids(outbox: Path) -> collections.Counter[str]:
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    return collections.Counter(
        str(parser.parsebytes(path.read_bytes())["Message-ID"]) for path in outbox.glob("*.eml")
    )


@pytest.mark.integration
async def test_mailer_run_with_two_workers_delivers_each_event_once_and_leaves_no_child(
    two_workers: tuple[subprocess.Popen[bytes], str, Path, Path],
) -> None:
    process, base, data_dir, log = two_workers
    await wait_for(lambda: _healthy(base), timeout=60)
    await wait_for(lambda: "worker started" in log.read_text(errors="replace"), timeout=60)
    [worker] = _worker_children(process)
    assert f"--parent-pid {process.pid}" in " ".join(worker.cmdline())
    pdf_share = max(1, (os.cpu_count() or 1) // 2)
    assert (
        f"workers: 2 processes (this one and 1 `mailer worker`), PDF pool of {pdf_share} in each"
        in log.read_text()
    )
    child_env = worker.environ()
    assert child_env["MAILER_BROKER_URL"] == (data_dir / "broker.url").read_text().strip()
    assert (child_env["MAILER_WORKERS"], child_env["MAILER_PDF_WORKERS"]) == ("1", str(pdf_share))
    descendants = psutil.Process(process.pid).children(recursive=True)

    count = 40
    event = load_example("payment.receipt") | {"attach_pdf": False}
    broker = create_broker((data_dir / "broker.url").read_text().strip())
    async with broker:
        await broker.connect()
        publisher = BrokerPublisher(broker)
        for number in range(count):
            body = json.dumps(event | {"id": f"evt-workers-{number:03}"}).encode()
            await publisher.publish_send(body)
    outbox = data_dir / "outbox"
    await wait_for(lambda: len(list(outbox.glob("*.eml"))) >= count, timeout=60)
    await asyncio.sleep(1.0)  # a duplicate would show up now
    ids = _message_ids(outbox)
    assert len(ids) == count and set(ids.values()) == {1}

    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, 60) == 0, log.read_text()
    assert _gone(descendants, timeout=10), [p.cmdline() for p in descendants if _alive(p)]


@pytest.mark.integration
async def test_the_worker_child_stops_when_mailer_run_is_killed(
    two_workers: tuple[subprocess.Popen[bytes], str, Path, Path],
) -> None:
    process, base, _data_dir, log = two_workers
    await wait_for(lambda: _healthy(base), timeout=60)
    await wait_for(lambda: "worker started" in log.read_text(errors="replace"), timeout=60)
    [worker] = _worker_children(process)
    descendants = psutil.Process(process.pid).children(recursive=True)
    try:
        process.kill()
        await asyncio.to_thread(process.wait)
        assert await asyncio.to_thread(_gone, [worker], 15), "the worker outlived `mailer run`"
        assert f"parent process {process.pid} is gone; stopping" in log.read_text()
    finally:
        for leftover in descendants:  # the embedded broker has no watch of its own
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
