"""The benchmark's arithmetic: percentiles, rates, deliveries, log parsing, RSS points."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.measure import (
    SinkLog,
    deliveries,
    percentile,
    rate,
    read_publisher_log,
    rss_at_fractions,
)
from bench.processes import RssSample, Sampler, SeenProcess, child_kind


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_nothing_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_rate_is_zero_without_time_or_events() -> None:
    assert rate(100, 2.0) == 50.0
    assert rate(0, 2.0) == 0.0
    assert rate(10, 0.0) == 0.0


def test_deliveries_count_duplicates_losses_and_latency() -> None:
    published = {"<a@x>": 10.0, "<b@x>": 10.5, "<c@x>": 11.0}
    arrivals = {"<a@x>": [10.2, 10.9], "<b@x>": [11.5], "<other@x>": [10.1]}
    result = deliveries(published, arrivals)
    assert (result.published, result.delivered, result.duplicates, result.lost) == (3, 2, 1, 1)
    assert sorted(result.latencies) == pytest.approx([0.2, 1.0])
    assert result.first_publish == 10.0
    assert result.last_arrival == 11.5
    assert result.seconds == pytest.approx(1.5)
    assert result.throughput == pytest.approx(2 / 1.5)
    assert result.arrival_times == (10.2, 11.5)


def test_sink_log_reads_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "arrivals.tsv"
    log = SinkLog(path)
    assert log.poll() == []
    path.write_text("<a@x>\t1.5\n<b@x>\t1.")
    assert log.poll() == ["<a@x>"]
    with path.open("a") as out:
        out.write("75\n<a@x>\t2.0\n")
    assert log.poll() == ["<b@x>", "<a@x>"]
    assert log.arrivals == {"<a@x>": [1.5, 2.0], "<b@x>": [1.75]}


def test_publisher_log_has_times_and_a_cost_trailer(tmp_path: Path) -> None:
    path = tmp_path / "published.tsv"
    path.write_text("e-1\t100.25\ne-2\t100.5\n# 0.75 20480\n")
    log = read_publisher_log(path)
    assert log.published == {"e-1": 100.25, "e-2": 100.5}
    assert log.cpu_seconds == 0.75
    assert log.peak_rss_bytes == 20480 * 1024


def test_rss_points_take_the_last_sample_before_each_fraction() -> None:
    series = [
        RssSample(1.0, {"service": 100}),
        RssSample(2.0, {"service": 110}),
        RssSample(3.0, {"service": 120}),
    ]
    arrivals = [1.5, 2.5, 2.6, 3.5]
    points = rss_at_fractions(series, arrivals, (0.25, 0.5, 1.0))
    assert points == [(0.25, {"service": 100}), (0.5, {"service": 110}), (1.0, {"service": 120})]
    early = rss_at_fractions(series, [0.5], (1.0,))
    assert early == [(1.0, {"service": 100})]
    assert rss_at_fractions([], arrivals, (1.0,)) == []


@pytest.mark.parametrize(
    ("cmdline", "parent", "kind"),
    [
        (["/venv/bin/nats-server", "-js"], ["python", "-m", "mailer.cli", "run"], "nats"),
        (
            ["python", "-c", "from multiprocessing.forkserver import main; main(3)"],
            ["python", "-m", "mailer.cli", "run"],
            "forkserver",
        ),
        (
            ["python", "-c", "from multiprocessing.forkserver import main; main(3)"],
            ["python", "-c", "from multiprocessing.forkserver import main; main(3)"],
            "pdf-worker",
        ),
        (
            ["python", "-c", "from multiprocessing.resource_tracker import main;main(5)"],
            ["python", "-m", "mailer.cli", "run"],
            "resource-tracker",
        ),
        (["python", "-c", "from multiprocessing.spawn import spawn_main"], [], "pdf-worker"),
        (
            ["/venv/bin/python", "-m", "mailer.cli", "worker", "--parent-pid", "42"],
            ["python", "-m", "mailer.cli", "run"],
            "worker",
        ),
        (["/sbin/ldconfig", "-p"], ["python"], "child"),
    ],
)
def test_children_are_told_apart_by_command_line(
    cmdline: list[str], parent: list[str], kind: str
) -> None:
    assert child_kind(cmdline, parent) == kind


def test_cpu_per_role_counts_only_the_window_and_keeps_exited_workers() -> None:
    sampler = Sampler()
    main, old_worker, new_worker = (1, 0.0), (2, 0.0), (3, 5.0)
    sampler.seen = {
        main: SeenProcess("service", cpu=9.0),
        old_worker: SeenProcess("service/pdf-worker", cpu=4.0),  # recycled in the window
        new_worker: SeenProcess("service/pdf-worker", cpu=3.0),  # started in the window
    }
    since = {main: 1.0, old_worker: 1.5}
    until = {main: 6.0, old_worker: 4.0, new_worker: 2.0}
    assert sampler.cpu_by_role(since, until) == {"service": 5.0, "service/pdf-worker": 4.5}
    assert sampler.cpu_by_role(since) == {"service": 8.0, "service/pdf-worker": 5.5}


def test_peak_rss_is_the_largest_single_process_sampled_or_reported_by_the_kernel() -> None:
    sampler = Sampler()
    sampler.seen = {
        (1, 0.0): SeenProcess("service/pdf-worker", rss_max=100, hwm=150),
        (2, 0.0): SeenProcess("service/pdf-worker", rss_max=120, hwm=0),
        (3, 0.0): SeenProcess("sink", rss_max=20, hwm=10),
    }
    assert sampler.peak_rss_by_role() == {"service/pdf-worker": 150, "sink": 20}
