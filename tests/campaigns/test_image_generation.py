"""AI images end to end: the page, the task, the openai SDK against a local fake OpenAI server."""

import io

import pytest
from PIL import Image

from campaigns.models import ImageGeneration
from tests.factories import CampaignFactory


@pytest.fixture
def campaign(alice_workspace):
    return CampaignFactory(workspace=alice_workspace, name="Linen", brief="Shirts on a beach")


@pytest.fixture
def generate(alice_client, django_capture_on_commit_callbacks):
    def post(campaign):
        with django_capture_on_commit_callbacks(execute=True):
            return alice_client.post(f"/campaigns/{campaign.pk}/generate/", HTTP_HX_REQUEST="true")

    return post


def _stored(image) -> Image.Image:
    with image.file.open("rb") as stored:
        return Image.open(io.BytesIO(stored.read()))


def test_it_stores_the_generated_image_as_jpeg(generate, campaign, fake_openai, settings):
    settings.OPENAI_IMAGE_MODEL = "gpt-image-test"
    generate(campaign)

    generation = ImageGeneration.objects.get()
    assert generation.status == "succeeded"
    image = campaign.images.get()
    assert (image.source, image.model) == ("ai", "gpt-image-test")
    assert "Shirts on a beach" in image.prompt
    assert _stored(image).format == "JPEG"
    sent = fake_openai.requests[0].json
    assert sent["model"] == "gpt-image-test"
    assert "Shirts on a beach" in sent["prompt"]


def test_it_falls_back_to_a_placeholder_on_a_500(generate, campaign, fake_openai):
    fake_openai.fail(500)
    generate(campaign)

    generation = ImageGeneration.objects.get()
    assert generation.status == "fell_back"
    assert generation.fallback_reason.endswith("a placeholder was drawn instead.")
    image = campaign.images.get()
    assert image.source == "placeholder"
    assert image.fallback_reason == generation.fallback_reason
    assert _stored(image).size == (1080, 1080)


def test_it_falls_back_to_a_placeholder_on_a_timeout(generate, campaign, fake_openai):
    fake_openai.hang()
    generate(campaign)
    generation = ImageGeneration.objects.get()
    assert generation.status == "fell_back"
    assert "did not answer in time" in generation.fallback_reason


def test_it_falls_back_at_once_without_a_key(generate, campaign, fake_openai, settings):
    settings.OPENAI_API_KEY = ""
    generate(campaign)
    generation = ImageGeneration.objects.get()
    assert generation.status == "fell_back"
    assert "OPENAI_API_KEY" in generation.fallback_reason
    assert fake_openai.requests == []


def test_it_falls_back_while_the_circuit_is_open(generate, campaign, fake_openai, settings):
    settings.OUTBOUND_HTTP = {**settings.OUTBOUND_HTTP, "breaker_fail_max": 1}
    fake_openai.fail(500, times=5)
    generate(campaign)
    generate(campaign)

    latest = ImageGeneration.objects.order_by("-id").first()
    assert latest.status == "fell_back"
    assert "circuit" in latest.fallback_reason.lower()
    assert len(fake_openai.requests) == 1


def test_it_shows_a_moderation_refusal_and_draws_nothing(alice_client, generate, campaign, fake_openai):
    fake_openai.refuse_moderation()
    generate(campaign)

    generation = ImageGeneration.objects.get()
    assert generation.status == "refused"
    assert not campaign.images.exists()
    polled = alice_client.get(f"/campaigns/{campaign.pk}/generations/{generation.pk}/", HTTP_HX_REQUEST="true")
    assert b"OpenAI refused the brief" in polled.content
    assert b"refused the prompt" not in polled.content
    assert generation.fallback_reason.count("refused") == 1
    assert len(fake_openai.requests) == 1


def test_it_shows_progress_and_then_the_result_without_a_reload(alice_client, campaign):
    generation = ImageGeneration.objects.create(campaign=campaign, prompt="p", model="m")
    pending = alice_client.get(f"/campaigns/{campaign.pk}/generations/{generation.pk}/", HTTP_HX_REQUEST="true")
    assert b"Generating an image" in pending.content
    assert b"hx-trigger" in pending.content

    from campaigns.services import image_generation_run

    image_generation_run(generation_id=generation.pk)
    done = alice_client.get(f"/campaigns/{campaign.pk}/generations/{generation.pk}/", HTTP_HX_REQUEST="true")
    assert b"hx-trigger" not in done.content
    assert done["HX-Trigger"] == "campaign-images-changed"
    gallery = alice_client.get(f"/campaigns/{campaign.pk}/gallery/", HTTP_HX_REQUEST="true").content.decode()
    assert "Placeholder" in gallery
    # The post preview beside it is swapped too, out of band, now with the image.
    preview = gallery.split('<div id="post-preview" hx-swap-oob="true">', 1)[1]
    image = campaign.images.get()
    assert f'src="/campaigns/{campaign.pk}/images/{image.pk}/"' in preview
    assert "No image yet" not in preview
