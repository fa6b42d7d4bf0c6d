import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from djstripe.models import Event, Price, WebhookEventTrigger

from billing.models import BillingAccount
from billing.plans import Limit
from billing.selectors import workspace_allowance
from billing.services import LimitReached, limit_check
from tests.billing.fake_stripe import sign
from tests.factories import CampaignFactory


def test_it_creates_the_catalogue_once_with_billing_setup(catalogue):
    from django.core.management import call_command

    prices = {o["lookup_key"] for o in catalogue.objects.values() if o.get("object") == "price"}
    assert {"basic_monthly", "pro_yearly", "enterprise_monthly", "extra_ai_image_monthly"} <= prices
    created = len(catalogue.objects)
    call_command("billing_setup", verbosity=0)
    assert len(catalogue.objects) == created
    assert Price.objects.count() == 8


def _checkout(client, plan="pro", interval="month"):
    response = client.post("/billing/checkout/", {"plan": plan, "interval": interval})
    assert response.status_code == 302, response.content
    return response["Location"].rsplit("/", 1)[-1]


def test_it_raises_the_limits_through_the_full_checkout(catalogue, deliver, alice_client, alice_workspace, settings):
    settings.BILLING_TRIAL_DAYS = 0
    for _ in range(3):
        CampaignFactory(workspace=alice_workspace)
    with pytest.raises(LimitReached):
        limit_check(workspace=alice_workspace, limit=Limit.CAMPAIGNS)
    session_id = _checkout(alice_client)
    session = catalogue.get(session_id)
    assert session["mode"] == "subscription" and session["allow_promotion_codes"]
    customer = catalogue.get(session["customer"])
    assert customer["email"] == "alice@example.com" and customer["metadata"] == {"workspace_id": str(alice_workspace.pk)}
    assert [catalogue.get(line["price"])["lookup_key"] for line in session["_line_items"]] == ["pro_monthly", "extra_ai_image_monthly"]

    response = alice_client.get("/billing/success/", HTTP_HX_REQUEST="true")
    assert b"activating" in response.content and b'hx-trigger="every 2s"' in response.content

    for response in deliver(*catalogue.complete_checkout(session_id)):
        assert response.status_code == 200
    allowance = workspace_allowance(workspace=alice_workspace)
    assert (allowance.plan.key, allowance.status, allowance.interval) == ("pro", "active", "month")
    limit_check(workspace=alice_workspace, limit=Limit.CAMPAIGNS)
    response = alice_client.get("/billing/success/", HTTP_HX_REQUEST="true")
    assert b"Pro plan is active" in response.content and b"hx-trigger" not in response.content


def test_it_offers_the_trial_from_settings_at_checkout(catalogue, webhook, alice_client, settings):
    settings.BILLING_TRIAL_DAYS = 14
    session = catalogue.get(_checkout(alice_client, "basic", "year"))
    assert session["_subscription_data"]["trial_period_days"] == "14"


def test_it_lets_only_owners_start_checkout(catalogue, client, bob):
    client.force_login(bob)
    response = client.post("/billing/checkout/", {"plan": "pro", "interval": "month"}, follow=True)
    assert b"Only the workspace" in response.content
    assert not [o for o in catalogue.objects.values() if o.get("object") == "checkout.session"]


def _subscribed(catalogue, deliver, client, plan="basic"):
    session_id = _checkout(client, plan)
    deliver(*catalogue.complete_checkout(session_id, status="active"))
    return catalogue.get(session_id)["subscription"]


def test_it_raises_the_plan_on_an_upgrade_in_the_portal(catalogue, deliver, alice_client, alice_workspace):
    sub_id = _subscribed(catalogue, deliver, alice_client, "basic")
    assert deliver(catalogue.change_plan(sub_id, "pro_monthly")).status_code == 200
    assert workspace_allowance(workspace=alice_workspace).plan.key == "pro"


def test_it_lowers_the_plan_on_a_downgrade_and_keeps_everything(catalogue, deliver, alice_client, alice_workspace):
    sub_id = _subscribed(catalogue, deliver, alice_client, "pro")
    for _ in range(30):
        CampaignFactory(workspace=alice_workspace)
    deliver(catalogue.change_plan(sub_id, "basic_monthly"))
    assert workspace_allowance(workspace=alice_workspace).plan.key == "basic"
    assert alice_workspace.campaigns.count() == 30
    with pytest.raises(LimitReached):
        limit_check(workspace=alice_workspace, limit=Limit.CAMPAIGNS)


