"""Comments: the team's notes on a campaign."""

import pytest
from django.test import Client

from campaigns import services
from campaigns.models import CampaignComment
from tests.factories import CampaignFactory


@pytest.fixture
def campaign(alice_workspace):
    return CampaignFactory(workspace=alice_workspace, name="Spring sale")


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


def test_it_adds_a_comment_and_shows_it_with_its_author(campaign, alice_client):
    response = alice_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": "  Brighter image?\nAnd shorter.  "})

    assert response.status_code == 302 and response.url.endswith("#comments")
    comment = CampaignComment.objects.get()
    assert (comment.body, comment.author.email, comment.workspace_id) == ("Brighter image?\nAnd shorter.", "alice@example.com", campaign.workspace_id)
    page = alice_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert '<p class="pre-line">Brighter image?\nAnd shorter.</p>' in page


def test_it_refuses_an_empty_comment_with_a_message(campaign, alice_client):
    response = alice_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": "   "}, follow=True)

    assert "Write something first." in response.content.decode()
    assert not CampaignComment.objects.exists()


def test_it_lets_the_author_delete_a_comment_and_not_another_member(campaign, alice_client, bob, bob_client):
    bob_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": "Mine"})
    alice_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": "Alice's"})
    bobs, alices = CampaignComment.objects.order_by("id")

    response = bob_client.post(f"/campaigns/{campaign.pk}/comments/{alices.pk}/delete/", follow=True)
    assert "Only its author, an owner or an admin can delete a comment." in response.content.decode()
    bob_client.post(f"/campaigns/{campaign.pk}/comments/{bobs.pk}/delete/")

    assert list(CampaignComment.objects.values_list("body", flat=True)) == ["Alice's"]


def test_it_lets_an_owner_delete_any_comment(campaign, alice_client, bob_client):
    bob_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": "Off topic"})

    alice_client.post(f"/campaigns/{campaign.pk}/comments/{CampaignComment.objects.get().pk}/delete/")

    assert not CampaignComment.objects.exists()


def test_it_answers_404_for_another_workspaces_campaign_and_comments(campaign, alice, charlie_client):
    comment = services.comment_add(campaign=campaign, by=alice, body="Internal")

    assert charlie_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": "Hi"}).status_code == 404
    assert charlie_client.post(f"/campaigns/{campaign.pk}/comments/{comment.pk}/delete/").status_code == 404
    assert CampaignComment.objects.count() == 1


def test_it_answers_404_for_a_comment_of_another_campaign(campaign, alice_client, alice_workspace):
    other = CampaignFactory(workspace=alice_workspace)
    alice_client.post(f"/campaigns/{other.pk}/comments/", {"body": "On the other"})

    response = alice_client.post(f"/campaigns/{campaign.pk}/comments/{CampaignComment.objects.get().pk}/delete/")

    assert response.status_code == 404
    assert CampaignComment.objects.exists()


def test_it_reads_the_comments_in_a_bounded_number_of_queries(campaign, alice_client, django_assert_max_num_queries):
    for number in range(3):
        alice_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": f"Comment {number}"})
    with django_assert_max_num_queries(40) as captured:
        alice_client.get(f"/campaigns/{campaign.pk}/")
    few = len(captured)
    for number in range(10):
        alice_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": f"More {number}"})

    with django_assert_max_num_queries(few):
        alice_client.get(f"/campaigns/{campaign.pk}/")


def test_it_emails_a_comment_to_the_campaigns_people_but_not_its_author(
    alice_workspace, alice, bob, alice_client, bob_client, mailoutbox, django_capture_on_commit_callbacks
):
    campaign = CampaignFactory(workspace=alice_workspace, created_by=bob)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": "Brighter image, please."})
    [to_bob] = mailoutbox
    assert to_bob.to == ["bob@example.com"]
    assert to_bob.subject == f"alice commented on “{campaign.name}”"
    assert "Brighter image, please." in to_bob.body and f"/campaigns/{campaign.pk}/#comments" in to_bob.body

    with django_capture_on_commit_callbacks(execute=True):
        bob_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": "Done."})

    assert [mail.to for mail in mailoutbox[1:]] == [["alice@example.com"]]  # she commented before


def test_it_emails_no_one_who_turned_comment_emails_off(alice_workspace, alice, bob, alice_client, mailoutbox, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(workspace=alice_workspace, created_by=bob)
    bob_settings = Client()
    bob_settings.force_login(bob)
    bob_settings.post("/account/", {"name": "Bob", "timezone": "UTC"})  # the box unticked

    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/campaigns/{campaign.pk}/comments/", {"body": "Anyone?"})

    bob.refresh_from_db()
    assert bob.notify_comments is False
    assert mailoutbox == []
