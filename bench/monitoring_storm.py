"""Exceptions recorded per second by one process during an error storm, without a recording error.

Ten thousand exceptions from one place (distinct messages, so nothing is cached per message), as a
broken deploy would raise them: each is fingerprinted, counted and, a few per minute, sampled
into the database. With REDIS_URL set the sample gate asks Redis as in production.
"""

import logging
import time

from bench import Metric, Result
from monitoring import recorder
from monitoring.models import ErrorGroup, ErrorOccurrence

STORM = 10_000
MIN_RPS = 2_000


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _fail(index: int) -> None:
    raise ValueError(f"order {index} has no customer")


def run(*, requests: int) -> Result:
    result = Result()
    problems = _Count()
    logger = logging.getLogger("monitoring")
    logger.addHandler(problems)
    try:
        recorder.reset()
        started = time.perf_counter()
        for index in range(STORM):
            try:
                _fail(index)
            except ValueError as exc:
                recorder.record_exception(exc, category="request")
        elapsed = time.perf_counter() - started
        recorder.flush()
    finally:
        logger.removeHandler(problems)
    group = ErrorGroup.objects.get(culprit__endswith="_fail")
    rows = ErrorOccurrence.objects.filter(group=group).count()
    result.say(f"{STORM:,} exceptions in {elapsed:.2f} s: {group.times_seen:,} counted, {rows} sampled rows, {problems.count} recording errors")
    if group.times_seen != STORM or problems.count:
        raise AssertionError("the storm was not recorded whole and without errors")
    result.metrics.append(Metric("monitoring_error_storm_rps", STORM / elapsed, "/s", MIN_RPS, decimals=0, op=">="))
    return result
