"""One way to write dates, times, durations, zones and schedules, for pages, messages and emails.

A time is written "Tue 3 Mar 2026, 09:30" in the viewer's zone (the active one, set per request
from the user's zone); where it is shown in another zone, that zone is named: "…, Berlin time".
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

WHEN_FORMAT = "%a %-d %b %Y, %H:%M"
TIME_FORMAT = "%H:%M"


def zone_label(name: str) -> str:
    """'Europe/Berlin' -> 'Berlin time'; 'UTC' -> 'UTC'."""
    if name in ("UTC", "Etc/UTC", "GMT"):
        return "UTC"
    return name.rsplit("/", 1)[-1].replace("_", " ") + " time"


def when(moment: datetime | None, tz: str | None = None) -> str:
    """The moment in ``tz`` (default: the viewer's), with the zone named when it is not the viewer's."""
    if moment is None:
        return ""
    viewer = timezone.get_current_timezone_name()
    zone = tz or viewer
    text = timezone.localtime(moment, ZoneInfo(zone)).strftime(WHEN_FORMAT)
    return text if zone == viewer else f"{text}, {zone_label(zone)}"


def duration(start: datetime | None, end: datetime | None) -> str:
    """'0.4 s', '17 s', '1 min 17 s', '2 h 5 min': seconds count for steps that take seconds."""
    if start is None or end is None:
        return ""
    seconds = max((end - start) / timedelta(seconds=1), 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{round(seconds)} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
