"""Approval: in a workspace that requires it, only content an owner or admin approved publishes."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from campaigns import approval, executions, services
from campaigns.models import CampaignExecution, CampaignTarget
from integrations.n8n.models import N8nWorkflow
from marketing.models import Membership
from marketing.services import api_token_create
from tests.factories import CampaignFactory, add_image


@pytest.fixture
def workspace(alice_workspace):
    alice_workspace.require_approval = True
    alice_workspace.save()
    return alice_workspace


@pytest.fixture
def campaign(workspace):
    campaign = CampaignFactory(workspace=workspace, caption="Spring is here")
    add_image(campaign)
    return campaign


@pytest.fixture
def alice_membership(alice, workspace):
    return Membership.objects.get(user=alice, workspace=workspace)


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


def test_it_lets_every_campaign_publish_where_approval_is_not_required(alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)

    assert approval.approval_refusal(campaign) == ""


def test_it_refuses_to_run_a_campaign_nobody_approved(campaign):
    with pytest.raises(ValidationError) as refused:
        executions.execution_create(campaign=campaign)

    assert refused.value.messages == [approval.NOT_APPROVED]
    assert not CampaignExecution.objects.exists()


def test_it_runs_the_campaign_once_approved(campaign, alice_membership):
    approval.campaign_approve(campaign=campaign, by=alice_membership)

    assert executions.execution_create(campaign=campaign).status == "queued"


@pytest.mark.parametrize(
    "change",
    [
        lambda c: services.campaign_update(campaign=c, by=None, caption="Summer is here"),
        lambda c: services.campaign_update(campaign=c, by=None, hashtags="#sale"),
        lambda c: services.campaign_update(campaign=c, by=None, first_comment="Link in bio"),
        lambda c: services.campaign_update(campaign=c, by=None, brief="Another image"),
        lambda c: add_image(c),
        lambda c: services.campaign_image_remove(image=c.images.get()),
        lambda c: CampaignTarget.objects.create(
            campaign=c, destination="n8n", object_id=N8nWorkflow.objects.create(workspace=c.workspace, name="W", template_key="t", n8n_id="1").pk
        ),
    ],
    ids=["caption", "hashtags", "first comment", "brief", "image added", "image removed", "target added"],
)
def test_it_needs_a_new_approval_after_any_change_to_the_content(campaign, alice_membership, change):
    approval.campaign_approve(campaign=campaign, by=alice_membership)
    change(campaign)
    campaign.refresh_from_db()

    assert approval.approval_refusal(campaign) == approval.CHANGED


def test_it_keeps_the_approval_through_a_rename(campaign, alice_membership):
    approval.campaign_approve(campaign=campaign, by=alice_membership)
    services.campaign_update(campaign=campaign, by=None, name="Spring launch")

    assert approval.approval_refusal(campaign) == ""


def test_it_cancels_a_queued_run_whose_content_changed_before_it_started(campaign, alice_membership):
    approval.campaign_approve(campaign=campaign, by=alice_membership)
    execution = executions.execution_create(campaign=campaign)
    services.campaign_update(campaign=campaign, by=None, caption="Not what was approved")

    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.error_category, execution.error_message) == ("cancelled", "validation", approval.CHANGED)
    assert not execution.steps.exclude(status="pending").exists()  # nothing was prepared or published


def test_it_lets_only_owners_and_admins_approve(campaign, bob, workspace):
    with pytest.raises(PermissionDenied):
        approval.campaign_approve(campaign=campaign, by=Membership.objects.get(user=bob, workspace=workspace))

    assert approval.approval_refusal(campaign) == approval.NOT_APPROVED


def test_it_emails_the_approvers_when_a_member_asks(campaign, bob, bob_client, alice, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = bob_client.post(f"/campaigns/{campaign.pk}/approval-request/")

    assert response.status_code == 302
    [mail] = mailoutbox
    assert mail.to == ["alice@example.com"]
    assert mail.subject == f"Approve “{campaign.name}” in Alice Co"
    assert "bob@example.com asked you to approve" in mail.body
    assert f"/campaigns/{campaign.pk}/" in mail.body
    campaign.refresh_from_db()
    assert campaign.approval_requested_by == bob


def test_it_emails_the_approvers_once_per_request(campaign, alice, bob, bob_client, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        bob_client.post(f"/campaigns/{campaign.pk}/approval-request/")
        response = bob_client.post(f"/campaigns/{campaign.pk}/approval-request/", follow=True)

    assert "Approval was already asked for" in response.content.decode()
    assert len(mailoutbox) == 1


def test_it_shows_a_member_how_to_ask_and_an_owner_how_to_approve(campaign, bob_client, alice, client):
    page = bob_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert approval.NOT_APPROVED in page
    assert "Ask for approval" in page and ">Approve<" not in page

    client.force_login(alice)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert ">Approve</button>" in page


def test_it_approves_from_the_page_and_says_who_did(campaign, alice_client):
    response = alice_client.post(f"/campaigns/{campaign.pk}/approve/", follow=True)

    page = response.content.decode()
    assert "Approved: the campaign publishes as it is now." in page
    assert "by alice@example.com" in page
    campaign.refresh_from_db()
    assert campaign.approval_requested_at is None


def test_it_refuses_a_member_who_tries_to_approve_from_the_page(campaign, bob_client):
    response = bob_client.post(f"/campaigns/{campaign.pk}/approve/", follow=True)

    assert "Only owners and admins can approve campaigns." in response.content.decode()
    assert approval.approval_refusal(campaign) == approval.NOT_APPROVED


def test_it_answers_404_for_another_workspaces_campaign(campaign, charlie_client):
    assert charlie_client.post(f"/campaigns/{campaign.pk}/approve/").status_code == 404
    assert charlie_client.post(f"/campaigns/{campaign.pk}/approval-request/").status_code == 404


def test_it_lists_what_waits_for_approval_on_an_owners_dashboard(campaign, bob_client, alice, client):
    bob_client.post(f"/campaigns/{campaign.pk}/approval-request/")

    assert "Waiting for your approval" not in bob_client.get("/").content.decode()
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "Waiting for your approval" in page and campaign.name in page


def test_it_refuses_the_api_run_with_a_json_reason_and_approves_through_the_api(campaign, alice):
    _, raw = api_token_create(workspace=campaign.workspace, user=alice, name="tests")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    refused = api.post(f"/api/v1/campaigns/{campaign.pk}/run/", content_type="application/json")
    assert refused.status_code == 400
    assert approval.NOT_APPROVED in json.dumps(refused.json(), ensure_ascii=False)

    assert api.post(f"/api/v1/campaigns/{campaign.pk}/approve/", content_type="application/json").status_code == 200
    assert api.post(f"/api/v1/campaigns/{campaign.pk}/run/", content_type="application/json").status_code == 202


def test_it_answers_403_to_a_members_api_approval(campaign, bob):
    _, raw = api_token_create(workspace=campaign.workspace, user=bob, name="tests")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
        f"/api/v1/campaigns/{campaign.pk}/approve/", content_type="application/json"
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "Only owners and admins can approve campaigns."


def test_it_turns_approval_on_from_the_workspace_settings(alice_client, alice_workspace):
    response = alice_client.post(
        "/workspace/settings/", {"name": "Alice Co", "timezone": "UTC", "require_approval": "on"}
    )

    assert response.status_code == 302
    alice_workspace.refresh_from_db()
    assert alice_workspace.require_approval


def test_it_notes_the_missing_approval_in_a_trigger_that_fires(campaign):
    from triggers.models import Trigger
    from triggers.services import trigger_fire_manual

    trigger = Trigger.objects.create(workspace=campaign.workspace, name="Launch", kind="manual")
    trigger.campaigns.add(campaign)
    event = trigger_fire_manual(trigger=trigger, by=None)

    assert not event.fired
    assert approval.NOT_APPROVED in event.note


def test_it_sends_the_note_of_requested_changes_to_the_member_who_asked(
    campaign, alice, alice_client, bob, bob_client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        bob_client.post(f"/campaigns/{campaign.pk}/approval-request/")
        response = alice_client.post(
            f"/campaigns/{campaign.pk}/request-changes/", {"note": "Shorter caption, please.\nAnd a brighter image."},
            follow=True,
        )

    assert "Changes asked for" in response.content.decode()
    to_bob = mailoutbox[-1]
    assert to_bob.to == ["bob@example.com"]
    assert to_bob.subject == f"Changes asked for on “{campaign.name}”"
    assert "Shorter caption, please.\nAnd a brighter image." in to_bob.body
    page = bob_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "alice@example.com asked for changes" in page and "Ask for approval" in page
    assert approval.approval_refusal(campaign) == approval.NOT_APPROVED


def test_it_clears_the_requested_changes_when_the_member_asks_again(campaign, alice_membership, bob_client):
    bob_client.post(f"/campaigns/{campaign.pk}/approval-request/")
    approval.campaign_changes_request(campaign=campaign, by=alice_membership, note="Fix the typo")

    bob_client.post(f"/campaigns/{campaign.pk}/approval-request/")

    campaign.refresh_from_db()
    assert (campaign.changes_requested_note, campaign.approval_requested_at is not None) == ("", True)


@pytest.mark.parametrize(("note", "message"), [("  ", "Say what should change."), ("x" * 1001, "Keep it under 1,000 characters")])
def test_it_refuses_a_request_for_changes_without_a_usable_note(campaign, alice_membership, note, message):
    with pytest.raises(ValidationError, match=message):
        approval.campaign_changes_request(campaign=campaign, by=alice_membership, note=note)


def test_it_lets_only_owners_and_admins_request_changes(campaign, bob_client):
    response = bob_client.post(f"/campaigns/{campaign.pk}/request-changes/", {"note": "No"}, follow=True)

    assert "Only owners and admins can approve campaigns." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.changes_requested_at is None


def test_it_says_what_is_missing_from_an_empty_request_for_changes(campaign, alice_client):
    response = alice_client.post(f"/campaigns/{campaign.pk}/request-changes/", {"note": ""}, follow=True)

    assert "Say what should change." in response.content.decode()


CHANGES = [
    lambda c: services.campaign_update(campaign=c, by=None, caption="Summer is here"),
    lambda c: add_image(c),
    lambda c: CampaignTarget.objects.create(
        campaign=c, destination="n8n", object_id=N8nWorkflow.objects.create(workspace=c.workspace, name="W", template_key="t", n8n_id="1").pk
    ),
]


def test_it_shows_an_approved_campaign_as_approved_in_the_list(campaign, alice_membership):
    approval.campaign_approve(campaign=campaign, by=alice_membership)

    assert approval.approval_badges(workspace=campaign.workspace, campaigns=[campaign]) == {campaign.pk: ("Approved", "success")}


@pytest.mark.parametrize("change", CHANGES, ids=["caption", "image added", "target added"])
def test_it_shows_a_campaign_changed_since_its_approval_in_the_list(campaign, alice_membership, change):
    approval.campaign_approve(campaign=campaign, by=alice_membership)
    change(campaign)

    assert approval.approval_badges(workspace=campaign.workspace, campaigns=[campaign]) == {
        campaign.pk: ("Changed since approval", "warning")
    }


def test_it_shows_every_campaigns_approval_in_the_list_in_three_more_queries(
    workspace, alice, alice_membership, bob, alice_client, django_assert_max_num_queries
):
    approved, asked, answered, never = (CampaignFactory(workspace=workspace, name=name) for name in ("Approved one", "Asked", "Answered", "Never"))
    for campaign in (approved, asked, answered):
        add_image(campaign)
    approval.campaign_approve(campaign=approved, by=alice_membership)
    approval.campaign_approval_request(campaign=asked, by=bob)
    approval.campaign_approval_request(campaign=answered, by=bob)
    approval.campaign_changes_request(campaign=answered, by=alice_membership, note="Brighter")
    alice_client.force_login(alice)
    alice_client.get("/")  # the first request stores the current workspace in the session

    with django_assert_max_num_queries(7):
        page = alice_client.get("/campaigns/")

    badges = {campaign.name: label for campaign in page.context["page"].campaigns for label, _ in [page.context["approval_badges"][campaign.pk]]}
    assert badges == {"Approved one": "Approved", "Asked": "Awaiting approval", "Answered": "Changes requested", "Never": "Not approved"}
    assert '<span class="badge badge-info">Awaiting approval</span>' in page.text


def test_it_shows_no_approval_in_the_list_where_none_is_required(alice_workspace, alice_client):
    CampaignFactory(workspace=alice_workspace, name="Free to publish")

    page = alice_client.get("/campaigns/")

    assert page.context["approval_badges"] == {}
    assert "Not approved" not in page.text


def test_it_asks_for_approval_of_the_ticked_campaigns_in_one_email(
    workspace, alice, bob, bob_client, mailoutbox, django_capture_on_commit_callbacks
):
    posts = [CampaignFactory(workspace=workspace, name=name) for name in ("Spring", "Summer", "Autumn")]
    for post in posts:
        add_image(post)
    approval.campaign_approve(campaign=posts[2], by=Membership.objects.get(user=alice, workspace=workspace))

    with django_capture_on_commit_callbacks(execute=True):
        page = bob_client.post("/campaigns/bulk/", {"action": "request_approval", "ids": [post.pk for post in posts]}, follow=True)

    assert "2 campaigns sent for approval." in page.text
    assert "“Autumn” was not sent for approval: This campaign is already approved as it is." in page.text
    assert [(mail.to, mail.subject) for mail in mailoutbox] == [(["alice@example.com"], "Approve 2 campaigns in Alice Co")]
    assert "- Spring\n" in mailoutbox[0].body and "- Summer\n" in mailoutbox[0].body and "Autumn" not in mailoutbox[0].body


def test_it_approves_the_ticked_campaigns_for_an_owner_only(workspace, alice, bob, bob_client, client):
    posts = [CampaignFactory(workspace=workspace, name=name) for name in ("Spring", "Summer")]
    for post in posts:
        add_image(post)

    refused = bob_client.post("/campaigns/bulk/", {"action": "approve", "ids": [post.pk for post in posts]}, follow=True)
    client.force_login(alice)
    done = client.post("/campaigns/bulk/", {"action": "approve", "ids": [post.pk for post in posts]}, follow=True)

    assert "Only owners and admins can approve campaigns." in refused.text
    assert "2 campaigns approved." in done.text
    for post in posts:
        post.refresh_from_db()
    assert [approval.approval_refusal(post) for post in posts] == ["", ""]


def test_it_offers_the_approval_actions_only_where_approval_is_required(alice_workspace, alice_client):
    CampaignFactory(workspace=alice_workspace)

    without = alice_client.get("/campaigns/").text
    alice_workspace.require_approval = True
    alice_workspace.save()
    with_approval = alice_client.get("/campaigns/").text

    assert 'value="approve"' not in without and 'value="request_approval"' not in without
    assert 'value="approve"' in with_approval and 'value="request_approval"' in with_approval
