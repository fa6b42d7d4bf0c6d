"""The campaign list's "with the selected campaigns" actions."""

import pytest

from campaigns.models import Campaign, CampaignExecution, CampaignStatusChange
from tests.factories import CampaignFactory, WorkspaceFactory


def bulk(client, action: str, *campaigns, **extra):
    return client.post("/campaigns/bulk/", {"action": action, "ids": [c.pk for c in campaigns], **extra}, follow=True)


def status_of(campaign) -> str:
    campaign.refresh_from_db()
    return campaign.status


def test_it_pauses_each_selected_campaign_and_records_the_change(alice_client, alice_workspace, alice):
    one, two = (CampaignFactory(workspace=alice_workspace, status="active") for _ in range(2))

    page = bulk(alice_client, "pause", one, two)

    assert "2 campaigns paused." in page.content.decode()
    assert (status_of(one), status_of(two)) == ("paused", "paused")
    assert CampaignStatusChange.objects.filter(to_status="paused", by=alice).count() == 2


def test_it_does_the_others_when_the_status_machine_refuses_one(alice_client, alice_workspace):
    draft = CampaignFactory(workspace=alice_workspace, name="Draft one", status="draft")
    active = CampaignFactory(workspace=alice_workspace, status="active")

    html = bulk(alice_client, "pause", draft, active).content.decode()

    assert "1 campaign paused." in html
    assert "“Draft one” was not paused: A draft campaign cannot become paused" in html
    assert (status_of(draft), status_of(active)) == ("draft", "paused")


def test_it_archives_and_activates(alice_client, alice_workspace):
    paused = CampaignFactory(workspace=alice_workspace, status="paused")
    done = CampaignFactory(workspace=alice_workspace, status="completed")

    bulk(alice_client, "activate", paused)
    bulk(alice_client, "archive", done)

    assert (status_of(paused), status_of(done)) == ("active", "archived")


def test_it_deletes_all_but_a_campaign_with_a_run_in_progress(alice_client, alice_workspace):
    idle = CampaignFactory(workspace=alice_workspace)
    busy = CampaignFactory(workspace=alice_workspace, name="Busy")
    CampaignExecution.objects.create(workspace=alice_workspace, campaign=busy, source="manual", status="running")

    html = bulk(alice_client, "delete", idle, busy).content.decode()

    assert "1 campaign deleted." in html and "“Busy” was not deleted: A run of this campaign is in progress" in html
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Busy"]


def test_it_leaves_another_workspaces_campaigns_alone(alice_client, alice_workspace):
    theirs = CampaignFactory(workspace=WorkspaceFactory(), status="active")

    html = bulk(alice_client, "delete", theirs).content.decode()

    assert "None of the selected campaigns is in this workspace any more." in html
    assert status_of(theirs) == "active"


def test_it_returns_to_the_list_as_it_was(alice_client, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, status="active")

    response = alice_client.post(
        "/campaigns/bulk/", {"action": "pause", "ids": [campaign.pk], "next": "q=spring&status=active"}
    )

    assert response["Location"] == "/campaigns/?q=spring&status=active"


@pytest.mark.parametrize("next_value", ["//evil.example/", "https://evil.example/", "\\\\evil.example"])
def test_it_never_redirects_off_the_list(alice_client, alice_workspace, next_value):
    campaign = CampaignFactory(workspace=alice_workspace, status="active")

    response = alice_client.post("/campaigns/bulk/", {"action": "pause", "ids": [campaign.pk], "next": next_value})

    assert response["Location"].startswith("/campaigns/?")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "pause"}, "Select at least one campaign."),
        ({"action": "explode", "ids": ["1"]}, "Select a valid choice."),
        ({"action": "pause", "ids": ["x", "²", "-1", "9" * 30]}, "Select a valid choice."),
    ],
)
def test_it_explains_a_form_it_cannot_apply(alice_client, alice_workspace, data, message):
    campaign = CampaignFactory(workspace=alice_workspace, status="active")

    response = alice_client.post("/campaigns/bulk/", data, follow=True)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert status_of(campaign) == "active"


def test_it_refuses_more_than_a_hundred_at_once(alice_client, alice_workspace):
    campaigns = Campaign.objects.bulk_create(
        Campaign(workspace=alice_workspace, name=f"C{number}", status="active") for number in range(101)
    )

    html = bulk(alice_client, "pause", *campaigns).content.decode()

    assert "Select at most 100 campaigns at a time." in html
    assert not Campaign.objects.filter(status="paused").exists()


def test_it_offers_a_box_per_row_and_the_actions_in_the_list(alice_client, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, name="Spring")

    html = alice_client.get("/campaigns/?status=all").content.decode()

    assert f'<input type="checkbox" name="ids" value="{campaign.pk}" form="bulk" aria-label="Select Spring">' in html
    assert '<form id="bulk"' in html and 'name="next" value="status=all"' in html
    assert '<option value="archive">Archive</option>' in html
