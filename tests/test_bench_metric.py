"""A benchmark's ``bench:`` line never reads as met when its target was missed."""

import pytest

from bench import Metric


@pytest.mark.parametrize(
    ("value", "op", "target", "decimals", "shown"),
    [
        (0.6996, ">=", 0.7, 2, "0.69"),  # plain rounding would print 0.70
        (0.7004, ">=", 0.7, 2, "0.70"),
        (0.72, ">=", 0.7, 2, "0.72"),
        (5.04, "<=", 5, 1, "5.1"),  # plain rounding would print 5.0
        (4.96, "<=", 5, 1, "5.0"),
        (1.84, "<=", 2, 1, "1.8"),
        (0.5, "<=", 0, 0, "1"),
    ],
)
def test_it_prints_a_missed_target_on_its_failing_side(value, op, target, decimals, shown):
    metric = Metric("x", value, "x", target, decimals=decimals, op=op)

    assert metric.shown() == shown
    assert metric.line() == f"bench: x {shown} x (target: {op} {target:g})"
    assert Metric("x", float(shown), "x", target, decimals=decimals, op=op).met == metric.met
