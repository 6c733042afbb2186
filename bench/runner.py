"""One benchmark run: a DKIM key, the baselines, then each scenario on fresh processes."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.baselines import run_baselines
from bench.events import Workload
from bench.results import BenchResult, Machine, ScenarioResult
from bench.scenarios import Environment, Scenario, build_scenarios, run_scenario
from bench.stack import write_dkim_key
from mailer.pdf_pool import harfbuzz_subset_available

DEFAULT_EVENTS = 2000
MONTH_END_EVENTS = 10_000
MONTH_END_FACTOR = 5
CACHED_INVOICES_MAX = 50
RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
EMBEDDED = "embedded"


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to run, from the command line."""

    events: int
    broker: str
    """`embedded`, `rabbit` or a broker URL."""
    database_url: str | None
    scenarios: tuple[str, ...]
    soak: int | None = None
    soak_workload: Workload = Workload.MONTH_END
    baselines: bool = True


def broker_url(broker: str) -> str | None:
    """The URL the service is given; None for its embedded NATS."""
    if broker == EMBEDDED:
        return None
    return RABBIT_URL if broker == "rabbit" else broker


def month_end_events(events: int) -> int:
    return min(MONTH_END_EVENTS, MONTH_END_FACTOR * events)


def cached_invoices(events: int) -> int:
    return max(1, min(CACHED_INVOICES_MAX, events // 4))


def count_rules(config: BenchConfig) -> tuple[str, ...]:
    """How this run chose its event counts, in words for the report."""
    rules = [
        f"{config.events} events per scenario (--events)",
        f"month-end: {MONTH_END_FACTOR} x --events, at most {MONTH_END_EVENTS:,}, "
        f"30 % invoices with PDF, shuffled with a fixed seed: {month_end_events(config.events)}",
        f"cached: first {cached_invoices(config.events)} invoices with PDF delivered (not "
        f"measured), then {config.events} reminders with those PDFs",
        "latency: the plain events paced at 200 events/s",
        "scale-out: the plain events, once with one `mailer worker`, once with two "
        "(workers log at INFO to announce `worker started`)",
    ]
    if config.soak:
        what = (
            "the month-end mix" if config.soak_workload is Workload.MONTH_END else "plain reminders"
        )
        rules.append(f"soak: {what} for {config.soak} events (--soak, --soak-workload)")
    return tuple(rules)


def machine() -> Machine:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return Machine(
        model, os.cpu_count() or 1, platform.python_version(), harfbuzz_subset_available()
    )


def scenarios_for(config: BenchConfig) -> list[Scenario]:
    scenarios = build_scenarios(
        config.events,
        month_end_events(config.events),
        config.scenarios,
        cached_invoices(config.events),
    )
    if config.soak:
        scenarios.append(Scenario("soak", config.soak_workload, config.soak))
    return scenarios


def run_benchmark(
    config: BenchConfig, command: Sequence[str], log: Callable[[str], None] = print
) -> BenchResult:
    """Run the baselines and the scenarios of `config`; the result (its report says the rest)."""
    started = time.monotonic()
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as temporary:
        workdir = Path(temporary)
        key = write_dkim_key(workdir / "dkim.pem")
        baselines = (
            run_baselines(config.events, key, workdir / "baselines", log)
            if config.baselines
            else None
        )
        env = Environment(broker_url(config.broker), config.database_url, key, workdir)
        results: list[ScenarioResult] = []
        for scenario in scenarios_for(config):
            log(f"scenario {scenario.name}: {scenario.count} events")
            result = run_scenario(scenario, env)
            log(
                f"  {result.delivered}/{result.published} delivered, "
                f"{result.throughput:.0f}/s" + (f"; FAILED: {result.error}" if result.error else "")
            )
            results.append(result)
    return BenchResult(
        started=started_at,
        command=" ".join(command),
        machine=machine(),
        broker=_without_password(broker_url(config.broker)) or "embedded NATS (`mailer run`)",
        database=_database_label(config.database_url),
        rules=count_rules(config),
        scenarios=tuple(results),
        baselines=baselines,
        seconds=time.monotonic() - started,
    )


def _database_label(url: str | None) -> str:
    if url is None:
        return "SQLite in each scenario's fresh data directory"
    if url.startswith("postgresql"):
        return f"{_without_password(url)} (a fresh database per scenario)"
    return str(_without_password(url))


def _without_password(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
