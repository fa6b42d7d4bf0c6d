"""With the broker unreachable, Stripe's webhooks are still taken, and the past-due email waits in
the outbox (once) instead of being lost."""

from marketing.celery import app
from marketing.models import OutboxTask
from tests.billing.test_checkout import _subscribed


def test_it_keeps_the_past_due_email_waiting_in_the_outbox_once(
    catalogue, deliver, alice_client, alice_workspace, mailoutbox, request, django_capture_on_commit_callbacks
):
    sub_id = _subscribed(catalogue, deliver, alice_client, "basic")
    request.getfixturevalue("redis_down")
    events = catalogue.fail_payment(sub_id)
    assert all(response.status_code == 200 for response in deliver(*events))
    deliver(*events)  # Stripe retries deliveries
    # A worker processes the stored events while the broker still cannot take new tasks.
    waiting = OutboxTask.objects.filter(task="billing.tasks.process_stripe_event").order_by("id")
    assert waiting.exists()
    with django_capture_on_commit_callbacks(execute=True):
        for row in waiting:
            app.tasks[row.task](*row.args)
    assert mailoutbox == []
    emails = OutboxTask.objects.filter(task="billing.tasks.send_past_due_email")
    assert list(emails.values_list("args", flat=True)) == [[alice_workspace.pk]]
