"""The campaign list's thumbnails: small squares made with the image, cached by the browser, gone with it."""

import io

import pytest
from PIL import Image

from campaigns import images, services
from campaigns.models import CampaignImage
from tests.factories import CampaignFactory, add_image, jpeg_bytes


@pytest.fixture
def campaign(alice_workspace):
    return CampaignFactory(workspace=alice_workspace, name="Linen")


def _size(content: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "JPEG"
        return image.size


def test_it_crops_the_centre_into_a_small_square():
    assert _size(images.thumbnail(jpeg_bytes((1080, 1350)))) == (images.THUMBNAIL_PX, images.THUMBNAIL_PX)
    assert len(images.thumbnail(jpeg_bytes((1440, 754)))) < 10_000


def test_it_lists_the_thumbnail_which_the_browser_may_keep(alice_client, campaign):
    image = add_image(campaign, size=(1080, 1350))
    thumbnail_url = f"/campaigns/{campaign.pk}/images/{image.pk}/thumbnail/"
    assert f'src="{thumbnail_url}"' in alice_client.get("/campaigns/").content.decode()

    response = alice_client.get(thumbnail_url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert _size(b"".join(response.streaming_content)) == (96, 96)
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    full = alice_client.get(f"/campaigns/{campaign.pk}/images/{image.pk}/")
    assert _size(b"".join(full.streaming_content)) == (1080, 1350)
    assert full["Cache-Control"] == "private, max-age=31536000, immutable"


def test_it_makes_the_thumbnail_of_an_older_image_on_first_view(alice_client, campaign):
    image = add_image(campaign)
    image.thumbnail.delete(save=False)
    CampaignImage.objects.filter(pk=image.pk).update(thumbnail="")

    response = alice_client.get(f"/campaigns/{campaign.pk}/images/{image.pk}/thumbnail/")
    assert _size(b"".join(response.streaming_content)) == (96, 96)
    image.refresh_from_db()
    assert image.thumbnail and image.thumbnail.storage.exists(image.thumbnail.name)


def test_it_keeps_one_thumbnail_when_two_first_views_make_one_at_once(campaign):
    image = add_image(campaign)
    image.thumbnail.delete(save=False)
    CampaignImage.objects.filter(pk=image.pk).update(thumbnail="")
    first_view, second_view = CampaignImage.objects.get(pk=image.pk), CampaignImage.objects.get(pk=image.pk)
    storage = image.thumbnail.storage

    kept = services.campaign_image_thumbnail(image=first_view).thumbnail.name
    # The second view read the row before the first stored its thumbnail.
    assert services.campaign_image_thumbnail(image=second_view).thumbnail.name == kept

    assert CampaignImage.objects.get(pk=image.pk).thumbnail.name == kept
    folder = kept.rsplit("/", 1)[0]
    assert [name for name in storage.listdir(folder)[1] if "thumb" in name] == [kept.rsplit("/", 1)[1]]


def test_it_answers_404_when_the_storage_lost_an_images_file(alice_client, campaign, caplog):
    image = add_image(campaign)
    image.file.storage.delete(image.file.name)
    image.thumbnail.storage.delete(image.thumbnail.name)
    for url in (
        f"/campaigns/{campaign.pk}/images/{image.pk}/",
        f"/campaigns/{campaign.pk}/images/{image.pk}/thumbnail/",
        f"/media/p/{image.token}.jpg",
    ):
        assert alice_client.get(url).status_code == 404
    assert "campaign image missing from the media storage" in caplog.text

    CampaignImage.objects.filter(pk=image.pk).update(thumbnail="")
    assert alice_client.get(f"/campaigns/{campaign.pk}/images/{image.pk}/thumbnail/").status_code == 404


def test_it_answers_404_for_another_workspaces_thumbnail(charlie_client, campaign):
    image = add_image(campaign)
    assert charlie_client.get(f"/campaigns/{campaign.pk}/images/{image.pk}/thumbnail/").status_code == 404


def test_it_removes_the_thumbnail_with_its_image_or_campaign(campaign, django_capture_on_commit_callbacks):
    first, second = add_image(campaign), add_image(campaign)
    storage = first.file.storage
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_image_remove(image=first)
    assert not storage.exists(first.thumbnail.name) and not storage.exists(first.file.name)
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_delete(campaign=campaign, by=None)
    assert not storage.exists(second.thumbnail.name) and not storage.exists(second.file.name)


def test_it_gives_a_duplicated_campaign_thumbnails_of_its_own(campaign):
    image = add_image(campaign)
    copy = services.campaign_duplicate(campaign=campaign, by=None).images.get()
    assert copy.thumbnail.name and copy.thumbnail.name != image.thumbnail.name
