"""Time-series line charts as geometry for server-rendered SVG (templates/monitoring/_chart.html).

Axes with units, one line per series, and a hover column per time bucket whose tooltip lists
every series' value at that time. No JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from integrations.instagram.charts import label_margin, nice_ceiling

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2")


@dataclass
class Line:
    label: str
    color: str
    segments: list[str] = field(default_factory=list)
    # Beside its name in the legend: the latest value, or the range's total for counts.
    figure: str = ""


@dataclass
class TimeChart:
    title: str
    unit: str
    width: int = 560
    height: int = 180
    left: int = 56
    top: int = 12
    right: int = 548
    bottom: int = 154
    lines: list[Line] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    columns: list[tuple[float, float, str]] = field(default_factory=list)  # x, width, tooltip
    has_data: bool = False

    @property
    def middle(self) -> float:
        return (self.left + self.right) / 2


def fmt_number(value: float, unit: str = "") -> str:
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:,.0f} s" if value >= 10 else f"{value:.1f} s"
    if abs(value) >= 100 or value == int(value):
        text = f"{value:,.0f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def axis_number(value: float) -> str:
    """A tick's value as it is: a quarter of a nice ceiling needs two decimals at most."""
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def time_chart(
    *,
    title: str,
    unit: str,
    buckets: list[datetime],
    series: dict[str, list[float | None]],
    label_format: str = "%H:%M",
    formatter: Callable[[float, str], str] = fmt_number,
    whole: bool = False,
) -> TimeChart:
    """One line per series over ``buckets``; None leaves a gap. Times shown in the active zone.
    ``whole``: the values are counts, and the axis ticks whole numbers ("1.25 runs" counts nothing)."""
    chart = TimeChart(title=title, unit=unit)
    values = [v for points in series.values() for v in points if v is not None]
    chart.has_data = any(v for v in values)
    if not buckets:
        return chart
    if whole:
        top_value = 4 * nice_ceiling(math.ceil(max(values, default=0) / 4))
    else:
        top_value = nice_ceiling(max(values)) if values and max(values) > 0 else 1
    # The axis reads in the caption's unit, so a tick says only its number ("0.75 req/min" would
    # need a third of the chart's width), exactly: rounded as the tooltips are, a top of 1 ms
    # would read 0, 0, 0, 1, 1.
    tick_values = [top_value * share for share in (0, 0.25, 0.5, 0.75, 1)]
    tick_labels = [axis_number(value) + ("%" if unit == "%" else "") for value in tick_values]
    chart.left = label_margin(tick_labels, least=chart.left)
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top
    step = plot_w / max(1, len(buckets) - 1)

    def x_of(index: int) -> float:
        return round(chart.left + index * step, 1)

    def y_of(value: float) -> float:
        return round(chart.bottom - (value / top_value) * plot_h, 1)

    for number, (label, points) in enumerate(series.items()):
        line = Line(label=label, color=PALETTE[number % len(PALETTE)])
        run: list[str] = []
        for index, value in enumerate(points):
            if value is None:
                if run:
                    line.segments.append(" ".join(run))
                run = []
                continue
            run.append(f"{x_of(index)},{y_of(value)}")
        if run:
            line.segments.append(" ".join(run))
        if whole:
            # A count's latest bucket (this hour, often 0) says less than the range's total.
            line.figure = f"{formatter(sum(v for v in points if v is not None), unit)} in all"
        else:
            last = next((v for v in reversed(points) if v is not None), None)
            line.figure = formatter(last, unit) if last is not None else "—"
        chart.lines.append(line)
    chart.y_ticks = [(y_of(value), label) for value, label in zip(tick_values, tick_labels, strict=True)]
    local = [timezone.localtime(bucket) for bucket in buckets]
    label_every = max(1, math.ceil(len(buckets) / 6))
    chart.x_ticks = [(x_of(i), moment.strftime(label_format)) for i, moment in enumerate(local) if i % label_every == 0]
    for index, moment in enumerate(local):
        parts = [moment.strftime("%a %d %b %H:%M")]
        for label, points in series.items():
            value = points[index] if index < len(points) else None
            parts.append(f"{label}: {formatter(value, unit) if value is not None else 'no data'}")
        chart.columns.append((round(x_of(index) - step / 2, 1), round(step, 1), "\n".join(parts)))
    return chart
