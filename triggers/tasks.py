from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def fire_due_time_triggers() -> int:
    """Beat runs this every minute; running it twice fires nothing twice (see the service)."""
    return services.time_triggers_fire_due()
