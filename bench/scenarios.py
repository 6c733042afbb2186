"""The scenarios, and running one: fresh sink and service, publish, wait for the sink, measure."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.events import Workload, event_id, message_id
from bench.measure import SinkLog, deliveries, percentile, read_publisher_log, rss_at_fractions
from bench.processes import MIB, ManagedProcess, Sampler
from bench.results import ProcessUsage, ScenarioResult
from bench.stack import (
    ServiceConfig,
    StackError,
    fresh_database,
    python_env,
    start_nats,
    start_service,
    start_sink,
    start_worker,
)

STALL_TIMEOUT = 120.0
"""Seconds without a new arrival after which the missing messages count as lost."""
DUPLICATE_GRACE = 1.0
"""Seconds to keep listening after the last expected arrival, to catch duplicates."""
POLL_INTERVAL = 0.2
RSS_FRACTIONS = tuple(step / 10 for step in range(1, 11))
SCALE_OUT = "scale-out"


@dataclass(frozen=True, slots=True)
class Scenario:
    """What one run publishes, how fast, and which service processes consume it."""

    name: str
    workload: Workload
    count: int
    rate: float = 0.0
    """Events/s the publisher keeps to; 0 is as fast as it can."""
    warmup_count: int = 0
    """Invoices with PDF delivered before the measured run (whose reminders then cycle over)."""
    workers: int = 0
    """0: one `mailer run`; n: a standalone broker and n `mailer worker` processes."""


@dataclass(frozen=True, slots=True)
class Environment:
    """What every scenario of a run shares."""

    broker_url: str | None
    """None: the embedded NATS (and a standalone one for scale-out)."""
    database_url: str | None
    dkim_key: Path
    workdir: Path


class _Run:
    """One scenario's processes and measurements while it runs."""

    def __init__(self, scenario: Scenario, env: Environment, stack: contextlib.ExitStack) -> None:
        self.scenario = scenario
        self.directory = env.workdir / scenario.name
        self.directory.mkdir(parents=True)
        self.sampler = Sampler()
        self.consumers: list[ManagedProcess] = []
        self._cpu_start: dict[tuple[int, float], float] = {}
        self._cpu_end: dict[tuple[int, float], float] = {}
        self.sink = start_sink(self.directory)
        stack.callback(self.sink.process.stop)
        self.sampler.watch("sink", self.sink.process.pid)
        self.sink_log = SinkLog(self.sink.arrivals)
        database_url = stack.enter_context(fresh_database(env.database_url))
        broker_url = env.broker_url
        if scenario.workers and broker_url is None:
            broker_url = self._standalone_nats(stack)
        config = ServiceConfig(
            self.sink.port, env.dkim_key, self.directory / "var", broker_url, database_url
        )
        if scenario.workers:
            for number in range(1, scenario.workers + 1):
                worker = start_worker(config, self.directory, f"worker-{number}")
                stack.callback(worker.stop)
                self.consumers.append(worker)
                self.sampler.watch(worker.name, worker.pid)
            self.broker_url = str(broker_url)
        else:
            service, self.broker_url = start_service(config, self.directory)
            stack.callback(service.stop)
            self.consumers.append(service)
            self.sampler.watch(service.name, service.pid)
        self.sampler.start()
        stack.callback(self.sampler.stop)

    def _standalone_nats(self, stack: contextlib.ExitStack) -> str:
        nats, url = start_nats(self.directory)
        stack.callback(nats.stop)
        self.sampler.watch("nats", nats.pid)
        return url

    def publish_and_wait(
        self, workload: Workload, count: int, prefix: str, *, rate: float = 0.0, cycle: int = 1
    ) -> tuple[Path, str | None]:
        """Publish `count` events and wait until they all reached the sink (or stall);
        the publisher's log and what went wrong, if anything."""
        log = self.directory / f"{prefix}-published.tsv"
        argv = [
            sys.executable,
            "-m",
            "bench.publisher",
            "--broker",
            self.broker_url,
            "--workload",
            workload.value,
            "--count",
            str(count),
            "--prefix",
            prefix,
            "--cycle",
            str(cycle),
            "--rate",
            str(rate),
            "--log",
            str(log),
        ]
        expected = {message_id(event_id(prefix, index)) for index in range(count)}
        publisher = ManagedProcess(
            f"publisher {prefix}",
            argv,
            log=self.directory / f"{prefix}-publisher.log",
            env=python_env(),
        )
        try:
            return log, self._wait(expected, publisher)
        finally:
            publisher.stop()

    def _wait(self, expected: set[str], publisher: ManagedProcess) -> str | None:
        arrived: set[str] = set()
        last_progress = time.monotonic()
        while len(arrived) < len(expected):
            new = [mid for mid in self.sink_log.poll() if mid in expected]
            if new:
                arrived.update(new)
                last_progress = time.monotonic()
                continue
            for process in self.consumers:
                if not process.alive():
                    return f"{process.name} died ({process.popen.returncode}):\n{process.tail()}"
            if publisher.popen.poll() not in (None, 0):
                return f"the publisher failed:\n{publisher.tail()}"
            if time.monotonic() - last_progress > STALL_TIMEOUT:
                return (
                    f"{len(expected) - len(arrived)} of {len(expected)} events never "
                    f"arrived (nothing new for {STALL_TIMEOUT:g} s)"
                )
            time.sleep(POLL_INTERVAL)
        self._cpu_end = self.sampler.cpu_snapshot()
        publisher.wait(timeout=STALL_TIMEOUT)
        time.sleep(DUPLICATE_GRACE)
        self.sink_log.poll()
        return None

    def measure(self, published_log: Path, error: str | None) -> ScenarioResult:
        self.sampler.stop()
        publisher = read_publisher_log(published_log) if published_log.exists() else None
        published = publisher.published if publisher else {}
        by_message = {message_id(ident): at for ident, at in published.items()}
        result = deliveries(by_message, self.sink_log.arrivals)
        if error is None and result.lost:
            error = f"{result.lost} of {result.published} events were lost"
        latencies_ms = [seconds * 1000 for seconds in result.latencies] or [0.0]
        delivered = max(result.delivered, 1)
        cpu = self.sampler.cpu_by_role(self._cpu_start, self._cpu_end or None)
        peaks = self.sampler.peak_rss_by_role()
        usage = [
            ProcessUsage(role, cpu.get(role, 0.0) / delivered, peaks[role] / MIB)
            for role in sorted(peaks)
        ]
        if publisher is not None:
            usage.append(
                ProcessUsage(
                    "publisher", publisher.cpu_seconds / delivered, publisher.peak_rss_bytes / MIB
                )
            )
        points = rss_at_fractions(self.sampler.series, result.arrival_times, RSS_FRACTIONS)
        return ScenarioResult(
            name=self.scenario.name,
            published=result.published,
            delivered=result.delivered,
            duplicates=result.duplicates,
            lost=result.lost,
            seconds=result.seconds,
            throughput=result.throughput,
            p50_ms=percentile(latencies_ms, 50),
            p99_ms=percentile(latencies_ms, 99),
            processes=tuple(usage),
            rss_points=tuple(
                (fraction, {role: rss / MIB for role, rss in rss_by_role.items()})
                for fraction, rss_by_role in points
            ),
            error=error,
        )

    def start_window(self) -> None:
        self._cpu_start = self.sampler.cpu_snapshot()


