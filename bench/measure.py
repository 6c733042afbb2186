"""Pure arithmetic over the logs: deliveries, duplicates, latency percentiles, rates, RSS points."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.processes import RssSample


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 when nothing happened or no time passed."""
    return count / seconds if count and seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class PublisherLog:
    """When each event was published, and what publishing cost the publisher."""

    published: Mapping[str, float]
    cpu_seconds: float
    peak_rss_bytes: int


def read_publisher_log(path: Path) -> PublisherLog:
    """Parse `event_id<TAB>time` lines and the `# cpu peak_kib` trailer."""
    published: dict[str, float] = {}
    cpu, peak = 0.0, 0
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            _, cpu_text, peak_text = line.split()
            cpu, peak = float(cpu_text), int(peak_text) * 1024
        elif line:
            ident, at = line.split("\t")
            published[ident] = float(at)
    return PublisherLog(published, cpu, peak)


class SinkLog:
    """Reads the sink's `message_id<TAB>time` lines as they are appended."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self.arrivals: dict[str, list[float]] = {}

    def poll(self) -> list[str]:
        """Read what was appended since the last poll; the Message-IDs that arrived."""
        if not self._path.exists():
            return []
        with self._path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        arrived = []
        for line in complete.decode().splitlines():
            message_id, at = line.split("\t")
            self.arrivals.setdefault(message_id, []).append(float(at))
            arrived.append(message_id)
        return arrived


@dataclass(frozen=True, slots=True)
class Deliveries:
    """What arrived at the sink for the events of one measured run."""

    published: int
    delivered: int
    duplicates: int
    lost: int
    latencies: tuple[float, ...]
    """Seconds from publish to the sink's first 250, per delivered message."""
    first_publish: float
    last_arrival: float
    arrival_times: tuple[float, ...]
    """First-arrival times of the delivered messages, in order."""

    @property
    def seconds(self) -> float:
        return max(0.0, self.last_arrival - self.first_publish)

    @property
    def throughput(self) -> float:
        return rate(self.delivered, self.seconds)


def deliveries(
    published: Mapping[str, float], arrivals: Mapping[str, Sequence[float]]
) -> Deliveries:
    """Match publish times (by Message-ID) with arrivals at the sink."""
    latencies: list[float] = []
    firsts: list[float] = []
    duplicates = 0
    for message_id, sent_at in published.items():
        times = arrivals.get(message_id)
        if not times:
            continue
        first = min(times)
        duplicates += len(times) - 1
        latencies.append(first - sent_at)
        firsts.append(first)
    return Deliveries(
        published=len(published),
        delivered=len(latencies),
        duplicates=duplicates,
        lost=len(published) - len(latencies),
        latencies=tuple(latencies),
        first_publish=min(published.values(), default=0.0),
        last_arrival=max(firsts, default=0.0),
        arrival_times=tuple(sorted(firsts)),
    )


def rss_at_fractions(
    series: Sequence[RssSample], arrival_times: Sequence[float], fractions: Sequence[float]
) -> list[tuple[float, Mapping[str, int]]]:
    """RSS per role when each fraction of the messages had arrived: the last sample taken by
    then (the first one after, if none was)."""
    if not series or not arrival_times:
        return []
    points = []
    for fraction in fractions:
        index = max(0, math.ceil(fraction * len(arrival_times)) - 1)
        moment = arrival_times[index]
        before = [sample for sample in series if sample.at <= moment]
        sample = before[-1] if before else series[0]
        points.append((fraction, sample.rss))
    return points
