"""The issue's targets judged from one run's result, as ratios measured within the run."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from bench.results import BenchResult

PASS, FAIL, NOT_RUN = "pass", "FAIL", "not run"
FLAT_SHARE = 0.10
"""Growth after warm-up up to this share of the warm-up RSS counts as flat."""
RSS_LIMIT_MB = 400.0
OUTSIDE_SERVICE = ("sink", "publisher")


@dataclass(frozen=True, slots=True)
class Row:
    """One target of the headline table."""

    target: str
    value: str
    goal: str
    ratio: str
    verdict: str


def _row(
    target: str,
    goal: str,
    value: float | None,
    limit: float,
    better: Callable[[float, float], bool],
    unit: str = "",
) -> Row:
    if value is None:
        return Row(target, "-", goal, "-", NOT_RUN)
    verdict = PASS if better(value, limit) else FAIL
    return Row(target, f"{value:,.2f}{unit}", goal, f"{value / limit:.2f}", verdict)


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or not bottom:
        return None
    return top / bottom


def headline(result: BenchResult) -> list[Row]:
    """The issue's targets, each measured as a ratio within this run where it is one."""
    rate = throughputs(result)
    base = result.baselines
    plain, pdf, cached = rate.get("plain"), rate.get("pdf"), rate.get("cached")
    latency = result.scenario("latency")
    one, two = result.scenario("scale-out-1"), result.scenario("scale-out-2")
    rows = [
        _row("Plain emails/s end to end", ">= 1,000", plain, 1000, operator.ge),
        _row(
            "Plain / bare SMTP rate",
            ">= 0.40",
            _ratio(plain, base.smtp.per_second if base else None),
            0.40,
            operator.ge,
        ),
        _row(
            "PDF emails / bare WeasyPrint pool rate",
            ">= 0.90",
            _ratio(pdf, base.pool.per_second if base else None),
            0.90,
            operator.ge,
        ),
        _row(
            "Cached reminders / plain rate",
            "~1 (>= 0.90)",
            _ratio(cached, plain),
            0.90,
            operator.ge,
        ),
        _row(
            "DKIM median per RSA-2048 signature",
            "<= 1.0 ms",
            base.dkim.mailer_ms if base else None,
            1.0,
            operator.le,
            " ms",
        ),
        _verified_row(base.dkim.verified if base else None),
        _row(
            "p99 publish -> 250 at 200 events/s",
            "< 250 ms",
            latency.p99_ms if latency else None,
            250.0,
            operator.lt,
            " ms",
        ),
        _row(
            "Two workers / one worker",
            "> 1.0",
            _ratio(two.throughput if two else None, one.throughput if one else None),
            1.0,
            operator.gt,
        ),
        _count_row("Two workers: duplicates", two.duplicates if two else None),
        _count_row("Two workers: lost", two.lost if two else None),
    ]
    return rows + _memory_rows(result)


def _verified_row(verified: bool | None) -> Row:
    target = "DKIM signature verified by dkimpy"
    if verified is None:
        return Row(target, "-", "yes", "-", NOT_RUN)
    return Row(target, "yes" if verified else "no", "yes", "-", PASS if verified else FAIL)


def _count_row(target: str, count: int | None) -> Row:
    """A target of zero occurrences."""
    if count is None:
        return Row(target, "-", "0", "-", NOT_RUN)
    return Row(target, str(count), "0", "-", PASS if count == 0 else FAIL)


def throughputs(result: BenchResult) -> dict[str, float]:
    return {s.name: s.throughput for s in result.scenarios if s.error is None}


def _memory_rows(result: BenchResult) -> list[Row]:
    measured = [s for s in result.scenarios if s.rss_points]
    if not measured:
        return [
            Row("RSS growth after warm-up", "-", "flat", "-", NOT_RUN),
            Row("Peak RSS of any service process", "-", "< 400 MB", "-", NOT_RUN),
        ]
    longest = max(measured, key=lambda s: s.published)
    warm = longest.rss_points[0][1]
    growth = longest.rss_growth_mb()
    peaks = [
        (p.peak_rss_mb, f"{s.name}: {p.role}")
        for s in result.scenarios
        for p in s.processes
        if p.role not in OUTSIDE_SERVICE
    ]
    if not growth or not peaks:
        return []
    role = max(growth, key=lambda r: growth[r] / max(warm[r], 1.0))
    share = growth[role] / max(warm[role], 1.0)
    flat = Row(
        f"RSS growth after warm-up ({longest.name}, worst: {role})",
        f"{growth[role]:+,.1f} MB ({share:+.0%})",
        f"flat (<= {FLAT_SHARE:.0%})",
        f"{share / FLAT_SHARE:.2f}",
        PASS if share <= FLAT_SHARE else FAIL,
    )
    peak, where = max(peaks)
    top = _row(
        f"Peak RSS of any service process ({where})",
        "< 400 MB",
        peak,
        RSS_LIMIT_MB,
        operator.lt,
        " MB",
    )
    return [flat, top]
