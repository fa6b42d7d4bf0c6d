"""Cron recurrences evaluated on the wall clock of an IANA time zone.

Times are computed as local wall-clock times, then placed on the time line with one rule for
daylight-saving changes, the rule the scheduling form states in its help text:

- a local time that does not exist (the clock jumps from 02:00 to 03:00) moves forward by the
  length of the jump: 02:30 runs at 03:30;
- a local time that exists twice (the clock goes back from 03:00 to 02:00) runs once, at its
  first occurrence (still in summer time).
"""

import re
import zoneinfo
from datetime import UTC, datetime, timedelta

from cron_descriptor import CasingTypeEnum, ExpressionDescriptor, FormatException, Options
from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from django.core.exceptions import ValidationError

DST_RULE_HELP = (
    "Around daylight-saving changes: a time that does not exist (the clock jumps forward) runs "
    "later by the length of the jump, so 02:30 runs at 03:30; a time that happens twice (the clock "
    "goes back) runs once, at its first occurrence."
)

PRESETS: dict[str, tuple[str, str]] = {
    "daily_0900": ("Every day at 09:00", "0 9 * * *"),
    "weekdays_1230": ("Weekdays at 12:30", "30 12 * * 1-5"),
    "weekly_mon_0900": ("Mondays at 09:00", "0 9 * * 1"),
    "weekend_1000": ("Saturdays and Sundays at 10:00", "0 10 * * 6,0"),
    "monthly_1st_0900": ("The 1st of every month at 09:00", "0 9 1 * *"),
    "hourly": ("Every hour, on the hour", "0 * * * *"),
}

# A cron that fires more often than this would flood an Instagram account.
MIN_INTERVAL = timedelta(minutes=5)


# Times a schedule may name. Outside them date arithmetic overflows and nothing useful is planned.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


OUT_OF_RANGE = "Choose a date between the years 2000 and 2099."


def check_in_range(moment: datetime | None, field: str) -> None:
    """A ValidationError on ``field`` for a time (aware, or naive wall clock) before 2000 or from 2100 on."""
    if moment is None:
        return
    if moment.tzinfo is None:
        in_range = EARLIEST.year <= moment.year < LATEST.year
    else:
        in_range = EARLIEST <= moment < LATEST
    if not in_range:
        raise ValidationError({field: OUT_OF_RANGE}, code="out_of_range")


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{name!r} is not an IANA time zone, such as Europe/Berlin.", code="timezone")


def validate_cron(expression: str) -> str:
    """The expression with whitespace normalised, or a ValidationError that says what is wrong."""
    normalised = " ".join(expression.split())
    if len(normalised.split(" ")) != 5:
        raise ValidationError(
            "A cron expression has five fields: minute hour day-of-month month day-of-week, e.g. '30 12 * * 1-5'.",
            code="cron",
        )
    try:
        croniter(normalised)
    except (CroniterBadCronError, ValueError, KeyError):
        raise ValidationError(_cron_problem(normalised), code="cron")
    runs = next_runs(cron=normalised, tz="UTC", after=datetime(2030, 1, 1, tzinfo=UTC), count=3)
    if not runs:
        raise ValidationError(
            f"“{normalised}” never runs: no month has that day (like 30 February). Check the day and the month.",
            code="cron_never",
        )
    if len(runs) == 3 and min(b - a for a, b in zip(runs, runs[1:])) < MIN_INTERVAL:
        raise ValidationError("Runs must be at least five minutes apart.", code="cron_too_frequent")
    return normalised


CRON_FIELDS = [
    ("minute", "0–59"),
    ("hour", "0–23"),
    ("day of the month", "1–31"),
    ("month", "1–12 or JAN–DEC"),
    ("day of the week", "0–6 (Sunday is 0) or SUN–SAT"),
]


def _cron_problem(expression: str) -> str:
    """Names the field that is wrong, in words, rather than repeating the cron library's error."""
    parts = expression.split(" ")
    for index, (name, allowed) in enumerate(CRON_FIELDS):
        alone = ["*"] * 5
        alone[index] = parts[index]
        try:
            croniter(" ".join(alone))
        except (CroniterBadCronError, ValueError, KeyError):
            return f"The {name} “{parts[index]}” is not valid: use {allowed}, “*”, lists (1,15), ranges (1-5) or steps (*/10)."
    return f"“{expression}” is not a valid cron expression, e.g. 30 12 * * 1-5 for weekdays at 12:30."


_SINGLE_TIME = re.compile(r"^At (\d\d:\d\d)(?:, (.+))?$")


def describe_cron(expression: str) -> str:
    """A cron in the words people use: '30 9 * * 1-5' -> 'Weekdays at 09:30'.

    cron-descriptor writes the sentence ('At 09:30, Monday through Friday'); the common shapes of
    a single daily time are then turned round so the days come first, as a planner reads them.
    """
    options = Options()
    options.use_24hour_time_format = True
    options.casing_type = CasingTypeEnum.Sentence
    options.verbose = False
    try:
        text = ExpressionDescriptor(expression, options).get_description()
    except (FormatException, ValueError, KeyError, IndexError):
        return f"Cron “{expression}”"
    match = _SINGLE_TIME.match(text)
    if not match:
        return text
    at, days = match.groups()
    if not days:
        return f"Every day at {at}"
    if days == "Monday through Friday":
        return f"Weekdays at {at}"
    if days.startswith("only on "):
        return f"Every {days.removeprefix('only on ')} at {at}"
    return f"{days[0].upper()}{days[1:]} at {at}"


def localize(wall_clock: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """Places a naive local time on the time line with the module's daylight-saving rule, in UTC."""
    # fold=0 picks the first occurrence of a repeated time, and reads a skipped time with the
    # offset from before the jump, which lands it later by the length of the jump.
    return wall_clock.replace(tzinfo=tz, fold=0).astimezone(UTC)


def next_runs(
    *,
    cron: str,
    tz: str,
    after: datetime,
    count: int = 5,
    until: datetime | None = None,
) -> list[datetime]:
    """The next ``count`` run times strictly after ``after`` (aware), as aware UTC datetimes."""
    local_zone = zone(tz)
    # Start an hour early on the wall clock so a run moved forward across a jump is not missed.
    start = after.astimezone(local_zone).replace(tzinfo=None) - timedelta(hours=1)
    iterator = croniter(cron, start)
    runs: list[datetime] = []
    guard = 0
    while len(runs) < count and guard < count * 50 + 100:
        guard += 1
        try:
            candidate = localize(iterator.get_next(datetime), local_zone)
        except (CroniterBadDateError, OverflowError, ValueError):
            # No further date exists (30 February), or it lies past year 9999.
            break
        if candidate <= after or (runs and candidate <= runs[-1]):
            continue
        if until is not None and candidate > until:
            break
        runs.append(candidate)
    return runs
