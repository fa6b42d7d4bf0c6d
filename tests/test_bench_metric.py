"""A benchmark's ``bench:`` line never reads as met when its target was missed."""

import pytest
from django.db import connection

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


@pytest.mark.django_db
def test_it_describes_the_host_beside_the_benchmarks(settings):
    from bench import host

    settings.REDIS_URL = ""
    measured = host.measure(round_trips=5, loop_size=1000)

    assert measured.cores >= 1 and measured.cpu
    assert measured.python_loop_ms > 0 and measured.database_round_trip_us > 0
    assert measured.redis_round_trip_us is None
    assert measured.line() == (
        f"host: {measured.cores} cores, {measured.cpu}; Python loop {measured.python_loop_ms:.1f} ms; "
        f"{connection.vendor} SELECT 1 {measured.database_round_trip_us:.0f} µs; Redis PING no Redis (medians)"
    )


def test_it_shows_the_redis_round_trip_when_there_is_one():
    from bench.host import Host

    line = Host(cpu="AMD EPYC", cores=2, python_loop_ms=70.04, database_round_trip_us=104.6, redis_round_trip_us=81.2).line()

    assert line.endswith("SELECT 1 105 µs; Redis PING 81 µs (medians)")
    assert line.startswith("host: 2 cores, AMD EPYC; Python loop 70.0 ms; ")
