"""A customer.subscription.updated delivery end to end: signature, dj-stripe's sync, the plan update.

Stripe is the local fake from the tests (tests/billing/fake_stripe.py), so the re-read of the
subscription that dj-stripe makes for every event is a real HTTP round trip on loopback.
"""

import json
import statistics
import time

from django.core.management import call_command
from django.test import Client, override_settings
from djstripe.models import WebhookEndpoint

from bench import Metric, Result
from billing.selectors import workspace_allowance
from billing.services import checkout_start
from marketing.models import User
from marketing.services import workspace_create
from tests.billing.fake_stripe import FakeStripe, sign

TARGET_MS = 50.0
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
            samples = _measure(fake, result, requests)
    finally:
        fake.stop()
    median = statistics.median(samples)
    result.say(f"customer.subscription.updated: median {median:.1f} ms, max {max(samples):.1f} ms ({len(samples)} deliveries)")
    result.metrics.append(Metric("billing_webhook_per_event_ms", median, "ms", TARGET_MS))
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

    for event in fake.complete_checkout(session_id):
        deliver(event)
    subscription_id = fake.get(session_id)["subscription"]
    keys = ["pro_monthly", "basic_monthly"]
    samples = []
    for i in range(5 + min(requests, 100)):
        elapsed = deliver(fake.change_plan(subscription_id, keys[i % 2]))
        if i >= 5:  # the first deliveries warm connections and caches
            samples.append(elapsed)
    assert workspace_allowance(workspace=workspace).plan.key == ("basic" if (4 + min(requests, 100)) % 2 else "pro")
    return samples
