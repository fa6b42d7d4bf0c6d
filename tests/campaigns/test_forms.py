import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.captions import render_caption
from campaigns.models import Campaign
from tests.factories import jpeg_bytes


def _post(client, **fields):
    data = {"name": "Launch", "brief": "", "caption": "Hello", "hashtags": "", "first_comment": "", "fit": "none"}
    data.update(fields)
    return client.post("/campaigns/new/", data)


def test_it_creates_a_campaign(alice_client, alice, alice_workspace):
    response = _post(alice_client, hashtags="summer, #Sale sale")
    campaign = Campaign.objects.get(workspace=alice_workspace)
    assert response.url == campaign.get_absolute_url()
    assert campaign.hashtags == "#summer #Sale"
    assert campaign.created_by == alice


def test_it_refuses_a_caption_over_2200_characters(alice_client):
    response = _post(alice_client, caption="a" * 2201)
    assert response.status_code == 200
    assert "Instagram allows 2,200" in response.content.decode()
    assert not Campaign.objects.exists()


def test_it_counts_the_hashtags_into_the_caption_length(alice_client):
    response = _post(alice_client, caption="a" * 2190, hashtags="#summer #winter")
    assert "Instagram allows 2,200" in response.content.decode()


def test_it_refuses_more_than_30_hashtags(alice_client):
    response = _post(alice_client, hashtags=" ".join(f"#tag{i}" for i in range(31)))
    assert "31 hashtags" in response.content.decode()
    assert not Campaign.objects.exists()


def test_it_accepts_exactly_30_hashtags(alice_client):
    _post(alice_client, hashtags=" ".join(f"#tag{i}" for i in range(30)))
    assert Campaign.objects.count() == 1


def test_it_refuses_more_than_20_mentions(alice_client):
    response = _post(alice_client, caption=" ".join(f"@friend{i}" for i in range(21)))
    assert "21 @mentions" in response.content.decode()


def test_it_keeps_what_was_typed_when_the_form_has_errors(alice_client):
    response = _post(alice_client, name="Keep me", caption="b" * 2300)
    assert b'value="Keep me"' in response.content


def test_it_attaches_uploaded_images_as_jpeg(alice_client, alice_workspace):
    png = SimpleUploadedFile("photo.png", _png(), content_type="image/png")
    _post(alice_client, images=[png])
    image = Campaign.objects.get().images.get()
    with image.file.open("rb") as stored:
        assert stored.read(2) == b"\xff\xd8"


def test_it_refuses_a_text_file_named_jpg_in_the_form(alice_client):
    fake = SimpleUploadedFile("photo.jpg", b"not an image at all", content_type="image/jpeg")
    response = _post(alice_client, images=[fake])
    assert "photo.jpg: This file is not a JPEG, PNG or WebP image." in response.content.decode()
    assert not Campaign.objects.exists()


def test_it_offers_crop_or_pad_for_a_tall_image(alice_client):
    tall = SimpleUploadedFile("tall.jpg", jpeg_bytes((900, 1600)), content_type="image/jpeg")
    response = _post(alice_client, images=[tall])
    assert b"Crop to fit" in response.content
    assert response.context["form"].needs_fit
    assert not Campaign.objects.exists()


def test_it_crops_a_tall_image_when_asked(alice_client):
    tall = SimpleUploadedFile("tall.jpg", jpeg_bytes((900, 1600)), content_type="image/jpeg")
    _post(alice_client, images=[tall], fit="crop")
    image = Campaign.objects.get().images.get()
    assert 0.8 <= image.width / image.height <= 1.91


@pytest.mark.parametrize(("caption", "hashtags", "posted"), [("Hi", "#a", "Hi\n\n#a"), ("", "a b", "#a #b"), ("Hi", "", "Hi")])
def test_it_renders_the_caption_as_posted(caption, hashtags, posted):
    assert render_caption(caption=caption, hashtags=hashtags) == posted


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (1000, 1000), (10, 20, 30, 128)).save(buffer, "PNG")
    return buffer.getvalue()


def test_it_refuses_a_first_comment_over_instagrams_comment_limit(alice_client):
    response = _post(alice_client, first_comment="a" * 301)
    assert "301 characters; Instagram allows 300 in a comment" in response.content.decode()
    assert not Campaign.objects.exists()


def test_it_refuses_a_first_comment_with_five_hashtags(alice_client):
    response = _post(alice_client, first_comment="#a #b #c #d #e")
    assert "5 hashtags; Instagram allows 4 in a comment" in response.content.decode()


def test_it_counts_an_emoji_the_same_on_the_form_and_the_detail_page(alice_client, alice_workspace):
    caption = "Sun is out 🌞 " + "a" * 100
    counted = alice_client.post("/campaigns/caption-count/", {"caption": caption, "hashtags": "#sun"}).content.decode()
    _post(alice_client, caption=caption, hashtags="#sun")
    campaign = Campaign.objects.get(workspace=alice_workspace)
    detail = alice_client.get(campaign.get_absolute_url()).content.decode()
    edit = alice_client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    # 114 characters of caption with the emoji as two, a blank line and "#sun".
    assert "120 / 2,200 characters" in counted
    assert "120 / 2,200 characters" in detail
    assert "120 / 2,200 characters" in edit


def test_it_draws_the_previews_action_icons_instead_of_relying_on_an_emoji_font(alice_client, alice_workspace):
    _post(alice_client, caption="Linen, 30% off")
    detail = alice_client.get(Campaign.objects.get(workspace=alice_workspace).get_absolute_url()).content.decode()
    actions = detail.split('<div class="ig-actions" aria-hidden="true">', 1)[1].split("</div>", 1)[0]
    assert actions.count("<svg") == 3
    assert "💬" not in actions and "♡" not in actions
