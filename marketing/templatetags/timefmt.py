from datetime import datetime

from django import template

from marketing import timefmt

register = template.Library()


@register.filter
def when(moment: datetime | None, tz: str | None = None) -> str:
    """{{ run.queued_at|when }} or {{ schedule.run_at|when:schedule.timezone }}."""
    return timefmt.when(moment, tz)


@register.filter
def duration(start: datetime | None, end: datetime | None) -> str:
    """{{ step.started_at|duration:step.finished_at }}."""
    return timefmt.duration(start, end)


@register.filter
def zone_label(name: str) -> str:
    return timefmt.zone_label(name)
