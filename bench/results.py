"""The benchmark's results as plain values: what the report is rendered from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """One process role's cost in a scenario (a role may be several processes, e.g. PDF workers)."""

    role: str
    cpu_per_message: float
    """CPU seconds of all the role's processes during the measured run, per delivered message."""
    peak_rss_mb: float
    """The largest RSS of any one of the role's processes."""


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """One measured run of one scenario."""

    name: str
    published: int
    delivered: int
    duplicates: int
    lost: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float
    processes: tuple[ProcessUsage, ...]
    rss_points: tuple[tuple[float, Mapping[str, float]], ...] = ()
    """(fraction of messages delivered, RSS in MB per role) from 10 % to 100 %."""
    error: str | None = None
    """Why the machinery failed (a process died, events were lost); None when it worked."""

    def rss_growth_mb(self) -> dict[str, float]:
        """Per role, RSS at the end minus RSS after warm-up (the first point, 10 %)."""
        if len(self.rss_points) < 2:
            return {}
        warm, end = self.rss_points[0][1], self.rss_points[-1][1]
        return {role: end[role] - warm[role] for role in end if role in warm}


@dataclass(frozen=True, slots=True)
class LoopRate:
    """A baseline loop's steady rate and its own CPU seconds per message."""

    count: int
    per_second: float
    cpu_per_message: float


@dataclass(frozen=True, slots=True)
class DkimResult:
    """Median signing times and whether an independent verifier accepts mailer's signature."""

    mailer_ms: float
    dkimpy_ms: float
    verified: bool


@dataclass(frozen=True, slots=True)
class Baselines:
    """The limits and the naive worker, measured in the same run as the scenarios."""

    naive_plain: LoopRate
    naive_pdf: LoopRate
    pool: LoopRate
    """The bare WeasyPrint process pool: documents/s and the pool's CPU per document."""
    pool_workers: int
    pdf_pages: int
    smtp: LoopRate
    """aiosmtplib over 8 reused connections into a fresh sink: messages/s."""
    dkim: DkimResult


@dataclass(frozen=True, slots=True)
class Machine:
    cpu_model: str
    cores: int
    python: str
    harfbuzz_subset: bool


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Everything one `python -m bench` run measured."""

    started: str
    command: str
    machine: Machine
    broker: str
    database: str
    rules: tuple[str, ...]
    """How the event counts were chosen, in words."""
    scenarios: tuple[ScenarioResult, ...]
    baselines: Baselines | None
    seconds: float
    notes: tuple[str, ...] = field(default=())

    def scenario(self, name: str) -> ScenarioResult | None:
        return next((result for result in self.scenarios if result.name == name), None)

    @property
    def failed(self) -> bool:
        """The machinery failed somewhere (not a missed target)."""
        return any(result.error is not None for result in self.scenarios)
