"""A subscription event re-reads the subscription once and writes only the rows that changed,
leaving dj-stripe's tables as dj-stripe's own sync would."""

import copy
import json

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from djstripe.models import Price, Subscription, SubscriptionItem

from billing import webhooks
from billing.models import ReceivedEvent
from billing.selectors import workspace_allowance
from tests.billing.fake_stripe import sign


@pytest.fixture
def subscribed(catalogue, deliver, alice_client, settings):
    settings.BILLING_TRIAL_DAYS = 0
    response = alice_client.post("/billing/checkout/", {"plan": "basic", "interval": "month"})
    session_id = response["Location"].rsplit("/", 1)[-1]
    deliver(*catalogue.complete_checkout(session_id, status="active"))
    return catalogue.get(session_id)["subscription"]


@pytest.fixture
def process(client, webhook, django_capture_on_commit_callbacks):
    """Accepts a delivery through the endpoint, then runs its processing as the worker would;
    returns the statements of the processing."""

    def run(event: dict) -> list[str]:
        payload = json.dumps(event).encode()
        with django_capture_on_commit_callbacks(execute=False):
            response = client.post(
                f"/stripe/webhook/{webhook.djstripe_uuid}/", data=payload, content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign(payload, webhook.secret),
            )
        assert response.status_code == 200
        received = ReceivedEvent.objects.get(event_id=event["id"])
        with CaptureQueriesContext(connection) as queries:
            assert webhooks.event_process(received_id=received.pk) is True
        return [q["sql"] for q in queries.captured_queries]

    return run


def _writes(statements: list[str], table: str) -> list[str]:
    return [sql for sql in statements if sql.startswith((f'UPDATE "{table}"', f'INSERT INTO "{table}"'))]


def _rows(subscription_id: str) -> dict:
    """dj-stripe's rows of a subscription, without the time each was last written."""
    subscription = Subscription.objects.get(id=subscription_id)
    rows = {"subscription": model_to_dict(subscription, exclude=["djstripe_updated"])}
    for item in SubscriptionItem.objects.filter(subscription=subscription).order_by("id"):
        rows[item.id] = {**model_to_dict(item, exclude=["djstripe_updated"]), "tax_rates": list(item.tax_rates.all())}
    return rows


def test_it_reads_the_subscription_once_per_event(subscribed, catalogue, process):
    event = catalogue.change_plan(subscribed, "pro_monthly")
    before = len(catalogue.requests)
    process(event)
    assert [(r.method, r.path) for r in catalogue.requests[before:]] == [("GET", f"/v1/subscriptions/{subscribed}")]


def test_it_writes_the_item_whose_price_changed_and_not_the_other(subscribed, catalogue, process, alice_workspace):
    event = catalogue.change_plan(subscribed, "pro_monthly")
    flat, metered = catalogue.get(subscribed)["items"]["data"]
    metered_written = SubscriptionItem.objects.get(id=metered["id"]).djstripe_updated

    statements = process(event)

    assert len(_writes(statements, "djstripe_subscriptionitem")) == 1
    assert SubscriptionItem.objects.get(id=flat["id"]).price.lookup_key == "pro_monthly"
    assert SubscriptionItem.objects.get(id=flat["id"]).stripe_data == flat
    assert SubscriptionItem.objects.get(id=metered["id"]).djstripe_updated == metered_written
    assert Subscription.objects.get(id=subscribed).stripe_data == catalogue.get(subscribed)
    assert not _writes(statements, "djstripe_price")  # the price is there already: read, not rewritten
    assert workspace_allowance(workspace=alice_workspace).plan.key == "pro"


def test_it_writes_no_stripe_row_when_stripe_has_nothing_new(subscribed, catalogue, process, alice_workspace):
    event = catalogue.event("customer.subscription.updated", catalogue.get(subscribed))

    statements = process(event)

    assert not _writes(statements, "djstripe_subscription")
    assert not _writes(statements, "djstripe_subscriptionitem")
    assert len(_writes(statements, "djstripe_event")) == 1  # the event itself is stored
    assert workspace_allowance(workspace=alice_workspace).plan.key == "basic"


def test_it_leaves_the_rows_dj_stripe_own_sync_would_leave(subscribed, catalogue, process, settings):
    catalogue.change_plan(subscribed, "pro_monthly")
    event = catalogue.set_status(subscribed, "past_due", cancel_at_period_end=True, metadata={"note": "changed"})
    process(event)
    ours = _rows(subscribed)

    # dj-stripe's own handler on the same Stripe state.
    Subscription.sync_from_stripe_data(Subscription(id=subscribed).api_retrieve(), api_key=settings.STRIPE_SECRET_KEY)
    assert _rows(subscribed) == ours
    assert ours["subscription"]["metadata"] == {"note": "changed"}


def test_it_stores_an_item_added_upstream_with_a_price_it_did_not_have(subscribed, catalogue, process):
    with catalogue._lock:
        price = catalogue._price_create(
            {"product": "plan_pro", "unit_amount": "700", "lookup_key": "seats_monthly", "recurring": {"interval": "month"}}
        )
        subscription = catalogue.get(subscribed)
        item = copy.deepcopy(subscription["items"]["data"][0])
        item.update(id="si_added", price=copy.deepcopy(price))
        subscription["items"]["data"].append(item)
        subscription["items"]["total_count"] = 3
        event = catalogue.event("customer.subscription.updated", subscription)
    assert not Price.objects.filter(id=price["id"]).exists()

    process(event)

    added = SubscriptionItem.objects.get(id="si_added")
    assert added.subscription_id == subscribed and added.price.id == price["id"]
    assert Price.objects.get(id=price["id"]).lookup_key == "seats_monthly"


def test_it_stores_the_new_price_of_a_changed_item(subscribed, catalogue, process):
    with catalogue._lock:
        price = catalogue._price_create(
            {"product": "plan_pro", "unit_amount": "4900", "lookup_key": "pro_monthly_2027", "recurring": {"interval": "month"}}
        )
        subscription = catalogue.get(subscribed)
        flat = subscription["items"]["data"][0]
        flat["price"] = copy.deepcopy(price)
        event = catalogue.event("customer.subscription.updated", subscription)

    process(event)

    assert SubscriptionItem.objects.get(id=flat["id"]).price.id == price["id"]
    assert Price.objects.get(id=price["id"]).stripe_data == price


def test_it_processes_an_event_of_a_subscription_stripe_no_longer_has(subscribed, catalogue, process, alice_workspace):
    event = catalogue.change_plan(subscribed, "pro_monthly")
    with catalogue._lock:
        del catalogue.objects[subscribed]

    process(event)  # nothing to re-read: processed, and the stored copy is left as it was

    assert ReceivedEvent.objects.get(event_id=event["id"]).processed_at is not None
    assert Subscription.objects.get(id=subscribed).stripe_data["items"]["data"][0]["price"]["lookup_key"] == "basic_monthly"
    assert workspace_allowance(workspace=alice_workspace).plan.key == "basic"
