"""How fast this host is, printed before the benchmarks, so that runs on different machines can be read side by side.

The lines with an absolute target (publish and eval in ms, dispatch in s) follow the host more
than the code: much the same publish code printed 5.8 ms on one 2-core VM and 16 to 23 ms on
another of the same kind (bench/README.md, "Reading a run"). Three figures that no code of the project touches
say how fast this host is at what the benchmarks spend their time on: plain Python, a round trip
to PostgreSQL and one to Redis.
"""

import os
import platform
import statistics
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from marketing import redis_client

ROUND_TRIPS = 300


@dataclass(frozen=True)
class Host:
    cpu: str
    cores: int
    python_loop_ms: float
    database_round_trip_us: float
    redis_round_trip_us: float | None

    def line(self) -> str:
        redis = f"{self.redis_round_trip_us:.0f} µs" if self.redis_round_trip_us is not None else "no Redis"
        return (
            f"host: {self.cores} cores, {self.cpu}; Python loop {self.python_loop_ms:.1f} ms; "
            f"{connection.vendor} SELECT 1 {self.database_round_trip_us:.0f} µs; Redis PING {redis} (medians)"
        )


def measure(*, round_trips: int = ROUND_TRIPS, loop_size: int = 200_000) -> Host:
    """Medians, each after a warm-up: the loop of seven runs, the round trips on kept connections."""
    _python_loop(loop_size)
    return Host(
        cpu=_cpu_name(),
        cores=os.cpu_count() or 0,
        python_loop_ms=statistics.median(_python_loop(loop_size) for _ in range(7)),
        database_round_trip_us=_database_round_trip(round_trips),
        redis_round_trip_us=_redis_round_trip(round_trips) if settings.REDIS_URL else None,
    )


def _python_loop(size: int) -> float:
    """Calls, attribute and dict reads, arithmetic: the kind of work a request's Python does."""
    counts: dict[int, int] = {}
    started = time.perf_counter()
    for number in range(size):
        key = number % 7
        counts[key] = counts.get(key, 0) + len(str(number))
    return (time.perf_counter() - started) * 1000


def _database_round_trip(count: int) -> float:
    # On the driver's connection: Django's cursor wrapper (which logs under DEBUG) is not the host.
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    samples = []
    try:
        for _ in range(count + 20):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            samples.append((time.perf_counter() - started) * 1e6)
    finally:
        cursor.close()
    return statistics.median(samples[20:])


def _redis_round_trip(count: int) -> float:
    # The client the event intake sends its one command a request on.
    client = redis_client.thread_client(settings.REDIS_URL)
    samples = []
    for _ in range(count + 20):
        started = time.perf_counter()
        client.ping()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples[20:])


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
