"""The benchmark's machinery end to end with tiny counts, through the embedded NATS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.results import ScenarioResult
from bench.scenarios import Environment, build_scenarios, run_scenario
from bench.stack import REPO_ROOT, python_env, write_dkim_key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Environment:
    workdir = tmp_path_factory.mktemp("bench")
    return Environment(None, None, write_dkim_key(workdir / "dkim.pem"), workdir)


def assert_every_event_arrived_once(result: ScenarioResult) -> None:
    assert result.error is None
    assert result.published > 0
    assert result.delivered == result.published
    assert (result.duplicates, result.lost) == (0, 0)
    assert 0 < result.p50_ms <= result.p99_ms
    assert result.throughput > 0
    fractions = [fraction for fraction, _ in result.rss_points]
    assert (fractions[0], fractions[-1]) == (0.1, 1.0)


def usage(result: ScenarioResult) -> dict[str, float]:
    return {process.role: process.cpu_per_message for process in result.processes}


def test_plain_and_paced_events_all_arrive_once(environment: Environment) -> None:
    plain, latency = build_scenarios(20, 100, ["plain", "latency"], 5)
    assert latency.rate == 200.0
    for scenario in (plain, latency):
        result = run_scenario(scenario, environment)
        assert_every_event_arrived_once(result)
        cpu = usage(result)
        assert {"service", "service/nats", "sink", "publisher"} <= set(cpu)
        assert cpu["service"] > 0 and cpu["publisher"] > 0


def test_one_then_two_workers_share_a_standalone_broker(environment: Environment) -> None:
    one, two = build_scenarios(20, 100, ["scale-out"], 5)
    assert (one.workers, two.workers) == (1, 2)
    results = [run_scenario(one, environment), run_scenario(two, environment)]
    for result in results:
        assert_every_event_arrived_once(result)
        assert "nats" in usage(result)
    assert {"worker-1", "worker-2"} <= set(usage(results[1]))


def run_bench(*args: str, tmp_path: Path, timeout: float) -> tuple[int, str, str]:
    output = tmp_path / "report.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--output", str(output)],
        cwd=REPO_ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout, output.read_text() if output.exists() else ""


def test_the_command_measures_pdf_emails_next_to_the_baselines(tmp_path: Path) -> None:
    code, stdout, report = run_bench(
        "--events", "4", "--scenario", "pdf", tmp_path=tmp_path, timeout=600
    )
    assert code == 0, stdout
    assert report and report in stdout
    assert "`python -m bench --events 4 --scenario pdf --output " in report
    assert "| pdf | 4 | 4 | 0 | 0 |" in report
    assert "| PDF emails / bare WeasyPrint pool rate |" in report
    assert "2-page invoice" in report
    assert "| service/pdf-worker |" in report
    assert "mailer's signature verified by dkimpy: yes" in report
    assert "Machinery failures" not in report


@pytest.mark.slow
@pytest.mark.timeout(8 * 3600)
def test_soak_of_100000_month_end_events(tmp_path: Path) -> None:
    code, stdout, report = run_bench("--soak", "100000", tmp_path=tmp_path, timeout=8 * 3600)
    assert code == 0, stdout
    assert "| soak | 100000 | 100000 | 0 | 0 |" in report
    assert "### Soak: RSS in MB as the run progressed" in report


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_soak_of_100000_plain_events(tmp_path: Path) -> None:
    code, stdout, report = run_bench(
        "--soak", "100000", "--soak-workload", "plain", tmp_path=tmp_path, timeout=3600
    )
    assert code == 0, stdout
    assert "| soak | 100000 | 100000 | 0 | 0 |" in report
    assert "soak: plain reminders for 100000 events" in report
