"""Alt text: each image's description for screen readers, written on the edit page or through the
API, kept through approval and duplication, and published with the image."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from campaigns import approval, services
from campaigns.captions import MAX_ALT_TEXT_CHARS
from marketing.models import Membership
from marketing.services import api_token_create
from tests.factories import CampaignFactory, add_image


@pytest.fixture
def campaign(alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, caption="Linen shirts")
    add_image(campaign)
    add_image(campaign)
    return campaign


@pytest.fixture
def api(alice, alice_workspace):
    _, raw = api_token_create(workspace=alice_workspace, user=alice, name="tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _patch(client, path, body):
    response = client.patch(path, data=json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def _edit_data(campaign, **alt_texts) -> dict:
    data = {"name": campaign.name, "brief": campaign.brief, "caption": campaign.caption, "hashtags": "", "first_comment": "", "fit": "none"}
    return {**data, **alt_texts}


def test_it_sets_alt_text_by_image_on_one_line(campaign):
    first, second = campaign.images.all()

    changed = services.campaign_images_describe(
        campaign=campaign, alt_texts={first.pk: "  A linen shirt\non a sunny beach ", second.pk: ""}
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert changed == 1
    assert (first.alt_text, second.alt_text) == ("A linen shirt on a sunny beach", "")


@pytest.mark.parametrize(
    "text, message",
    [("x" * (MAX_ALT_TEXT_CHARS + 1), f"at most {MAX_ALT_TEXT_CHARS:,}"), ("nul\x00byte", "NUL character")],
)
def test_it_refuses_an_alt_text_too_long_or_with_a_nul_and_keeps_nothing(campaign, text, message):
    first, second = campaign.images.all()

    with pytest.raises(ValidationError) as refused:
        services.campaign_images_describe(campaign=campaign, alt_texts={first.pk: "Fine", second.pk: text})

    assert "Image 2:" in refused.value.messages[0] and message in refused.value.messages[0]
    assert list(campaign.images.values_list("alt_text", flat=True)) == ["", ""]


def test_it_refuses_an_image_of_another_campaign(campaign, alice_workspace):
    other = CampaignFactory(workspace=alice_workspace)
    foreign = add_image(other)

    with pytest.raises(ValidationError, match="no longer in the campaign"):
        services.campaign_images_describe(campaign=campaign, alt_texts={foreign.pk: "Not mine"})

    foreign.refresh_from_db()
    assert foreign.alt_text == ""


def test_it_shows_a_field_per_image_on_the_edit_page_and_saves_them_with_the_campaign(alice_client, campaign):
    first, second = campaign.images.all()
    page = alice_client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert f'name="alt_text_{first.pk}"' in page and f'name="alt_text_{second.pk}"' in page
    assert "Alt text, image 2" in page

    response = alice_client.post(
        f"/campaigns/{campaign.pk}/edit/",
        _edit_data(campaign, **{f"alt_text_{first.pk}": "Folded shirts", f"alt_text_{second.pk}": "A shirt on sand"}),
    )

    assert response.status_code == 302
    assert list(campaign.images.values_list("alt_text", flat=True)) == ["Folded shirts", "A shirt on sand"]
    detail = alice_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'alt="Folded shirts (1 of 2)"' in detail and "Alt text: A shirt on sand" in detail


def test_it_shows_the_form_again_with_the_reason_when_an_alt_text_is_too_long(alice_client, campaign):
    first, second = campaign.images.all()

    response = alice_client.post(
        f"/campaigns/{campaign.pk}/edit/",
        _edit_data(
            campaign,
            caption="Changed",
            **{f"alt_text_{first.pk}": "Kept in the box", f"alt_text_{second.pk}": "y" * (MAX_ALT_TEXT_CHARS + 1)},
        ),
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert f"at most {MAX_ALT_TEXT_CHARS} characters" in page and "Kept in the box" in page
    campaign.refresh_from_db()
    assert campaign.caption == "Linen shirts"
    assert list(campaign.images.values_list("alt_text", flat=True)) == ["", ""]


def test_it_answers_404_for_another_workspaces_campaign_edit(charlie_client, campaign):
    first = campaign.images.first()

    response = charlie_client.post(f"/campaigns/{campaign.pk}/edit/", _edit_data(campaign, **{f"alt_text_{first.pk}": "Mine now"}))

    assert response.status_code == 404
    first.refresh_from_db()
    assert first.alt_text == ""


def test_it_reads_and_writes_alt_texts_in_carousel_order_through_the_api(api, campaign):
    status, body = _patch(api, f"/api/v1/campaigns/{campaign.pk}/", {"image_alt_texts": ["Folded shirts", ""]})

    assert status == 200 and body["image_alt_texts"] == ["Folded shirts", ""]
    assert len(body["images"]) == 2
    listed = api.get("/api/v1/campaigns/").json()["results"][0]
    assert listed["image_alt_texts"] == ["Folded shirts", ""]


@pytest.mark.parametrize(
    "value, message",
    [(["Only one"], "The campaign has 2 images"), (["ok", "z" * (MAX_ALT_TEXT_CHARS + 1)], "no more than")],
)
def test_it_answers_400_to_alt_texts_that_do_not_fit_and_changes_nothing(api, campaign, value, message):
    status, body = _patch(api, f"/api/v1/campaigns/{campaign.pk}/", {"caption": "Changed", "image_alt_texts": value})

    assert status == 400 and message in json.dumps(body["errors"]["image_alt_texts"])
    campaign.refresh_from_db()
    assert campaign.caption == "Linen shirts"
    assert list(campaign.images.values_list("alt_text", flat=True)) == ["", ""]


def test_it_refuses_alt_texts_for_a_new_campaign_that_has_no_image(api):
    response = api.post("/api/v1/campaigns/", data=json.dumps({"name": "New", "image_alt_texts": ["A"]}), content_type="application/json")

    assert response.status_code == 400 and "no images yet" in json.dumps(response.json()["errors"]["image_alt_texts"])


def test_it_needs_a_new_approval_after_the_alt_text_changes(campaign, alice, alice_workspace):
    alice_workspace.require_approval = True
    alice_workspace.save()
    approval.campaign_approve(campaign=campaign, by=Membership.objects.get(user=alice, workspace=alice_workspace))
    assert approval.approval_refusal(campaign) == ""

    services.campaign_images_describe(campaign=campaign, alt_texts={campaign.images.first().pk: "Folded shirts"})

    assert approval.approval_refusal(campaign) == approval.CHANGED
    badges = approval.approval_badges(workspace=alice_workspace, campaigns=[campaign])
    assert badges[campaign.pk][0] == "Changed since approval"


def test_it_keeps_fingerprints_of_images_without_alt_text_as_they_were(campaign):
    # Approvals given before images had alt text must still hold: the digest of an image with
    # none is the one made before the field existed.
    rows = [(image.token, image.file.name) for image in campaign.images.all()]
    texts = {name: getattr(campaign, name) for name in approval.TEXT_FIELDS}
    before = approval.hashlib.sha256(
        json.dumps({**texts, "images": [[str(token), name] for token, name in rows], "targets": []}, sort_keys=True).encode()
    ).hexdigest()

    assert approval.content_fingerprint(campaign) == before


def test_it_copies_alt_text_when_a_campaign_is_duplicated(campaign):
    first = campaign.images.first()
    services.campaign_images_describe(campaign=campaign, alt_texts={first.pk: "Folded shirts"})

    copy = services.campaign_duplicate(campaign=campaign, by=None)

    assert list(copy.images.values_list("alt_text", flat=True)) == ["Folded shirts", ""]


def test_it_answers_400_to_an_alt_text_that_is_not_unicode_text(api, campaign):
    body = '{"image_alt_texts": ["\\ud800", "fine"]}'
    response = api.patch(f"/api/v1/campaigns/{campaign.pk}/", data=body, content_type="application/json")

    assert response.status_code == 400
    assert list(campaign.images.values_list("alt_text", flat=True)) == ["", ""]
