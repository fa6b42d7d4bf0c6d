"""Owners delete a workspace: typed confirmation, a summary, runs cancelled, files removed."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db.models.signals import pre_delete

from campaigns.models import Campaign, CampaignExecution, CampaignImage
from marketing import services
from marketing.models import Membership, Workspace
from tests.factories import CampaignFactory, add_image


@pytest.fixture
def campaign(alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, name="Spring")
    add_image(campaign)
    return campaign


def test_it_shows_what_goes_before_deleting(alice_client, campaign):
    page = alice_client.get("/workspace/delete/").content.decode()
    assert "1 campaign with 1 image file and 0 runs" in page
    assert "Type the workspace&#x27;s name to confirm" in page


def test_it_refuses_without_the_typed_name(alice_client, alice_workspace, campaign):
    response = alice_client.post("/workspace/delete/", {"confirm_name": "Alice"})
    assert response.status_code == 200
    assert "Type the workspace&#x27;s name exactly" in response.content.decode()
    assert Workspace.objects.filter(pk=alice_workspace.pk).exists()


def test_it_deletes_the_workspace_cancels_runs_and_removes_files(
    alice_client, alice_workspace, campaign, django_capture_on_commit_callbacks
):
    image = campaign.images.get()
    storage = image.file.storage
    assert storage.exists(image.file.name) and storage.exists(image.thumbnail.name)
    CampaignExecution.objects.create(workspace=alice_workspace, campaign=campaign, source="manual")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/workspace/delete/", {"confirm_name": "Alice Co"}, follow=True)
    assert "Alice Co was deleted with its 1 campaign(s), 1 run(s) and 1 image file(s)." in response.content.decode()
    assert not Workspace.objects.filter(pk=alice_workspace.pk).exists()
    assert not Campaign.objects.exists() and not CampaignImage.objects.exists()
    assert not storage.exists(image.file.name)
    assert image.thumbnail.name and not storage.exists(image.thumbnail.name)


def test_it_cancels_a_run_in_progress_before_deleting(alice, alice_workspace, campaign):
    execution = CampaignExecution.objects.create(workspace=alice_workspace, campaign=campaign, source="manual")
    seen_at_delete = []

    def record(sender, instance, **kwargs):
        seen_at_delete.append(instance.status)

    pre_delete.connect(record, sender=CampaignExecution)
    try:
        summary = services.workspace_delete(
            workspace=alice_workspace, by=Membership.objects.get(user=alice), confirm_name="Alice Co"
        )
    finally:
        pre_delete.disconnect(record, sender=CampaignExecution)
    assert seen_at_delete == ["cancelled"]
    assert summary.runs_in_progress == 1
    assert not CampaignExecution.objects.filter(pk=execution.pk).exists()


def test_it_does_not_let_a_member_delete_the_workspace(bob, alice_workspace, client):
    client.force_login(bob)
    client.post("/workspace/delete/", {"confirm_name": "Alice Co"})
    assert Workspace.objects.filter(pk=alice_workspace.pk).exists()
    with pytest.raises(PermissionDenied):
        services.workspace_delete(workspace=alice_workspace, by=Membership.objects.get(user=bob), confirm_name="Alice Co")


def test_it_offers_the_only_owner_delete_instead_of_leave(alice_client, bob):
    page = alice_client.get("/members/").content.decode()
    assert "Delete workspace…" in page
    assert "Leave workspace" not in page
