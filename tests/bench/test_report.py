"""The Markdown report rendered from a fixed result: targets, verdicts, tables."""

from __future__ import annotations

from dataclasses import replace

from bench.report import render
from bench.results import (
    Baselines,
    BenchResult,
    DkimResult,
    LoopRate,
    Machine,
    ProcessUsage,
    ScenarioResult,
)
from bench.targets import FAIL, NOT_RUN, PASS, headline


def scenario(name: str, throughput: float, **changes: object) -> ScenarioResult:
    values: dict[str, object] = {
        "name": name,
        "published": 100,
        "delivered": 100,
        "duplicates": 0,
        "lost": 0,
        "seconds": 100 / throughput,
        "throughput": throughput,
        "p50_ms": 20.0,
        "p99_ms": 120.0,
        "processes": (
            ProcessUsage("service", 0.0008, 180.0),
            ProcessUsage("service/pdf-worker", 0.1, 170.0),
            ProcessUsage("sink", 0.0003, 24.0),
            ProcessUsage("publisher", 0.0001, 500.0),
        ),
        "rss_points": (
            (0.1, {"service": 180.0, "sink": 24.0}),
            (1.0, {"service": 185.0, "sink": 24.0}),
        ),
    }
    return ScenarioResult(**(values | changes))  # type: ignore[arg-type]


BASELINES = Baselines(
    naive_plain=LoopRate(300, 110.0, 0.009),
    naive_pdf=LoopRate(40, 6.0, 0.16),
    pool=LoopRate(100, 14.0, 0.14),
    pool_workers=2,
    pdf_pages=2,
    smtp=LoopRate(4000, 2000.0, 0.0003),
    dkim=DkimResult(mailer_ms=0.4, dkimpy_ms=6.0, verified=True),
)
RESULT = BenchResult(
    started="2026-11-23 10:00 UTC",
    command="python -m bench --events 100",
    machine=Machine("AMD EPYC", 2, "3.11.7", harfbuzz_subset=True),
    broker="embedded NATS (`mailer run`)",
    database="SQLite in a fresh data directory",
    rules=("100 events per scenario (--events)",),
    scenarios=(
        scenario("plain", 1200.0),
        scenario("latency", 199.0, p99_ms=300.0),
        scenario("pdf", 13.0),
        scenario("cached", 1100.0),
        scenario("scale-out-1", 900.0),
        scenario("scale-out-2", 1500.0),
    ),
    baselines=BASELINES,
    seconds=600.0,
)


def verdicts(result: BenchResult) -> dict[str, str]:
    return {row.target.split(" (")[0]: row.verdict for row in headline(result)}


def test_targets_are_judged_as_ratios_within_the_run() -> None:
    rows = {row.target.split(" (")[0]: row for row in headline(RESULT)}
    assert rows["Plain emails/s end to end"].verdict == PASS
    assert rows["Plain / bare SMTP rate"].value == "0.60"
    assert rows["PDF emails / bare WeasyPrint pool rate"].value == "0.93"
    assert rows["Cached reminders / plain rate"].value == "0.92"
    assert rows["p99 publish -> 250 at 200 events/s"].verdict == FAIL
    assert rows["Two workers / one worker"].verdict == PASS
    assert rows["Two workers: duplicates"].value == "0"
    assert rows["DKIM signature verified by dkimpy"].verdict == PASS
    assert rows["RSS growth after warm-up"].verdict == PASS  # +5 MB of 180 MB
    assert rows["Peak RSS of any service process"].value == "180.00 MB"  # the publisher is not


def test_missing_scenarios_and_baselines_are_not_run_rather_than_failed() -> None:
    only_plain = replace(RESULT, scenarios=(scenario("plain", 800.0),), baselines=None)
    judged = verdicts(only_plain)
    assert judged["Plain emails/s end to end"] == FAIL
    assert judged["Plain / bare SMTP rate"] == NOT_RUN
    assert judged["Two workers / one worker"] == NOT_RUN
    assert judged["DKIM median per RSA-2048 signature"] == NOT_RUN


def test_duplicates_with_two_workers_fail_the_target() -> None:
    doubled = replace(
        RESULT, scenarios=(*RESULT.scenarios[:5], scenario("scale-out-2", 1500.0, duplicates=3))
    )
    assert verdicts(doubled)["Two workers: duplicates"] == FAIL


def test_report_has_header_targets_scenarios_baselines_and_memory() -> None:
    report = render(RESULT)
    for heading in (
        "# Benchmark",
        "## Targets",
        "## Scenarios",
        "### CPU milliseconds",
        "### Peak RSS",
        "## Baselines (same run)",
        "## Memory after warm-up",
    ):
        assert f"\n{heading}" in report or report.startswith(heading)
    assert "`python -m bench --events 100`" in report
    assert "libharfbuzz-subset present" in report
    assert "| plain | 100 | 100 | 0 | 0 | 0.1 | 1,200.0 | 20.0 | 120.0 |" in report
    assert "| service | 0.80 |" in report  # CPU in ms per message
    assert "2-page invoice" in report
    assert "dkimpy 6.00 ms" in report
    assert "Machinery failures" not in report


def test_report_shows_machinery_failures_and_the_soak_series() -> None:
    soak = scenario("soak", 500.0, error="worker-1 died (-9):\nKilled")
    report = render(replace(RESULT, scenarios=(*RESULT.scenarios, soak)))
    assert "## Machinery failures" in report and "worker-1 died (-9):\nKilled" in report
    assert "### Soak: RSS in MB as the run progressed" in report
    assert "| 10% | 180 | 24 |" in report
    assert replace(RESULT, scenarios=(soak,)).failed and not RESULT.failed
