"""Charlie, in a workspace of his own, can neither see Alice's triggers nor fire them."""

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import CampaignExecution
from tests.factories import CampaignFactory
from triggers import services
from triggers.models import Trigger, TriggerEvent


@pytest.fixture
def alices_trigger(make_trigger):
    return make_trigger(kind="manual")


@pytest.fixture
def charlies_trigger(charlie):
    workspace = charlie.workspaces.get()
    return services.trigger_create(
        workspace=workspace, by=charlie, name="Charlie's", kind="event", campaigns=[CampaignFactory(workspace=workspace)]
    )


def test_it_answers_404_to_charlie_on_alices_trigger_pages(charlie_client, alices_trigger):
    for path in ["", "edit/", "delete/"]:
        assert charlie_client.get(f"/triggers/{alices_trigger.pk}/{path}").status_code == 404, path


def test_it_answers_404_to_charlie_on_alices_trigger_actions(charlie_client, alices_trigger):
    for path in ["fire/", "toggle/", "test/", "token/", "secret/", "secret/remove/", "edit/", "delete/"]:
        assert charlie_client.post(f"/triggers/{alices_trigger.pk}/{path}", {"payload": "{}"}).status_code == 404, path
    assert Trigger.objects.filter(pk=alices_trigger.pk).exists()
    assert not TriggerEvent.objects.exists()


def test_it_answers_404_to_charlie_on_the_fire_api(charlie_client, alices_trigger):
    assert charlie_client.post(f"/api/v1/triggers/{alices_trigger.pk}/fire/").status_code == 404
    assert not CampaignExecution.objects.exists()


def test_it_hides_alices_triggers_from_charlies_list(charlie_client, alices_trigger, charlies_trigger):
    content = charlie_client.get("/triggers/").content.decode()
    assert "Charlie&#x27;s" in content or "Charlie's" in content
    assert alices_trigger.name not in content


def test_it_fires_only_charlies_own_trigger_with_his_token(client, alices_trigger, charlies_trigger, campaign):
    response = client.post(f"/hooks/triggers/{charlies_trigger.token}/", data={"a": 1}, content_type="application/json")

    assert response.status_code == 202
    event = TriggerEvent.objects.get()
    assert event.trigger == charlies_trigger
    assert event.workspace == charlies_trigger.workspace
    assert not CampaignExecution.objects.filter(campaign=campaign).exists()
    assert CampaignExecution.objects.get().workspace == charlies_trigger.workspace


def test_it_refuses_to_start_another_workspaces_campaign(charlie, make_trigger):
    charlies_campaign = CampaignFactory(workspace=charlie.workspaces.get())
    with pytest.raises(ValidationError):
        make_trigger(campaigns=[charlies_campaign])
    assert not Trigger.objects.exists()


@pytest.mark.parametrize("campaign_id", ["99999999999999999999", "-99999999999999999999"])
def test_it_refuses_a_campaign_key_no_column_holds_beside_the_field(alice_client, campaign_id):
    response = alice_client.post(
        "/triggers/new/", {"name": "Orders", "kind": "event", "campaigns": [campaign_id], "cooldown": "0", "enabled": "on"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["campaigns"] == [
        f"Select a valid choice. {campaign_id} is not one of the available choices."
    ]
    assert not Trigger.objects.exists()