def test_it_falls_back_to_free_after_a_cancellations_grace_period(catalogue, deliver, alice_client, alice_workspace, settings):
    settings.BILLING_GRACE_DAYS = 3
    sub_id = _subscribed(catalogue, deliver, alice_client, "pro")
    deliver(catalogue.cancel_subscription(sub_id))
    allowance = workspace_allowance(workspace=alice_workspace)
    assert (allowance.plan.key, allowance.status) == ("pro", "canceled") and allowance.grace_until
    with time_machine.travel(timezone.now() + timedelta(days=4)):
        assert workspace_allowance(workspace=alice_workspace).plan.key == "free"
        response = alice_client.get("/billing/")
        assert b"free allowance applies" in response.content


def test_it_shows_a_banner_and_emails_the_owners_once_on_a_failed_payment(catalogue, deliver, alice_client, alice_workspace, bob, mailoutbox):
    sub_id = _subscribed(catalogue, deliver, alice_client, "basic")
    events = catalogue.fail_payment(sub_id)
    deliver(*events)
    deliver(*events)  # Stripe retries deliveries
    deliver(catalogue.set_status(sub_id, "past_due"))  # a later update while still past due
    assert [m.to for m in mailoutbox] == [["alice@example.com"]]
    assert "Payment failed" in mailoutbox[0].subject
    assert b"A payment failed" in alice_client.get("/campaigns/").content
    alice_client.force_login(bob)
    assert b"A payment failed" not in alice_client.get("/campaigns/").content


def test_it_changes_nothing_on_a_duplicate_delivery(catalogue, deliver, alice_client, alice_workspace):
    sub_id = _subscribed(catalogue, deliver, alice_client, "basic")
    upgrade = catalogue.change_plan(sub_id, "pro_monthly")
    deliver(upgrade)
    catalogue.change_plan(sub_id, "basic_monthly")  # changed again at Stripe; its event not yet sent
    assert deliver(upgrade).status_code == 200
    assert workspace_allowance(workspace=alice_workspace).plan.key == "pro"
    assert Event.objects.filter(id=upgrade["id"]).count() == 1


def test_it_never_rolls_back_on_an_older_event_arriving_late(catalogue, deliver, alice_client, alice_workspace):
    sub_id = _subscribed(catalogue, deliver, alice_client, "basic")
    older = catalogue.change_plan(sub_id, "pro_monthly")
    newer = catalogue.change_plan(sub_id, "enterprise_monthly")
    deliver(newer)
    deliver(older)
    assert workspace_allowance(workspace=alice_workspace).plan.key == "enterprise"


def test_it_records_an_event_for_an_unknown_customer_and_answers_200(catalogue, deliver, alice_workspace):
    stranger = catalogue.add_customer()
    event = catalogue.event("customer.updated", stranger)
    assert deliver(event).status_code == 200
    assert Event.objects.filter(id=event["id"]).exists()
    assert not BillingAccount.objects.exists()


def test_it_refuses_a_bad_signature_and_stores_it_nowhere(catalogue, deliver, alice_workspace):
    event = catalogue.event("customer.updated", catalogue.add_customer())
    assert deliver(event, secret="whsec_wrong").status_code == 400
    assert deliver(event, signature="").status_code == 400
    assert deliver(event, signature="t=1,v1=abc").status_code == 400
    assert not WebhookEventTrigger.objects.exists() and not Event.objects.exists()


def test_it_refuses_a_replayed_signature_older_than_the_tolerance(catalogue, deliver, alice_workspace):
    event = catalogue.event("customer.updated", catalogue.add_customer())
    payload = json.dumps(event).encode()
    stale = sign(payload, "whsec_test_secret", timestamp=int(time.time()) - 301)
    assert deliver(event, signature=stale).status_code == 400


def test_it_opens_stripes_portal_with_a_return_url_from_the_portal_button(catalogue, deliver, alice_client):
    _subscribed(catalogue, deliver, alice_client)
    response = alice_client.post("/billing/portal/")
    assert response.status_code == 302 and "/portal/bps_" in response["Location"]
    portal = catalogue.get(response["Location"].rsplit("/", 1)[-1])
    assert portal["return_url"].endswith("/billing/")


def test_it_lists_invoices_and_the_next_one_on_the_invoices_page(catalogue, deliver, alice_client, charlie):
    _subscribed(catalogue, deliver, alice_client, "pro")
    response = alice_client.get("/billing/invoices/")
    assert b"FAKE-0001" in response.content and b"79.00" in response.content
    assert b"/invoice/pdf" in response.content and b"Next invoice" in response.content
    alice_client.force_login(charlie)
    assert b"FAKE-0001" not in alice_client.get("/billing/invoices/").content
