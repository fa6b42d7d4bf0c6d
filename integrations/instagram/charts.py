"""Line charts as geometry for server-rendered SVG (templates/instagram/_chart.html); no JavaScript."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date


@dataclass
class Chart:
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    segments: list[str] = field(default_factory=list)  # "x,y x,y ..." per run of days with data
    dots: list[tuple[float, float, str, int]] = field(default_factory=list)  # x, y, day label, value
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    latest: int | None = None
    has_data: bool = False


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return max(1, int(math.ceil(step * power)))
    return int(10 * power)


# Axis labels are 11px (css/analytics.css, css/monitoring.css): digits and most units take under
# 6.5px a character there, and 6px part them from the plot.
AXIS_CHAR_PX, AXIS_GAP_PX = 6.5, 6


def label_margin(labels: list[str], *, least: int) -> int:
    """The room left of the plot that its y labels need, at least ``least`` pixels, so that the
    longest label is not cut off by the SVG's edge."""
    return max(least, math.ceil(AXIS_GAP_PX + 2 + AXIS_CHAR_PX * max(map(len, labels), default=0)))


def line_chart(points: list[tuple[date, int | None]], *, width: int = 400, height: int = 160) -> Chart:
    """Plots one value per day; days without data (None) leave a gap instead of a zero."""
    chart = Chart(width=width, height=height, left=48, top=10, right=width - 10, bottom=height - 24)
    values = [value for _, value in points if value is not None]
    if not points:
        return chart
    chart.has_data = bool(values)
    chart.latest = values[-1] if values else None
    top_value = nice_ceiling(max(values)) if values else 1
    chart.left = label_margin([f"{top_value:,}"], least=chart.left)
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top
    step = plot_w / max(1, len(points) - 1)

    def x_of(index: int) -> float:
        return round(chart.left + (index * step if len(points) > 1 else plot_w / 2), 1)

    def y_of(value: int) -> float:
        return round(chart.bottom - (value / top_value) * plot_h, 1)

    run: list[str] = []
    for index, (day, value) in enumerate(points):
        if value is None:
            if run:
                chart.segments.append(" ".join(run))
            run = []
            continue
        x, y = x_of(index), y_of(value)
        run.append(f"{x},{y}")
        chart.dots.append((x, y, f"{day:%b} {day.day}", value))
    if run:
        chart.segments.append(" ".join(run))
    # Counts: a whole-number middle tick, and none when it would be 0 again (a top of 1).
    chart.y_ticks = [(y_of(value), f"{value:,}") for value in sorted({0, top_value // 2, top_value})]
    label_every = max(1, math.ceil(len(points) / 6))
    labels = [(x_of(index), f"{day:%b} {day.day}") for index, (day, _) in enumerate(points) if index % label_every == 0]
    # A label is centred on its day: one on the last days would run past the SVG's right edge and be cut.
    chart.x_labels = [(x, text) for x, text in labels if x + AXIS_CHAR_PX * len(text) / 2 <= width]
    return chart
