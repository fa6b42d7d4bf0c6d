"""The story format: one image, as tall as 9:16, chosen on the form or through the API; the
rules hold whichever way the campaign changes, and approval covers the format."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from campaigns import approval, images, services
from campaigns.models import Campaign, ImageSource
from marketing.models import Membership
from marketing.services import api_token_create
from tests.factories import CampaignFactory, add_image, jpeg_bytes

TALL = (1080, 1920)  # 9:16


def _create(client, **fields):
    data = {"name": "Launch", "format": "story", "brief": "", "caption": "Hello", "hashtags": "", "first_comment": "", "fit": "none"}
    return client.post("/campaigns/new/", {**data, **fields})


def _tall_upload(name="tall.jpg"):
    return SimpleUploadedFile(name, jpeg_bytes(TALL), content_type="image/jpeg")


@pytest.fixture
def story(alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, format="story")
    add_image(campaign, size=TALL)
    return campaign


@pytest.fixture
def api(alice, alice_workspace):
    _, raw = api_token_create(workspace=alice_workspace, user=alice, name="tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_it_creates_a_story_with_a_full_screen_image_a_feed_post_would_refuse(alice_client, alice_workspace):
    response = _create(alice_client, images=[_tall_upload()])

    campaign = Campaign.objects.get(workspace=alice_workspace)
    assert response.status_code == 302
    assert campaign.format == "story"
    assert (campaign.images.get().width, campaign.images.get().height) == TALL
    detail = alice_client.get(campaign.get_absolute_url()).content.decode()
    assert "Preview of the story on Instagram" in detail and ">Story</span>" in detail

    refused = _create(alice_client, name="As a post", format="post", images=[_tall_upload()])
    assert "Instagram accepts feed images from 4:5" in refused.content.decode()
    assert not Campaign.objects.filter(name="As a post").exists()


def test_it_refuses_a_second_image_for_a_story_on_the_form_and_in_the_service(alice_client, story):
    response = alice_client.post(
        f"/campaigns/{story.pk}/edit/",
        {"name": story.name, "format": "story", "caption": "", "fit": "none", "images": [_tall_upload("second.jpg")]},
    )

    assert "A story holds one image" in response.content.decode()
    with pytest.raises(ValidationError, match="A story holds one image"):
        add_image(story)
    with pytest.raises(ValidationError, match="A story holds one image"):
        services.image_generation_request(campaign=story, by=None)
    assert story.images.count() == 1


def test_it_keeps_the_format_when_a_form_leaves_it_out(alice_client, story):
    response = alice_client.post(f"/campaigns/{story.pk}/edit/", {"name": "Renamed", "caption": "", "fit": "none"})

    story.refresh_from_db()
    assert response.status_code == 302
    assert (story.name, story.format) == ("Renamed", "story")


def test_it_refuses_to_make_a_carousel_a_story(alice_workspace):
    carousel = CampaignFactory(workspace=alice_workspace)
    add_image(carousel)
    add_image(carousel)

    with pytest.raises(ValidationError) as refused:
        services.campaign_update(campaign=carousel, by=None, format="story")

    assert "A story holds one image and this campaign has 2" in refused.value.message_dict["format"][0]
    carousel.refresh_from_db()
    assert carousel.format == "post"


def test_it_refuses_to_make_a_story_with_a_full_screen_image_a_feed_post(story):
    with pytest.raises(ValidationError) as refused:
        services.campaign_update(campaign=story, by=None, format="post")

    assert "Image 1 is 1080×1920, taller than a feed post takes" in refused.value.message_dict["format"][0]
    story.refresh_from_db()
    assert story.format == "story"


def test_it_reads_and_changes_the_format_through_the_api(api, alice_workspace, story):
    post = CampaignFactory(workspace=alice_workspace)
    add_image(post)

    response = api.patch(f"/api/v1/campaigns/{post.pk}/", data=json.dumps({"format": "story"}), content_type="application/json")

    assert response.status_code == 200 and response.json()["format"] == "story"
    refused = api.patch(f"/api/v1/campaigns/{story.pk}/", data=json.dumps({"format": "post"}), content_type="application/json")
    assert refused.status_code == 400 and "taller than a feed post takes" in refused.json()["errors"]["format"][0]
    unknown = api.patch(f"/api/v1/campaigns/{post.pk}/", data=json.dumps({"format": "reel"}), content_type="application/json")
    assert unknown.status_code == 400 and "format" in unknown.json()["errors"]


def test_it_needs_a_new_approval_after_the_format_changes(alice, alice_workspace):
    alice_workspace.require_approval = True
    alice_workspace.save()
    campaign = CampaignFactory(workspace=alice_workspace)
    add_image(campaign)
    approval.campaign_approve(campaign=campaign, by=Membership.objects.get(user=alice, workspace=alice_workspace))

    services.campaign_update(campaign=campaign, by=None, format="story")

    assert approval.approval_refusal(campaign) == approval.CHANGED


def test_it_copies_the_format_when_a_story_is_duplicated(story):
    copy = services.campaign_duplicate(campaign=story, by=None)

    assert copy.format == "story" and copy.images.count() == 1


def test_it_lets_a_story_with_only_a_placeholder_take_its_real_image(alice_client, alice_workspace):
    story = CampaignFactory(workspace=alice_workspace, format="story")
    placeholder = services.campaign_image_add(
        campaign=story, prepared=images.draw_placeholder(title="Soon", subtitle=""), source=ImageSource.PLACEHOLDER
    )

    real = add_image(story, size=TALL)  # a placeholder never publishes, so it takes no room

    with pytest.raises(ValidationError, match="A story holds one image"):
        add_image(story)
    page = alice_client.get(story.get_absolute_url()).content.decode()
    preview = page.split("Preview of the story on Instagram")[1].split("</article>")[0]
    assert f"/images/{real.pk}/" in preview and f"/images/{placeholder.pk}/" not in preview