def run_scenario(scenario: Scenario, env: Environment) -> ScenarioResult:
    """Run `scenario` on fresh processes; a result with `error` set if the machinery failed."""
    with contextlib.ExitStack() as stack:
        try:
            run = _Run(scenario, env, stack)
        except StackError as exc:
            return _failed(scenario, str(exc))
        warmup = f"{scenario.name}-warmup"
        if scenario.warmup_count:
            _, error = run.publish_and_wait(Workload.PDF, scenario.warmup_count, warmup)
            if error is not None:
                return _failed(scenario, f"warm-up: {error}")
        run.start_window()
        log, error = run.publish_and_wait(
            scenario.workload,
            scenario.count,
            scenario.name,
            rate=scenario.rate,
            cycle=max(1, scenario.warmup_count),
        )
        result = run.measure(log, error)
    return result


def _failed(scenario: Scenario, error: str) -> ScenarioResult:
    return ScenarioResult(
        scenario.name, scenario.count, 0, 0, scenario.count, 0.0, 0.0, 0.0, 0.0, (), error=error
    )


def scenario_names() -> tuple[str, ...]:
    return ("plain", "latency", "pdf", "cached", "month-end", SCALE_OUT)


def build_scenarios(
    events: int, month_end_events: int, names: Sequence[str], cached_invoices: int
) -> list[Scenario]:
    """The scenarios to run, in the order given by `scenario_names`."""
    catalog = {
        "plain": [Scenario("plain", Workload.PLAIN, events)],
        "latency": [Scenario("latency", Workload.PLAIN, events, rate=200.0)],
        "pdf": [Scenario("pdf", Workload.PDF, events)],
        "cached": [Scenario("cached", Workload.REMINDER, events, warmup_count=cached_invoices)],
        "month-end": [Scenario("month-end", Workload.MONTH_END, month_end_events)],
        SCALE_OUT: [
            Scenario(f"{SCALE_OUT}-1", Workload.PLAIN, events, workers=1),
            Scenario(f"{SCALE_OUT}-2", Workload.PLAIN, events, workers=2),
        ],
    }
    return [scenario for name in scenario_names() if name in names for scenario in catalog[name]]
