"""With the broker unreachable, Stripe's webhooks are still taken, and the past-due email waits in
the outbox (once) instead of the delivery failing or the email being lost."""

from marketing.models import OutboxTask
from tests.billing.test_checkout import _subscribed


def test_the_past_due_email_waits_in_the_outbox_once(catalogue, deliver, alice_client, alice_workspace, mailoutbox, request):
    sub_id = _subscribed(catalogue, deliver, alice_client, "basic")
    request.getfixturevalue("redis_down")
    events = catalogue.fail_payment(sub_id)
    assert all(response.status_code == 200 for response in deliver(*events))
    deliver(*events)  # Stripe retries deliveries
    assert mailoutbox == []
    assert list(OutboxTask.objects.values_list("task", "args")) == [("billing.tasks.send_past_due_email", [alice_workspace.pk])]
