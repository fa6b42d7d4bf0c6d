"""The charts' axes: every tick says its exact value, and the room left of the plot fits the longest."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from integrations.instagram.charts import AXIS_CHAR_PX, AXIS_GAP_PX, line_chart
from monitoring.charts import time_chart

MINUTES = [timezone.now() - timedelta(minutes=minute) for minute in range(5, 0, -1)]


def _fits(chart) -> bool:
    return all(AXIS_GAP_PX + AXIS_CHAR_PX * len(text) <= chart.left for _, text in chart.y_ticks)


@pytest.mark.parametrize(
    ("unit", "values", "ticks"),
    [
        ("req/min", [0, 1, 0.5, None, 0.2], ["0", "0.25", "0.5", "0.75", "1"]),
        ("ms", [250, 3, 4, 5, 6], ["0", "62.5", "125", "187.5", "250"]),
        # No data: the top is 1, whose quarters rounded to whole milliseconds read 0, 0, 0, 1, 1.
        ("ms", [None] * 5, ["0", "0.25", "0.5", "0.75", "1"]),
        ("%", [0.4, 0, 0, 0, 0], ["0%", "0.25%", "0.5%", "0.75%", "1%"]),
        ("messages", [1_234_567, 0, 0, 0, 0], ["0", "500,000", "1,000,000", "1,500,000", "2,000,000"]),
    ],
)
def test_it_labels_ticks_with_exact_numbers_in_the_captions_unit(unit, values, ticks):
    chart = time_chart(title="Chart", unit=unit, buckets=MINUTES, series={"all": values})
    assert [text for _, text in chart.y_ticks] == ticks
    assert _fits(chart)


@pytest.mark.parametrize(
    ("values", "ticks"),
    [
        ([3, 0, 1, None, 2], ["0", "1", "2", "3", "4"]),
        ([7, 0, 0, 0, 0], ["0", "2", "4", "6", "8"]),
        ([17, 0, 0, 0, 0], ["0", "5", "10", "15", "20"]),
        ([0, 0, 0, 0, 0], ["0", "1", "2", "3", "4"]),
        ([1_234_567, 0, 0, 0, 0], ["0", "500,000", "1,000,000", "1,500,000", "2,000,000"]),
    ],
)
def test_it_ticks_whole_numbers_for_counts(values, ticks):
    chart = time_chart(title="Finished runs", unit="runs", buckets=MINUTES, series={"succeeded": values}, whole=True)
    assert [text for _, text in chart.y_ticks] == ticks
    # The legend gives the range's total, not the last bucket's count.
    assert chart.lines[0].figure == f"{sum(v for v in values if v is not None):,} runs in all"


def test_it_widens_the_margin_for_long_ticks_and_keeps_the_plot_right_of_it():
    chart = time_chart(title="Queue depth", unit="messages", buckets=MINUTES, series={"ready": [1_234_567] * 5})
    assert chart.left > 56
    assert chart.x_ticks[0][0] == chart.left  # the first bucket sits on the plot's left edge
    assert chart.middle == (chart.left + chart.right) / 2


def test_it_keeps_the_units_in_the_legend_and_the_tooltips():
    chart = time_chart(title="Response time", unit="ms", buckets=MINUTES, series={"p95": [250] * 5})
    assert chart.lines[0].figure == "250 ms"
    assert "p95: 250 ms" in chart.columns[-1][2]


def test_it_fits_big_instagram_counts_and_never_repeats_a_tick():
    days = [date(2026, 11, day) for day in range(1, 8)]
    big = line_chart([(day, 2_345_678) for day in days])
    assert [text for _, text in big.y_ticks] == ["0", "1,250,000", "2,500,000"]
    assert _fits(big) and big.left > 48
    small = line_chart([(day, 1 if day.day == 3 else 0) for day in days])
    assert [text for _, text in small.y_ticks] == ["0", "1"]
