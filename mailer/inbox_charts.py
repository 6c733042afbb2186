"""The inbox's deliverability charts: bars, labels and grid lines in SVG user units."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mailer.inbox_stats import Deliverability


@dataclass(frozen=True)
class Mark:
    """A rectangle or a label of a chart, in SVG user units."""

    x: float
    y: float
    width: float = 0
    height: float = 0
    kind: str = ""
    text: str = ""


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Mark]
    labels: list[Mark]
    grid: list[Mark]


def nice_top(peak: float, steps: int = 4, *, whole: bool = False) -> tuple[float, float]:
    """An axis maximum at or above `peak` in at most `steps` round steps (1, 2 or 5 x 10^n);
    `whole` keeps steps at 1 or more, for counts."""
    step = 10 ** math.floor(math.log10(peak / steps)) if peak > 0 else 1.0
    step = next(m * step for m in (1, 2, 5, 10) if m * step * steps >= peak)
    step = max(step, 1.0) if whole else step
    return step * math.ceil(peak / step - 1e-9) if peak > 0 else step * steps, step


def daily_chart(stats: Deliverability, width: int = 640, height: int = 260) -> Chart:
    """Stacked bars per day (sent, hard, soft, suppressed) with a y axis and weekly day labels."""
    left, right, top, bottom = 44, 22, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak, step = nice_top(max((day.total for day in stats.days), default=0), whole=True)
    slot = plot_w / max(len(stats.days), 1)
    bars, labels, grid = [], [], []
    for tick in range(round(peak / step) + 1):
        y = top + plot_h - tick * step / peak * plot_h
        grid.append(Mark(left, y, plot_w))
        labels.append(Mark(left - 8, y + 4, kind="y", text=f"{tick * step:,.0f}"))
    for index, day in enumerate(stats.days):
        x, y = left + index * slot + slot * 0.15, top + plot_h
        when = day.day.strftime("%d %b")
        for kind, count in (("sent", day.sent), ("hard", day.hard), ("soft", day.soft),
                            ("suppressed", day.suppressed)):  # fmt: skip
            if count:
                h = max(count / peak * plot_h, 2.0)
                y -= h
                bars.append(Mark(x, y, slot * 0.7, h, kind, f"{when}: {count:,} {LEGEND[kind]}"))
        summary = (
            f"{when}: sent {day.sent:,}, hard bounced {day.hard:,}, soft bounced "
            f"{day.soft:,}, suppressed {day.suppressed:,}"
        )
        bars.append(Mark(left + index * slot, top, slot, plot_h, "hover", summary))
        if (len(stats.days) - 1 - index) % 7 == 0:
            labels.append(Mark(x + slot * 0.35, height - 12, kind="x", text=when))
    return Chart(width, height, bars, labels, grid)


def domain_chart(stats: Deliverability, width: int = 440) -> Chart:
    """One horizontal bar per domain: its bounce rate, split into hard and soft."""
    left, right, row, top = 118, 106, 28, 8
    plot_w = width - left - right
    rates = [d.bounced / d.sent for d in stats.domains if d.sent]
    peak, step = nice_top(min(max(rates, default=0.0), 1.0) or 0.01)
    height = top + row * len(stats.domains) + 26
    bars, labels, grid = [], [], []
    for tick in range(round(peak / step) + 1):
        x = left + tick * step / peak * plot_w
        grid.append(Mark(x, top, 0, row * len(stats.domains)))
        labels.append(Mark(x, height - 8, kind="x", text=f"{tick * step:.0%}"))
    for index, domain in enumerate(stats.domains):
        y = top + index * row
        name = domain.domain if len(domain.domain) <= 18 else domain.domain[:17] + "\u2026"
        labels.append(Mark(left - 8, y + row / 2 + 4, kind="y", text=name))
        bars.append(Mark(left, y + 6, plot_w, row - 12, "track", domain.domain))
        x = float(left)
        for kind, count in (("hard", domain.hard), ("soft", domain.soft)):
            if count and domain.sent:
                w = min(count / domain.sent / peak * plot_w, left + plot_w - x)
                bars.append(Mark(x, y + 6, w, row - 12, kind, f"{domain.domain}: {count:,} {kind}"))
                x += w
        rate = f"{domain.rate:.1%}" if domain.rate is not None else "nothing sent"
        text = f"{rate}  ({domain.bounced:,} of {domain.sent:,})"
        labels.append(Mark(left + plot_w + 8, y + row / 2 + 4, kind="value", text=text))
    return Chart(width, height, bars, labels, grid)


LEGEND = {
    "sent": "sent",
    "hard": "hard bounced",
    "soft": "soft bounced",
    "suppressed": "suppressed",
}
