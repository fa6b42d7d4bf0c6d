"""The webhook endpoint stores a verified event once and answers; a task processes it, once, later."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djstripe.models import Event, WebhookEventTrigger

from billing import webhooks
from billing.models import ReceivedEvent
from billing.selectors import workspace_allowance
from marketing.models import OutboxTask
from marketing.outbox import drain
from tests.billing.fake_stripe import sign


def _checkout(client, plan="basic"):
    response = client.post("/billing/checkout/", {"plan": plan, "interval": "month"})
    assert response.status_code == 302, response.content
    return response["Location"].rsplit("/", 1)[-1]


@pytest.fixture
def subscribed(catalogue, deliver, alice_client, settings):
    settings.BILLING_TRIAL_DAYS = 0
    session_id = _checkout(alice_client)
    deliver(*catalogue.complete_checkout(session_id, status="active"))
    return catalogue.get(session_id)["subscription"]


@pytest.fixture
def post(client, webhook):
    """Posts a signed delivery; what it queues on commit is kept, not run (a worker's job)."""

    def send(event: dict, *, secret: str | None = None, signature: str | None = None):
        payload = json.dumps(event).encode()
        header = sign(payload, secret or webhook.secret) if signature is None else signature
        headers = {"HTTP_STRIPE_SIGNATURE": header} if header else {}
        return client.post(f"/stripe/webhook/{webhook.djstripe_uuid}/", data=payload, content_type="application/json", **headers)

    return send


def test_it_stores_the_event_and_answers_before_processing_it(
    subscribed, catalogue, post, alice_workspace, django_capture_on_commit_callbacks
):
    upgrade = catalogue.change_plan(subscribed, "pro_monthly")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert post(upgrade).status_code == 200
    received = ReceivedEvent.objects.get(event_id=upgrade["id"])
    assert received.type == "customer.subscription.updated" and received.processed_at is None
    assert json.loads(received.body) == upgrade
    assert workspace_allowance(workspace=alice_workspace).plan.key == "basic"  # not yet processed
    assert len(queued) == 1

    assert webhooks.event_process(received_id=received.pk) is True
    received.refresh_from_db()
    assert received.processed_at and received.attempts == 1
    assert workspace_allowance(workspace=alice_workspace).plan.key == "pro"


def test_it_reads_the_stripe_account_once_per_event(subscribed, catalogue, post, django_capture_on_commit_callbacks):
    upgrade = catalogue.change_plan(subscribed, "pro_monthly")
    with django_capture_on_commit_callbacks(execute=False):
        assert post(upgrade).status_code == 200
    received = ReceivedEvent.objects.get(event_id=upgrade["id"])
    with CaptureQueriesContext(connection) as queries:
        assert webhooks.event_process(received_id=received.pk) is True
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "djstripe_account"')]
    assert len(reads) == 1, reads  # dj-stripe asks for it once per object it syncs


def test_it_processes_a_duplicate_delivery_once(subscribed, catalogue, deliver, alice_workspace, monkeypatch):
    upgrade = catalogue.change_plan(subscribed, "pro_monthly")
    processed = []
    real = Event.invoke_webhook_handlers
    monkeypatch.setattr(Event, "invoke_webhook_handlers", lambda event: processed.append(event.id) or real(event))
    assert deliver(upgrade).status_code == 200
    assert deliver(upgrade).status_code == 200  # Stripe retried: our first answer was lost
    assert processed == [upgrade["id"]]
    assert ReceivedEvent.objects.filter(event_id=upgrade["id"]).count() == 1
    # A task sent twice (outbox and beat both queued it) processes it once.
    assert webhooks.event_process(received_id=ReceivedEvent.objects.get(event_id=upgrade["id"]).pk) is False
    assert processed == [upgrade["id"]]
    assert workspace_allowance(workspace=alice_workspace).plan.key == "pro"


def test_it_runs_no_handler_for_an_event_dj_stripe_has_already(
    subscribed, catalogue, post, alice_workspace, django_capture_on_commit_callbacks
):
    upgrade = catalogue.change_plan(subscribed, "pro_monthly")
    Event(id=upgrade["id"], type=upgrade["type"], data=upgrade["data"], stripe_data=upgrade).save()  # synced by dj-stripe
    with django_capture_on_commit_callbacks(execute=False):
        assert post(upgrade).status_code == 200
    received = ReceivedEvent.objects.get(event_id=upgrade["id"])
    assert webhooks.event_process(received_id=received.pk) is True
    assert ReceivedEvent.objects.get(pk=received.pk).processed_at is not None
    assert workspace_allowance(workspace=alice_workspace).plan.key == "basic"  # as dj-stripe's Event.process: handled before


def test_it_stores_a_bad_signature_nowhere(subscribed, catalogue, post, django_capture_on_commit_callbacks):
    event = catalogue.change_plan(subscribed, "pro_monthly")
    stored = ReceivedEvent.objects.count(), Event.objects.count()
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert post(event, secret="whsec_wrong").status_code == 400
        assert post(event, signature="").status_code == 400
        assert post(event, signature="t=1,v1=abc").status_code == 400
    assert queued == []
    assert (ReceivedEvent.objects.count(), Event.objects.count()) == stored
    assert not ReceivedEvent.objects.filter(event_id=event["id"]).exists()
    assert not WebhookEventTrigger.objects.exists() and not OutboxTask.objects.exists()


def test_it_refuses_a_signed_body_that_is_no_event(webhook, client):
    payload = b'["not", "an", "event"]'
    response = client.post(
        f"/stripe/webhook/{webhook.djstripe_uuid}/", data=payload, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, webhook.secret),
    )
    assert response.status_code == 400 and not ReceivedEvent.objects.exists()


