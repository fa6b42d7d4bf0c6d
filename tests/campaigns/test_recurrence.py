from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from campaigns.recurrence import PRESETS, next_runs, validate_cron


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_it_runs_a_daily_preset_at_the_local_wall_clock_time():
    runs = next_runs(cron=PRESETS["daily_0900"][1], tz="Europe/Berlin", after=utc(2026, 1, 10, 12), count=2)
    assert runs == [utc(2026, 1, 11, 8), utc(2026, 1, 12, 8)]  # 09:00 CET is 08:00 UTC


def test_it_skips_weekends_for_the_weekday_preset():
    # Friday 2026-01-09 after 13:00 UTC: next is Monday 12:30 in New York (17:30 UTC).
    runs = next_runs(cron=PRESETS["weekdays_1230"][1], tz="America/New_York", after=utc(2026, 1, 9, 18), count=1)
    assert runs == [utc(2026, 1, 12, 17, 30)]


def test_it_keeps_the_wall_clock_across_the_spring_change_in_new_york():
    # DST starts 2026-03-08: 09:00 EST is 14:00 UTC, 09:00 EDT is 13:00 UTC.
    runs = next_runs(cron="0 9 * * *", tz="America/New_York", after=utc(2026, 3, 7, 0), count=2)
    assert runs == [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13)]


def test_it_keeps_the_wall_clock_across_the_autumn_change_in_berlin():
    # DST ends 2026-10-25: 09:00 CEST is 07:00 UTC, 09:00 CET is 08:00 UTC.
    runs = next_runs(cron="0 9 * * *", tz="Europe/Berlin", after=utc(2026, 10, 24, 0), count=2)
    assert runs == [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)]


def test_it_moves_a_0230_that_does_not_exist_forward_by_the_jump_in_new_york():
    runs = next_runs(cron="30 2 * * *", tz="America/New_York", after=utc(2026, 3, 7, 12), count=2)
    # 2026-03-08 02:30 does not exist: it runs at 03:30 EDT (07:30 UTC); the next day is normal.
    assert runs == [utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)]


def test_it_moves_a_0230_that_does_not_exist_forward_in_berlin():
    runs = next_runs(cron="30 2 * * *", tz="Europe/Berlin", after=utc(2026, 3, 28, 12), count=1)
    assert runs == [utc(2026, 3, 29, 1, 30)]  # 03:30 CEST


def test_it_runs_a_0230_that_happens_twice_once_at_the_first_occurrence_in_berlin():
    runs = next_runs(cron="30 2 * * *", tz="Europe/Berlin", after=utc(2026, 10, 24, 12), count=2)
    # 2026-10-25 02:30 happens at 00:30 UTC (CEST) and 01:30 UTC (CET): only the first.
    assert runs == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_it_runs_a_0130_that_happens_twice_once_in_new_york():
    runs = next_runs(cron="30 1 * * *", tz="America/New_York", after=utc(2026, 10, 31, 12), count=2)
    assert runs == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_it_stops_at_the_end_date():
    runs = next_runs(cron="0 9 * * *", tz="UTC", after=utc(2026, 1, 1), count=5, until=utc(2026, 1, 3, 12))
    assert runs == [utc(2026, 1, 1, 9), utc(2026, 1, 2, 9), utc(2026, 1, 3, 9)]


@pytest.mark.parametrize("expression", ["0 9 * *", "61 9 * * *", "banana", "0 9 * * 8"])
def test_it_refuses_a_bad_cron_expression(expression):
    with pytest.raises(ValidationError):
        validate_cron(expression)


def test_it_refuses_a_cron_more_often_than_every_five_minutes():
    with pytest.raises(ValidationError, match="five minutes"):
        validate_cron("* * * * *")


def test_it_normalises_whitespace():
    assert validate_cron("  30  12 * *   1-5 ") == "30 12 * * 1-5"
