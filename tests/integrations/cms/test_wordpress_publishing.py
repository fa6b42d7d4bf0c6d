import pytest

from campaigns.destinations import RetryLater, StepFailed
from campaigns.executions import execution_create, execution_run
from integrations.cms import publishing, services
from integrations.cms.models import SourceKind
from tests.integrations.cms.fake_wordpress import PASSWORD, USER
from tests.factories import CampaignFactory, add_image


@pytest.fixture
def site(alice_workspace, fake_wordpress):
    return services.source_create(
        workspace=alice_workspace, by=None, name="Our blog", kind=SourceKind.WORDPRESS, url=fake_wordpress.base_url,
        wp_username=USER, wp_app_password=PASSWORD, wp_category="Social", wp_post_status="publish",
    )  # fmt: skip


@pytest.fixture
def run(alice_workspace):
    campaign = CampaignFactory(
        workspace=alice_workspace, name="Spring sale", caption="Everything 20% off.\n\nThis week only.", hashtags="#sale #spring"
    )
    add_image(campaign)
    add_image(campaign, size=(1080, 1350))
    execution = execution_create(campaign=campaign)
    return execution, execution.steps.get(name="publish")


def test_it_uploads_the_images_and_creates_the_post(site, run, fake_wordpress):
    execution, step = run
    outcome = publishing.publish(execution=execution, step=step, site=site)
    post = fake_wordpress.posts[0]
    assert len(fake_wordpress.media) == 2
    assert post["title"] == "Spring sale"
    assert post["status"] == "publish"
    assert post["featured_media"] == fake_wordpress.media[0]["id"]
    assert "<p>Everything 20% off.</p>" in post["content"] and fake_wordpress.media[1]["source_url"] in post["content"]
    assert [t["name"] for t in fake_wordpress.terms["tags"]] == ["sale", "spring"]
    assert post["categories"] == [fake_wordpress.terms["categories"][0]["id"]]
    step.refresh_from_db()
    assert step.state["wordpress"]["post_id"] == post["id"]
    assert step.state["wordpress"]["link"] == post["link"]
    assert post["link"] in outcome.detail


def test_it_describes_each_image_by_its_alt_text_or_else_the_campaign_name(site, run, fake_wordpress):
    execution, step = run
    second = execution.campaign.images.order_by("position")[1]
    second.alt_text = "A linen shirt on sand"
    second.save()

    publishing.publish(execution=execution, step=step, site=site)

    assert [m["alt_text"] for m in fake_wordpress.media] == ["Spring sale", "A linen shirt on sand"]
    assert 'alt="A linen shirt on sand"' in fake_wordpress.posts[0]["content"]


@pytest.mark.parametrize("lost", ["/wp/v2/posts", "/wp/v2/media"])
def test_it_creates_nothing_twice_on_a_retry_after_a_lost_answer(site, run, fake_wordpress, lost):
    execution, step = run
    fake_wordpress.lose_next("POST", lost)
    with pytest.raises(RetryLater):
        publishing.publish(execution=execution, step=step, site=site)
    step.refresh_from_db()
    publishing.publish(execution=execution, step=step, site=site)
    assert len(fake_wordpress.posts) == 1
    assert len(fake_wordpress.media) == 2


def test_it_does_not_publish_a_finished_step_again(site, run, fake_wordpress):
    execution, step = run
    publishing.publish(execution=execution, step=step, site=site)
    step.refresh_from_db()
    publishing.publish(execution=execution, step=step, site=site)
    assert len(fake_wordpress.posts) == 1


def test_it_fails_the_step_as_an_auth_problem_on_a_refused_password(site, run, fake_wordpress):
    site.wp_app_password = "wrong password"
    execution, step = run
    with pytest.raises(StepFailed) as failed:
        publishing.publish(execution=execution, step=step, site=site)
    assert failed.value.category == "auth"
    assert "refused the user name and application password" in failed.value.message


# Through the campaign engine, as a destination -------------------------------------------------


@pytest.fixture
def campaign(alice_workspace, site):
    campaign = CampaignFactory(workspace=alice_workspace, name="Spring sale", targets=[site])
    add_image(campaign)
    return campaign


def test_it_publishes_to_the_wordpress_target_and_records_the_post_on_its_step(campaign, fake_wordpress):
    execution = execution_create(campaign=campaign)
    execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    step = execution.steps.get(name="publish")
    post = fake_wordpress.posts[0]
    assert execution.status == "succeeded", execution.error_message
    assert (step.destination, step.object_id) == ("wordpress", campaign.targets.get().object_id)
    assert step.external_id == str(post["id"])
    assert step.external_url == post["link"]


def test_it_creates_the_post_once_for_a_retried_run(campaign, fake_wordpress):
    fake_wordpress.lose_next("POST", "/wp/v2/posts")
    execution = execution_create(campaign=campaign)
    with pytest.raises(RetryLater):
        execution_run(execution_id=execution.pk)
    execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == "succeeded", execution.error_message
    assert len(fake_wordpress.posts) == 1


def test_it_offers_wordpress_sites_with_a_password_on_the_campaign_form(alice_client, site, alice_workspace, feed_server):
    services.source_create(
        workspace=alice_workspace, by=None, name="Read-only blog", kind=SourceKind.WORDPRESS, url=feed_server.url("/")
    )
    page = alice_client.get("/campaigns/new/").content.decode()
    assert "WordPress sites" in page and f"wordpress:{site.pk}" in page
    assert "Read-only blog" not in page


def test_it_removes_a_deleted_site_from_campaigns(campaign, site):
    services.source_delete(source=site)
    assert not campaign.targets.exists()


def test_it_writes_the_caption_as_escaped_paragraphs_then_the_other_images():
    content = publishing.post_content(
        'Fish & chips <b>today</b>\r\nfrom 12\r\n\r\n"Fresh" only',
        [("https://blog.example/a.jpg?x=1&y=2", ""), ("https://blog.example/b.jpg", 'A "linen" shirt <on> sand')],
    )
    assert content == (
        "<p>Fish &amp; chips &lt;b&gt;today&lt;/b&gt;<br>from 12</p>\n"
        "<p>&quot;Fresh&quot; only</p>\n"
        '<figure class="wp-block-image"><img src="https://blog.example/a.jpg?x=1&amp;y=2" alt=""></figure>\n'
        '<figure class="wp-block-image"><img src="https://blog.example/b.jpg" alt="A &quot;linen&quot; shirt &lt;on&gt; sand"></figure>'
    )
