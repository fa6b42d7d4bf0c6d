from datetime import timedelta

from celery import shared_task
from django.conf import settings

from . import event_buffer, services


@shared_task(acks_late=True, ignore_result=True)
def fire_due_time_triggers() -> int:
    """Beat runs this every minute; running it twice fires nothing twice (see the service)."""
    return services.time_triggers_fire_due()


@shared_task(ignore_result=True)
def prune_events() -> int:
    """Beat, daily: keeps TRIGGER_EVENT_RETENTION_DAYS of the event log, and the rule sets its events name."""
    deleted = services.trigger_events_prune(older_than=timedelta(days=settings.TRIGGER_EVENT_RETENTION_DAYS))
    services.trigger_rule_sets_prune()
    return deleted


@shared_task(ignore_result=True)
def flush_buffered_events() -> int:
    """Beat, every 2 s: writes the events buffered since (see triggers/event_buffer.py)."""
    return event_buffer.flush(batches=20)