def test_it_answers_404_for_an_unknown_endpoint(client, db):
    response = client.post(
        "/stripe/webhook/00000000-0000-0000-0000-000000000000/", data=b"{}", content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=abc",
    )
    assert response.status_code == 404


def test_it_records_the_event_with_redis_down_and_processes_it_later(
    subscribed, catalogue, post, alice_workspace, redis_down, django_capture_on_commit_callbacks
):
    upgrade = catalogue.change_plan(subscribed, "pro_monthly")
    with django_capture_on_commit_callbacks(execute=True):
        assert post(upgrade).status_code == 200
    received = ReceivedEvent.objects.get(event_id=upgrade["id"])
    assert received.processed_at is None
    assert list(OutboxTask.objects.values_list("task", "args")) == [("billing.tasks.process_stripe_event", [received.pk])]
    assert drain() == 0  # still down: kept

    # The broker is back: the outbox sends it and a worker (inline here) processes it.
    from marketing.celery import app

    app.conf.task_always_eager = True
    assert drain() == 1
    received.refresh_from_db()
    assert received.processed_at is not None and not OutboxTask.objects.exists()
    assert workspace_allowance(workspace=alice_workspace).plan.key == "pro"


def test_it_queues_again_an_event_whose_task_was_lost(
    subscribed, catalogue, post, alice_workspace, django_capture_on_commit_callbacks
):
    upgrade = catalogue.change_plan(subscribed, "pro_monthly")
    with django_capture_on_commit_callbacks(execute=False):  # the task never reaches a worker
        post(upgrade)
    assert webhooks.events_requeue() == 0  # not yet overdue
    with time_machine.travel(timezone.now() + webhooks.REQUEUE_AFTER + timedelta(seconds=1)):
        assert webhooks.events_requeue() == 1  # inline here, as a worker would
    assert ReceivedEvent.objects.get(event_id=upgrade["id"]).processed_at is not None
    assert workspace_allowance(workspace=alice_workspace).plan.key == "pro"


def test_it_keeps_an_event_that_failed_and_tries_it_again_later(
    subscribed, catalogue, post, alice_workspace, django_capture_on_commit_callbacks
):
    upgrade = catalogue.change_plan(subscribed, "pro_monthly")
    catalogue.down = True
    with django_capture_on_commit_callbacks(execute=True):
        assert post(upgrade).status_code == 200  # answered although processing failed
    received = ReceivedEvent.objects.get(event_id=upgrade["id"])
    assert received.processed_at is None and received.attempts == 1 and received.last_error
    assert not Event.objects.filter(id=upgrade["id"]).exists()  # the failed attempt left nothing half done
    assert workspace_allowance(workspace=alice_workspace).plan.key == "basic"

    catalogue.down = False
    assert webhooks.events_requeue() == 0  # backing off
    with time_machine.travel(received.next_attempt_at + timedelta(seconds=1)):
        assert webhooks.events_requeue() == 1
    received.refresh_from_db()
    assert received.processed_at and received.attempts == 2 and received.last_error == ""
    assert workspace_allowance(workspace=alice_workspace).plan.key == "pro"


def test_it_never_rolls_back_when_events_are_processed_out_of_order(
    subscribed, catalogue, post, alice_workspace, django_capture_on_commit_callbacks
):
    older = catalogue.change_plan(subscribed, "pro_monthly")
    newer = catalogue.change_plan(subscribed, "enterprise_monthly")
    with django_capture_on_commit_callbacks(execute=False):
        post(older)
        post(newer)
    by_id = dict(ReceivedEvent.objects.values_list("event_id", "pk"))
    assert webhooks.event_process(received_id=by_id[newer["id"]])
    assert workspace_allowance(workspace=alice_workspace).plan.key == "enterprise"
    assert webhooks.event_process(received_id=by_id[older["id"]])  # the older one, processed last
    assert workspace_allowance(workspace=alice_workspace).plan.key == "enterprise"


def test_it_applies_a_cancellation_delivered_before_the_update_it_follows(
    subscribed, catalogue, post, alice_workspace, django_capture_on_commit_callbacks
):
    update = catalogue.change_plan(subscribed, "pro_monthly")
    cancel = catalogue.cancel_subscription(subscribed)
    with django_capture_on_commit_callbacks(execute=False):
        post(cancel)
        post(update)
    for event in (cancel, update):
        webhooks.event_process(received_id=ReceivedEvent.objects.get(event_id=event["id"]).pk)
    assert workspace_allowance(workspace=alice_workspace).status == "canceled"


def test_it_lists_received_events_in_the_admin(subscribed, admin_client):
    response = admin_client.get("/admin/billing/receivedevent/?processed_at__isnull=True")
    assert response.status_code == 200
    assert admin_client.get("/admin/billing/receivedevent/").content.count(b"customer.subscription") >= 1


def test_it_prunes_processed_events_after_the_keeping_time_and_never_waiting_ones(subscribed, catalogue, post, django_capture_on_commit_callbacks):
    waiting_event = catalogue.change_plan(subscribed, "pro_monthly")
    with django_capture_on_commit_callbacks(execute=False):
        post(waiting_event)
    processed = ReceivedEvent.objects.filter(processed_at__isnull=False).count()
    assert processed >= 1
    assert webhooks.events_prune() == 0
    with time_machine.travel(timezone.now() + webhooks.KEEP_PROCESSED + timedelta(minutes=1)):
        assert webhooks.events_prune() == processed
    assert list(ReceivedEvent.objects.values_list("event_id", flat=True)) == [waiting_event["id"]]
