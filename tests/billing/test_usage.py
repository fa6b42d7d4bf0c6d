
from billing.models import MeterEvent, MeterEventStatus
from billing.plans import BASIC, Limit
from billing.services import meter_events_send
from campaigns.models import GenerationStatus, ImageGeneration
from campaigns.services import image_generation_request
from marketing.models import Workspace
from marketing.services import workspace_delete
from tests.billing.test_checkout import _subscribed
from tests.factories import CampaignFactory


def _use_allowance(workspace, n):
    campaign = CampaignFactory(workspace=workspace)
    ImageGeneration.objects.bulk_create(
        ImageGeneration(campaign=campaign, prompt="p", model="m", status=GenerationStatus.SUCCEEDED) for _ in range(n)
    )
    return campaign


def _generate(campaign, alice, capture):
    with capture(execute=True):
        return image_generation_request(campaign=campaign, by=alice)


def test_it_does_not_meter_images_within_the_allowance(catalogue, deliver, alice_client, alice, alice_workspace, fake_openai, django_capture_on_commit_callbacks):
    _subscribed(catalogue, deliver, alice_client, "basic")
    campaign = _use_allowance(alice_workspace, BASIC.limit(Limit.AI_IMAGES_PER_MONTH) - 1)
    _generate(campaign, alice, django_capture_on_commit_callbacks)
    assert not MeterEvent.objects.exists() and catalogue.meter_event_posts == 0


def test_it_meters_an_image_beyond_the_allowance_with_its_id(catalogue, deliver, alice_client, alice, alice_workspace, fake_openai, django_capture_on_commit_callbacks):
    _subscribed(catalogue, deliver, alice_client, "basic")
    campaign = _use_allowance(alice_workspace, BASIC.limit(Limit.AI_IMAGES_PER_MONTH))
    generation = _generate(campaign, alice, django_capture_on_commit_callbacks)
    generation.refresh_from_db()
    identifier = f"ai_image_{generation.image_id}"
    sent = catalogue.meter_events[identifier]
    customer = alice_workspace.billing.customer_id
    assert sent["event_name"] == "ai_image_generated" and sent["payload"] == {"stripe_customer_id": customer, "value": "1"}
    assert MeterEvent.objects.get().status == MeterEventStatus.SENT
    response = alice_client.get("/billing/")
    assert b"1 AI image beyond the allowance" in response.content and b"$0.04" in response.content


def test_it_sends_meter_events_exactly_once_across_an_outage(catalogue, deliver, alice_client, alice, alice_workspace, fake_openai, django_capture_on_commit_callbacks):
    _subscribed(catalogue, deliver, alice_client, "basic")
    campaign = _use_allowance(alice_workspace, BASIC.limit(Limit.AI_IMAGES_PER_MONTH))
    catalogue.down = True
    _generate(campaign, alice, django_capture_on_commit_callbacks)
    _generate(campaign, alice, django_capture_on_commit_callbacks)
    for _ in range(8):  # beat keeps trying; the breaker opens and stops calling
        assert meter_events_send() == 0
    assert MeterEvent.objects.filter(status=MeterEventStatus.PENDING).count() == 2
    assert catalogue.meter_events == {}
    posts_while_down = catalogue.meter_event_posts
    assert posts_while_down < 8 + 2  # the open breaker refused some calls without sending them

    catalogue.down = False
    from integrations import http

    http.reset_breakers()
    assert meter_events_send() == 2
    assert meter_events_send() == 0
    assert len(catalogue.meter_events) == 2


def test_it_counts_a_resend_after_a_lost_acknowledgement_once_at_stripe(catalogue, deliver, alice_client, alice, alice_workspace, fake_openai, django_capture_on_commit_callbacks):
    _subscribed(catalogue, deliver, alice_client, "basic")
    campaign = _use_allowance(alice_workspace, BASIC.limit(Limit.AI_IMAGES_PER_MONTH))
    _generate(campaign, alice, django_capture_on_commit_callbacks)
    # The worker died after Stripe answered and before the row was marked: it is still waiting.
    MeterEvent.objects.update(status=MeterEventStatus.PENDING, sent_at=None)
    assert meter_events_send() == 1
    assert catalogue.meter_event_posts == 2 and len(catalogue.meter_events) == 1


def test_it_cancels_the_subscription_of_a_deleted_workspace(catalogue, deliver, alice_client, alice, alice_workspace):
    sub_id = _subscribed(catalogue, deliver, alice_client, "pro")
    workspace_delete(workspace=alice_workspace, by=alice.memberships.get(), confirm_name=alice_workspace.name)
    assert catalogue.get(sub_id)["status"] == "canceled"
    assert not Workspace.objects.filter(pk=alice_workspace.pk).exists()


def test_it_does_not_delete_a_workspace_while_stripe_cannot_cancel_its_subscription(catalogue, deliver, alice_client, alice, alice_workspace):
    import pytest
    from django.core.exceptions import ValidationError

    sub_id = _subscribed(catalogue, deliver, alice_client, "pro")
    catalogue.down = True
    with pytest.raises(ValidationError, match="nothing was deleted"):
        workspace_delete(workspace=alice_workspace, by=alice.memberships.get(), confirm_name=alice_workspace.name)
    assert Workspace.objects.filter(pk=alice_workspace.pk).exists()
    assert catalogue.get(sub_id)["status"] == "active"
