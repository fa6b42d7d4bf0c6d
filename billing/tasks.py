from celery import shared_task

from . import services


@shared_task(acks_late=True)
def send_past_due_email(workspace_id: int) -> int:
    return services.past_due_email_send(workspace_id=workspace_id)


@shared_task(acks_late=True)
def send_meter_events() -> int:
    """Sends waiting usage to the Billing Meter; beat also runs it, so nothing waits for long."""
    return services.meter_events_send()


@shared_task(acks_late=True)
def process_stripe_event(received_id: int) -> bool:
    """Processes a Stripe event the webhook endpoint accepted; a second run of it does nothing."""
    from . import webhooks  # it queues this task

    return webhooks.event_process(received_id=received_id)


@shared_task
def requeue_stripe_events() -> int:
    """Queues again accepted Stripe events still waiting (a lost task, a failed attempt)."""
    from . import webhooks

    return webhooks.events_requeue()


@shared_task
def prune_stripe_events() -> int:
    """Deletes processed Stripe events past their keeping time."""
    from . import webhooks

    return webhooks.events_prune()
