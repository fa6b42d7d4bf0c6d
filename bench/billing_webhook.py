"""A customer.subscription.updated delivery processed end to end: what Stripe waits for, then the processing.

Stripe's wait is the endpoint's whole request (signature check, the event stored once, the
processing task published to the configured broker on commit). The processing is the task a
worker then runs per event (dj-stripe's re-read of the subscription and its sync, the
workspace's plan), timed by calling it in process. ``billing_webhook_per_event_ms`` is the two
together per delivery (issue 12: "process a delivery end to end"); ``billing_webhook_processing_ms``
the task alone.
Stripe is the local fake from the tests (tests/billing/fake_stripe.py), so that re-read is a real
HTTP round trip on loopback. The tasks go to a queue of the benchmark's own, deleted at the end.
"""

import json
import statistics
import time

from django.core.management import call_command
from django.test import Client, override_settings
from djstripe.models import WebhookEndpoint

from bench import Metric, Result, own_queue
from billing import webhooks
from billing.models import ReceivedEvent
from billing.selectors import workspace_allowance
from billing.services import checkout_start
from billing.tasks import process_stripe_event
from marketing.models import User
from marketing.services import workspace_create
from tests.billing.fake_stripe import FakeStripe, sign

TARGET_MS = 50.0
PROCESSING_TARGET_MS = 50.0
SECRET = "whsec_bench_secret"


def run(*, requests: int) -> Result:
    result = Result()
    fake = FakeStripe().start()
    try:
        with override_settings(
            STRIPE_SECRET_KEY="sk_test_BenchKeyNotSentAnywhere0123456789",
            STRIPE_API_BASE=fake.base_url,
            STRIPE_NETWORK_RETRIES=0,
            BILLING_TRIAL_DAYS=0,
        ):
            samples, processing = _measure(fake, result, requests)
    finally:
        fake.stop()
    accepted = statistics.median(samples)
    result.say(f"customer.subscription.updated accepted (Stripe's wait): median {accepted:.1f} ms, max {max(samples):.1f} ms ({len(samples)} deliveries)")
    processed = statistics.median(processing)
    result.say(f"  processed by the task: median {processed:.1f} ms, max {max(processing):.1f} ms")
    whole = [a + b for a, b in zip(samples, processing, strict=True)]
    result.say(f"  end to end: median {statistics.median(whole):.1f} ms, max {max(whole):.1f} ms")
    result.metrics.append(Metric("billing_webhook_per_event_ms", statistics.median(whole), "ms", TARGET_MS))
    result.metrics.append(Metric("billing_webhook_processing_ms", processed, "ms", PROCESSING_TARGET_MS))
    return result


def _measure(fake: FakeStripe, result: Result, requests: int) -> list[float]:
    call_command("billing_setup", verbosity=0)
    endpoint = WebhookEndpoint.sync_from_stripe_data(
        {**fake.templates["webhook_endpoint"], "id": "we_bench", "url": "http://testserver/", "secret": SECRET,
         "livemode": False, "metadata": {}, "enabled_events": ["*"], "status": "enabled"}
    )
    endpoint.secret = SECRET
    endpoint.save()
    user = User.objects.create_user(email="webhook@bench.example", password="x")
    workspace = workspace_create(name="Webhook bench", owner=user)
    membership = workspace.memberships.get()
    session_id = checkout_start(workspace=workspace, membership=membership, plan_key="basic", interval="month").rsplit("/", 1)[-1]
    client = Client()
    url = f"/stripe/webhook/{endpoint.djstripe_uuid}/"

    def deliver(event: dict) -> float:
        payload = json.dumps(event).encode()
        started = time.perf_counter()
        response = client.post(url, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(payload, SECRET))
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.content
        return elapsed

    def process(event: dict) -> float:
        received = ReceivedEvent.objects.get(event_id=event["id"])
        started = time.perf_counter()
        assert webhooks.event_process(received_id=received.pk)
        return (time.perf_counter() - started) * 1000

    with own_queue(process_stripe_event.app, process_stripe_event.name, "bench-billing"):
        for event in fake.complete_checkout(session_id):
            deliver(event)
            process(event)
        subscription_id = fake.get(session_id)["subscription"]
        keys = ["pro_monthly", "basic_monthly"]
        samples, processing = [], []
        for i in range(5 + min(requests, 100)):
            event = fake.change_plan(subscription_id, keys[i % 2])
            elapsed = deliver(event)
            processed = process(event)
            if i >= 5:  # the first deliveries warm connections and caches
                samples.append(elapsed)
                processing.append(processed)
    assert workspace_allowance(workspace=workspace).plan.key == ("basic" if (4 + min(requests, 100)) % 2 else "pro")
    assert not ReceivedEvent.objects.filter(processed_at__isnull=True).exists()
    return samples, processing
