from datetime import timedelta

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(acks_late=True, ignore_result=True)
def fire_due_time_triggers() -> int:
    """Beat runs this every minute; running it twice fires nothing twice (see the service)."""
    return services.time_triggers_fire_due()


@shared_task(ignore_result=True)
def prune_events() -> int:
    """Beat, daily: keeps TRIGGER_EVENT_RETENTION_DAYS of the event log."""
    return services.trigger_events_prune(older_than=timedelta(days=settings.TRIGGER_EVENT_RETENTION_DAYS))
