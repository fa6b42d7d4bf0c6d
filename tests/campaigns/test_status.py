import pytest
from django.core.exceptions import ValidationError

from campaigns import executions, services
from campaigns.models import CampaignStatusChange
from tests.factories import CampaignFactory, add_image


@pytest.mark.parametrize(
    ("start", "to"),
    [("draft", "scheduled"), ("scheduled", "paused"), ("paused", "active"), ("active", "completed"), ("archived", "draft")],
)
def test_it_allows_a_legal_transition_and_records_who_and_when(alice, alice_workspace, start, to):
    campaign = CampaignFactory(workspace=alice_workspace, status=start)

    services.campaign_transition(campaign=campaign, to=to, by=alice)

    campaign.refresh_from_db()
    assert campaign.status == to
    change = CampaignStatusChange.objects.get(campaign=campaign)
    assert (change.from_status, change.to_status, change.by, change.via) == (start, to, alice, "page")
    assert change.at is not None


@pytest.mark.parametrize(("start", "to"), [("archived", "active"), ("archived", "scheduled"), ("draft", "paused"), ("paused", "completed")])
def test_it_refuses_an_illegal_transition_with_a_clear_message(alice, alice_workspace, start, to):
    campaign = CampaignFactory(workspace=alice_workspace, status=start)

    with pytest.raises(ValidationError) as raised:
        services.campaign_transition(campaign=campaign, to=to, by=alice)

    assert f"cannot become {to}" in raised.value.messages[0]
    campaign.refresh_from_db()
    assert campaign.status == start
    assert not CampaignStatusChange.objects.exists()


def test_it_shows_a_refused_transition_in_the_page(alice_client, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, status="archived")
    response = alice_client.post(f"/campaigns/{campaign.pk}/status/", {"to": "active"}, follow=True)
    assert b"cannot become active" in response.content


def test_it_archives_from_the_admin_through_the_same_service(client, alice_workspace, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    campaign = CampaignFactory(workspace=alice_workspace, status="archived")
    response = client.post(
        "/admin/campaigns/campaign/", {"action": "archive", "_selected_action": [campaign.pk]}, follow=True
    )
    assert b"cannot become archived" in response.content


def test_it_records_a_task_transition_after_a_run(alice, alice_workspace, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(workspace=alice_workspace)
    add_image(campaign)
    with django_capture_on_commit_callbacks(execute=True):
        executions.execution_create(campaign=campaign, by=alice)
    change = CampaignStatusChange.objects.get(campaign=campaign)
    assert (change.to_status, change.via) == ("completed", "task")
