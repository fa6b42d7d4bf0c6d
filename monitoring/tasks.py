from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Beat, every 30 s: its age tells whether beat (and a worker to run this) is alive."""
    services.heartbeat_touch(name="beat")


@shared_task(ignore_result=True)
def prune() -> dict[str, int]:
    """Beat, daily: keeps the retention settings' worth of occurrences, rollups, health and alerts."""
    return services.monitoring_prune()


@shared_task(ignore_result=True)
def every_minute() -> None:
    """Beat, every minute: samples health and gauges into history, then evaluates the alert rules."""
    services.minute_tick()
