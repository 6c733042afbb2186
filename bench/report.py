"""The Markdown report: targets as ratios first, then each scenario next to the baselines."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.results import BenchResult, ScenarioResult
from bench.targets import headline, throughputs


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _compared(scenario: ScenarioResult, result: BenchResult) -> str:
    base, rate = result.baselines, throughputs(result)
    pairs: list[tuple[str, float | None]] = []
    if scenario.name in ("plain", "latency", "month-end", "soak") and base:
        pairs += [("bare SMTP", base.smtp.per_second), ("naive", base.naive_plain.per_second)]
    if scenario.name in ("pdf", "cached") and base:
        pairs += [("bare pool", base.pool.per_second), ("naive", base.naive_pdf.per_second)]
    if scenario.name == "cached":
        pairs.append(("plain", rate.get("plain")))
    if scenario.name == "scale-out-2":
        pairs.append(("1 worker", rate.get("scale-out-1")))
    return (
        ", ".join(f"{name} x{scenario.throughput / other:.2f}" for name, other in pairs if other)
        or "-"
    )


def _scenario_tables(result: BenchResult) -> list[str]:
    done = result.scenarios
    lines = ["## Scenarios", ""]
    lines += _table(
        [
            "Scenario",
            "Published",
            "Delivered",
            "Duplicates",
            "Lost",
            "Seconds",
            "Emails/s",
            "p50 ms",
            "p99 ms",
            "Throughput compared with",
        ],
        [
            [
                s.name,
                str(s.published),
                str(s.delivered),
                str(s.duplicates),
                str(s.lost),
                f"{s.seconds:.1f}",
                f"{s.throughput:,.1f}",
                f"{s.p50_ms:.1f}",
                f"{s.p99_ms:.1f}",
                _compared(s, result),
            ]
            for s in done
        ],
    )
    roles = sorted({p.role for s in done for p in s.processes})
    usage = {(s.name, p.role): p for s in done for p in s.processes}
    names = [s.name for s in done]

    def cells(show: Callable[[float, float], str]) -> list[list[str]]:
        return [
            [role]
            + [
                show(usage[n, role].cpu_per_message, usage[n, role].peak_rss_mb)
                if (n, role) in usage
                else "-"
                for n in names
            ]
            for role in roles
        ]

    lines += ["", "### CPU milliseconds per delivered message, by process", ""]
    lines += _table(["Process", *names], cells(lambda cpu, _rss: f"{cpu * 1000:.2f}"))
    lines += ["", "### Peak RSS in MB, by process (largest single process of each kind)", ""]
    lines += _table(["Process", *names], cells(lambda _cpu, rss: f"{rss:.0f}"))
    return lines


def _baseline_table(result: BenchResult) -> list[str]:
    base = result.baselines
    if base is None:
        return []
    lines = ["", "## Baselines (same run)", ""]
    lines += _table(
        ["Baseline", "Count", "Rate /s", "CPU ms per message"],
        [
            [
                "naive worker, plain (render, MIME, dkimpy, smtplib per message)",
                str(base.naive_plain.count),
                f"{base.naive_plain.per_second:,.1f}",
                f"{base.naive_plain.cpu_per_message * 1000:.2f}",
            ],
            [
                "naive worker, with PDF (plus WeasyPrint in-process)",
                str(base.naive_pdf.count),
                f"{base.naive_pdf.per_second:,.2f}",
                f"{base.naive_pdf.cpu_per_message * 1000:.1f}",
            ],
            [
                f"bare WeasyPrint pool, {base.pool_workers} workers, {base.pdf_pages}-page invoice "
                "(pages counted with pypdf)",
                str(base.pool.count),
                f"{base.pool.per_second:,.2f}",
                f"{base.pool.cpu_per_message * 1000:.1f}",
            ],
            [
                "bare SMTP, aiosmtplib over 8 reused connections (client CPU)",
                str(base.smtp.count),
                f"{base.smtp.per_second:,.0f}",
                f"{base.smtp.cpu_per_message * 1000:.3f}",
            ],
        ],
    )
    dkim = base.dkim
    lines += [
        "",
        f"DKIM RSA-2048, median per signature: mailer (OpenSSL) {dkim.mailer_ms:.3f} ms, "
        f"dkimpy {dkim.dkimpy_ms:.2f} ms; mailer's signature verified by dkimpy: "
        f"{'yes' if dkim.verified else 'no'}.",
    ]
    return lines


def _memory_tables(result: BenchResult) -> list[str]:
    lines = ["", "## Memory after warm-up (RSS in MB when 10 % and 100 % were delivered)", ""]
    rows = []
    for scenario in result.scenarios:
        if len(scenario.rss_points) < 2:
            continue
        warm, end = scenario.rss_points[0][1], scenario.rss_points[-1][1]
        rows += [
            [
                scenario.name,
                role,
                f"{warm[role]:.0f}",
                f"{end[role]:.0f}",
                f"{end[role] - warm[role]:+.1f}",
            ]
            for role in sorted(end)
            if role in warm
        ]
    lines += _table(["Scenario", "Process", "At 10 %", "At 100 %", "Growth"], rows)
    soak = result.scenario("soak")
    if soak is not None and soak.rss_points:
        roles = sorted(soak.rss_points[-1][1])
        lines += ["", "### Soak: RSS in MB as the run progressed", ""]
        lines += _table(
            ["Delivered", *roles],
            [
                [f"{fraction:.0%}", *(f"{rss.get(role, 0):.0f}" for role in roles)]
                for fraction, rss in soak.rss_points
            ],
        )
    return lines


def render(result: BenchResult) -> str:
    machine = result.machine
    lines = [
        "# Benchmark: invoice mailer throughput",
        "",
        f"- Date: {result.started}; took {result.seconds / 60:.1f} min",
        f"- Machine: {machine.cpu_model}, {machine.cores} cores, Python {machine.python}, "
        f"libharfbuzz-subset {'present' if machine.harfbuzz_subset else 'missing'}",
        f"- Broker: {result.broker}; database: {result.database}",
        f"- Command: `{result.command}`",
        *(f"- {rule}" for rule in result.rules),
        "",
        "## Targets",
        "",
    ]
    lines += _table(
        ["Target", "Value", "Goal", "Value / goal", "Verdict"],
        [[r.target, r.value, r.goal, r.ratio, r.verdict] for r in headline(result)],
    )
    failures = [s for s in result.scenarios if s.error]
    if failures:
        lines += ["", "## Machinery failures", ""]
        for scenario in failures:
            lines += [f"- {scenario.name}:", "", "```", str(scenario.error), "```", ""]
    lines += ["", *_scenario_tables(result), *_baseline_table(result), *_memory_tables(result)]
    return "\n".join(lines) + "\n"
