"""`python -m bench`: run the benchmark, print the Markdown report, optionally write it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.events import Workload
from bench.report import render
from bench.runner import DEFAULT_EVENTS, EMBEDDED, BenchConfig, run_benchmark
from bench.scenarios import scenario_names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the invoice mailer end to end on loopback, next to its baselines.",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        help="events per scenario (month-end: 5x, at most 10,000)",
    )
    parser.add_argument(
        "--broker",
        default=EMBEDDED,
        help="embedded (default: mailer run's own NATS), rabbit, or a nats:// or "
        "amqp:// URL (used by nothing else meanwhile)",
    )
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (default: the embedded SQLite); "
        "PostgreSQL gets a fresh database per scenario",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=scenario_names(),
        help="run only this scenario (repeatable; default: all, or none with --soak)",
    )
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--soak",
        type=int,
        metavar="N",
        help="run a soak of N events (--soak-workload) and report the RSS series",
    )
    parser.add_argument(
        "--soak-workload",
        type=Workload,
        choices=[Workload.MONTH_END, Workload.PLAIN],
        default=Workload.MONTH_END,
        help="what the soak sends: the month-end mix (default) or plain reminders",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit code 1 only when the machinery failed (a process died, events were lost)."""
    args = _parser().parse_args(argv)
    if args.events < 1 or (args.soak is not None and args.soak < 1):
        raise SystemExit("--events and --soak must be at least 1")
    default = () if args.soak else scenario_names()
    config = BenchConfig(
        events=args.events,
        broker=args.broker,
        database_url=args.database_url,
        scenarios=tuple(args.scenario or default),
        soak=args.soak,
        soak_workload=args.soak_workload,
    )
    command = ["python -m bench", *(sys.argv[1:] if argv is None else argv)]
    result = run_benchmark(config, command, log=lambda line: print(line, file=sys.stderr))
    report = render(result)
    print(report)
    if args.output is not None:
        args.output.write_text(report)
    return 1 if result.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
