"""Against a real WordPress: `make e2e-wordpress` (python -m e2e.wordpress.run) starts one and runs these.

Skipped unless WP_E2E_BASE_URL, WP_E2E_USER and WP_E2E_APP_PASSWORD point at a running site.
Posts are written through WordPress's own REST API, the way an editor's WordPress would; our app
reads them through its client. Everything listens on 127.0.0.1.
"""

import os
import uuid

import pytest
import requests
from django.test import TestCase

from campaigns.executions import execution_create, execution_run
from integrations.cms import publishing, services
from integrations.cms.models import ItemStatus, SourceKind, SourceState
from tests.factories import CampaignFactory, add_image, jpeg_bytes

BASE_URL = os.environ.get("WP_E2E_BASE_URL", "")
USER = os.environ.get("WP_E2E_USER", "")
APP_PASSWORD = os.environ.get("WP_E2E_APP_PASSWORD", "")

pytestmark = pytest.mark.skipif(
    not (BASE_URL and USER and APP_PASSWORD), reason="needs a real WordPress: run `make e2e-wordpress`"
)


def wp(method: str, route: str, **kwargs) -> requests.Response:
    """WordPress's REST API, called directly as another client would (not through our code)."""
    response = requests.request(
        method, f"{BASE_URL}/?rest_route={route}", auth=(USER, APP_PASSWORD), timeout=30, **kwargs
    )
    assert response.status_code < 300, response.text[:500]
    return response


def term(taxonomy: str, name: str) -> int:
    found = wp("GET", f"/wp/v2/{taxonomy}", params={"search": name}).json()
    match = next((t for t in found if t["name"] == name), None)
    return match["id"] if match else wp("POST", f"/wp/v2/{taxonomy}", json={"name": name}).json()["id"]


@pytest.fixture
def site(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    return BASE_URL


@pytest.fixture
def source(site, alice_workspace):
    source = services.source_create(
        workspace=alice_workspace,
        by=None,
        name="Real WordPress",
        kind=SourceKind.WORDPRESS,
        url=site,
        wp_username=USER,
        wp_app_password=APP_PASSWORD,
    )
    services.source_poll(source_id=source.pk)  # the baseline: "Hello world!" and earlier runs' posts
    source.refresh_from_db()
    return source


def test_it_connects_with_the_application_password(site):
    check = services.source_test(kind=SourceKind.WORDPRESS, url=site, wp_username=USER, wp_app_password=APP_PASSWORD)
    assert check.ok, check.message
    assert f"as {USER}" in check.message


def test_it_says_when_wordpress_refuses_the_password(site):
    check = services.source_test(kind=SourceKind.WORDPRESS, url=site, wp_username=USER, wp_app_password="x" * 24)
    assert not check.ok
    assert "refused the user name and application password" in check.message


def test_it_imports_a_post_written_through_wordpress(source):
    media = wp(
        "POST",
        "/wp/v2/media",
        data=jpeg_bytes((1600, 900), "darkorange"),
        headers={"Content-Type": "image/jpeg", "Content-Disposition": 'attachment; filename="launch.jpg"'},
    ).json()
    title = f"Launch day {uuid.uuid4().hex[:6]}"
    post = wp(
        "POST",
        "/wp/v2/posts",
        json={
            "title": title,
            "content": "<p>Our new product is out today.</p>",
            "excerpt": "Our new product is out today.",
            "status": "publish",
            "categories": [term("categories", "Launches")],
            "tags": [term("tags", "spring")],
            "featured_media": media["id"],
        },
    ).json()

    with TestCase.captureOnCommitCallbacks(execute=True):
        result = services.source_poll(source_id=source.pk)

    source.refresh_from_db()
    assert result.ok and source.state == SourceState.OK, source.last_error
    item = source.items.get(guid=f"wp:{post['id']}")
    assert item.title == title
    assert item.link == post["link"]
    assert item.categories == ["Launches"] and item.tags == ["spring"]
    assert item.author == USER
    assert item.status == ItemStatus.DONE, item.note
    campaign = item.campaign
    assert campaign.hashtags == "#Launches #Spring"
    assert campaign.first_comment == f"Read the full post: {post['link']}"
    image = campaign.images.get()  # the featured image, downloaded from WordPress's media library
    assert (image.width, image.height) == (1440, 810)  # 16:9, scaled to Instagram's widest


@pytest.fixture
def campaign_run(alice_workspace):
    campaign = CampaignFactory(
        workspace=alice_workspace,
        name=f"Spring sale {uuid.uuid4().hex[:6]}",
        caption="Everything 20% off.\n\nThis week only.",
        hashtags="#sale #springsale",
    )
    add_image(campaign, size=(1080, 1350))
    execution = execution_create(campaign=campaign)
    return campaign, execution, execution.steps.get(name="publish")


def test_it_publishes_the_campaign_as_a_post_with_its_image(source, alice_workspace):
    services.source_update(source=source, by=None, wp_post_status="publish", wp_category="Social")
    campaign = CampaignFactory(
        workspace=alice_workspace,
        name=f"Spring sale {uuid.uuid4().hex[:6]}",
        caption="Everything 20% off.\n\nThis week only.",
        hashtags="#sale #springsale",
        targets=[source],
    )
    add_image(campaign, size=(1080, 1350))
    execution = execution_create(campaign=campaign)

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    step = execution.steps.get(name="publish")
    assert execution.status == "succeeded", execution.error_message
    post = wp("GET", f"/wp/v2/posts/{step.external_id}", params={"context": "edit"}).json()
    assert post["link"] == step.external_url
    assert post["title"]["raw"] == campaign.name
    assert post["status"] == "publish"
    assert "Everything 20% off." in post["content"]["raw"]
    media = wp("GET", f"/wp/v2/media/{post['featured_media']}").json()
    assert (media["media_details"]["width"], media["media_details"]["height"]) == (1080, 1350)
    tags = {t["name"] for t in wp("GET", "/wp/v2/tags", params={"include": ",".join(map(str, post["tags"]))}).json()}
    assert tags == {"sale", "springsale"}
    categories = wp("GET", "/wp/v2/categories", params={"include": ",".join(map(str, post["categories"]))}).json()
    assert [c["name"] for c in categories] == ["Social"]


def test_it_finds_on_a_retry_the_draft_it_created_instead_of_making_another(source, campaign_run):
    campaign, execution, step = campaign_run
    publishing.publish(execution=execution, step=step, site=source)
    step.refresh_from_db()
    first = step.state["wordpress"]["post_id"]
    # As if the answer to the creation had been lost: the step knows it started, not the post.
    step.state["wordpress"] = {**step.state["wordpress"], "post_id": None, "link": ""}
    step.save()

    publishing.publish(execution=execution, step=step, site=source)

    step.refresh_from_db()
    assert step.state["wordpress"]["post_id"] == first
    drafts = wp("GET", "/wp/v2/posts", params={"search": campaign.name, "status": "draft", "context": "edit"}).json()
    assert len(drafts) == 1
