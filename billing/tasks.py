from celery import shared_task

from . import services


@shared_task(acks_late=True)
def send_past_due_email(workspace_id: int) -> int:
    return services.past_due_email_send(workspace_id=workspace_id)


@shared_task(acks_late=True)
def send_meter_events() -> int:
    """Sends waiting usage to the Billing Meter; beat also runs it, so nothing waits for long."""
    return services.meter_events_send()
