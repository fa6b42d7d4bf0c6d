"""Charlie, in a workspace of his own, gets a 404 on everything of Alice's campaigns."""

import pytest

from campaigns import executions
from campaigns.models import Campaign, CampaignExecution, ImageGeneration
from tests.factories import CampaignFactory, add_image


@pytest.fixture
def alices(alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    image = add_image(campaign)
    execution = executions.execution_create(campaign=campaign)
    generation = ImageGeneration.objects.create(campaign=campaign, prompt="p", model="m")
    return campaign, image, execution, generation


def test_it_answers_404_to_charlie_on_alices_campaign_pages(charlie_client, alices):
    campaign, image, execution, generation = alices
    for path in [
        "",
        "edit/",
        "delete/",
        "executions/",
        "gallery/",
        f"images/{image.pk}/",
        f"runs/{execution.pk}/",
        f"generations/{generation.pk}/",
    ]:
        assert charlie_client.get(f"/campaigns/{campaign.pk}/{path}").status_code == 404, path


def test_it_answers_404_to_charlie_on_alices_campaign_actions(charlie_client, alices):
    campaign, image, execution, _ = alices
    for path, data in [
        ("run/", {}),
        ("duplicate/", {}),
        ("status/", {"to": "archived"}),
        ("delete/", {}),
        ("generate/", {}),
        ("edit/", {"name": "hijacked", "fit": "none"}),
        (f"images/{image.pk}/remove/", {}),
        (f"images/{image.pk}/move/", {"direction": "up"}),
        (f"runs/{execution.pk}/cancel/", {}),
    ]:
        assert charlie_client.post(f"/campaigns/{campaign.pk}/{path}", data).status_code == 404, path
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status) != ("hijacked", "archived")
    assert CampaignExecution.objects.count() == 1
    assert Campaign.objects.count() == 1
    assert campaign.images.count() == 1


def test_it_answers_404_when_a_foreign_image_is_named_under_charlies_own_campaign(charlie_client, charlie, alices):
    _, image, execution, _ = alices
    own = CampaignFactory(workspace=charlie.memberships.get().workspace)
    assert charlie_client.get(f"/campaigns/{own.pk}/images/{image.pk}/").status_code == 404
    assert charlie_client.get(f"/campaigns/{own.pk}/runs/{execution.pk}/").status_code == 404


def test_it_does_not_list_alices_campaigns_to_charlie(charlie_client, alices):
    response = charlie_client.get("/campaigns/")
    assert alices[0].name.encode() not in response.content


def test_it_serves_the_public_image_only_by_its_token(client, alices):
    _, image, _, _ = alices
    assert client.get(f"/media/p/{image.token.hex}.jpg").status_code == 200
    assert client.get(f"/media/p/{image.pk}.jpg").status_code == 404
    assert client.get(f"/media/p/{'0' * 32}.jpg").status_code == 404
    assert image.public_url.startswith("http") and image.token.hex in image.public_url
