"""One way to write times, durations, zones and schedules."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.recurrence import describe_cron
from campaigns.selectors import schedule_words
from campaigns.scheduling import Plan
from marketing.timefmt import duration, when, zone_label

MOMENT = datetime(2026, 3, 3, 8, 30, tzinfo=UTC)


def test_it_writes_a_time_in_the_viewers_zone_without_naming_it():
    with timezone.override("Europe/Berlin"):
        assert when(MOMENT) == "Tue 3 Mar 2026, 09:30"


def test_it_names_the_zone_when_it_is_not_the_viewers():
    with timezone.override("America/New_York"):
        assert when(MOMENT, "Europe/Berlin") == "Tue 3 Mar 2026, 09:30, Berlin time"
        assert when(MOMENT, "UTC") == "Tue 3 Mar 2026, 08:30, UTC"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0.4 s"), (17, "17 s"), (77, "1 min 17 s"), (120, "2 min"), (7500, "2 h 5 min")],
)
def test_it_writes_durations_with_seconds(seconds, text):
    assert duration(MOMENT, MOMENT + timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("30 9 * * 1-5", "Weekdays at 09:30"),
        ("0 9 * * *", "Every day at 09:00"),
        ("0 10 * * 6,0", "Every Saturday and Sunday at 10:00"),
        ("*/15 * * * *", "Every 15 minutes"),
    ],
)
def test_it_reads_a_cron_as_people_say_it(cron, words):
    assert describe_cron(cron) == words


def test_it_names_a_schedules_zone():
    assert zone_label("America/New_York") == "New York time"
    plan = Plan(kind="recurring", cron="30 9 * * 1-5", timezone="Europe/Berlin")
    assert schedule_words(plan) == "Weekdays at 09:30, Berlin time"


def test_it_uses_the_same_format_in_the_admin_and_the_date_filter():
    from django.template import Context, Template

    with timezone.override("UTC"):
        assert Template("{{ moment }}").render(Context({"moment": MOMENT})) == "Tue 3 Mar 2026, 08:30"
