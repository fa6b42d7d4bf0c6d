from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError
from django.test import TestCase
from django.utils import timezone

from campaigns.captions import MAX_CAPTION_CHARS, MAX_HASHTAGS, caption_problems, render_caption
from campaigns.models import CampaignExecution, CampaignStatus, ImageSource
from integrations.cms import services
from integrations.cms.models import ContentItem, ItemStatus, SourceState
from tests.integrations.cms.conftest import poll
from tests.integrations.cms.feed_server import feed_file
from tests.factories import CampaignFactory, jpeg_bytes
from triggers import services as trigger_services
from triggers.models import TriggerEvent

ONE_POST = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Acme</title><link>https://acme.example/</link>
<item><title>Old post</title><link>https://acme.example/old</link><guid>old-1</guid><category>News</category></item>
</channel></rss>"""


def two_posts(image_url: str = "", categories: str = "<category>Engineering</category><category>Product news</category>") -> bytes:
    media = f'<enclosure url="{image_url}" type="image/jpeg" length="1000"/>' if image_url else ""
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Acme</title><link>https://acme.example/</link>
<item><title>A new post</title><link>https://acme.example/new</link><guid>new-2</guid>
<description>What we shipped this week.</description>{categories}{media}</item>
<item><title>Old post</title><link>https://acme.example/old</link><guid>old-1</guid><category>News</category></item>
</channel></rss>""".encode()


@pytest.fixture
def source(feed_server, make_source):
    feed_server.serve("/feed.xml", ONE_POST)
    source = make_source()
    poll(source)  # the baseline
    return source


def test_it_records_the_posts_already_there_without_acting_on_them(source):
    item = source.items.get()
    assert source.state == SourceState.OK
    assert item.status == ItemStatus.BASELINE
    assert item.campaign is None


def test_it_turns_a_new_post_into_a_draft_campaign(source, feed_server):
    feed_server.serve("/feed.xml", two_posts())
    result = poll(source)
    item = source.items.get(guid="new-2")
    campaign = item.campaign
    assert result.new_items == 1
    assert item.status == ItemStatus.DONE
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.name == "A new post"
    assert campaign.caption.startswith("A new post\n\nWhat we shipped this week.")
    assert campaign.hashtags == "#Engineering #ProductNews"
    assert campaign.first_comment == "Read the full post: https://acme.example/new"
    assert "first comment" in campaign.caption


def test_it_never_imports_a_post_twice(source, feed_server):
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    feed_server.serve("/feed.xml", two_posts() + b"\n")  # a new ETag, the same posts
    result = poll(source)
    assert result.new_items == 0
    assert source.items.count() == 2
    assert source.workspace.campaigns.count() == 1


def test_it_refuses_a_second_copy_of_an_item_in_the_database(source):
    item = source.items.get()
    with pytest.raises(IntegrityError):
        ContentItem.objects.create(workspace=source.workspace, source=source, guid=item.guid, title="again")


def test_it_sends_a_conditional_get_and_changes_nothing_on_304(source, feed_server):
    before = source.next_poll_at
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        result = poll(source)
    path, headers = feed_server.requests[-1]
    assert headers["if-none-match"] == source.etag
    assert headers["if-modified-since"] == source.last_modified
    assert result.not_modified
    assert source.items.count() == 1
    assert source.next_poll_at > before


def test_it_polls_again_after_the_sources_interval(source):
    assert source.next_poll_at == source.last_polled_at + timedelta(minutes=source.poll_interval)


def test_it_claims_due_sources_once(source):
    later = timezone.now() + timedelta(minutes=source.poll_interval + 1)
    assert services.sources_claim_due(now=later) == [source.pk]
    assert services.sources_claim_due(now=later) == []


def test_it_does_not_claim_a_paused_source(source):
    services.source_set_paused(source=source, paused=True)
    assert services.sources_claim_due(now=timezone.now() + timedelta(days=1)) == []
    assert services.source_poll(source_id=source.pk) is None


def test_it_polls_every_due_source_in_the_beat_task(source, feed_server):
    from integrations.cms.tasks import poll_due_sources

    feed_server.serve("/feed.xml", two_posts())
    with time_machine.travel(timezone.now() + timedelta(minutes=31)), TestCase.captureOnCommitCallbacks(execute=True):
        assert poll_due_sources.delay().get() == 1
    assert source.items.filter(status=ItemStatus.DONE).count() == 1


# What a post becomes ---------------------------------------------------------------------------


def test_it_sends_a_cms_post_published_event_that_rules_act_on(alice_workspace, feed_server, make_source):
    campaign = CampaignFactory(workspace=alice_workspace)
    trigger = trigger_services.trigger_create(
        workspace=alice_workspace,
        by=None,
        name="Engineering posts",
        kind="conditional",
        campaigns=[campaign],
        rules={"match": "all", "rules": [{"path": "categories", "op": "contains", "value": "Engineering"}]},
    )
    feed_server.serve("/feed.xml", ONE_POST)
    source = make_source(trigger=trigger, create_drafts=False)
    poll(source)
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    item = source.items.get(guid="new-2")
    event = TriggerEvent.objects.get(uuid=item.event_uuid)
    assert event.payload["event"] == "cms.post.published"
    assert event.payload["title"] == "A new post"
    assert event.payload["link"] == "https://acme.example/new"
    assert event.payload["categories"] == ["Engineering", "Product news"]
    assert event.fired
    assert item.campaign is None


def test_it_imports_the_featured_image_through_the_media_pipeline(source, feed_server):
    image_url = feed_server.serve("/images/wide.jpg", jpeg_bytes((2400, 1000)), content_type="image/jpeg")
    feed_server.serve("/feed.xml", two_posts(image_url=image_url))
    poll(source)
    image = source.items.get(guid="new-2").campaign.images.get()
    assert image.source == ImageSource.UPLOAD
    assert image.width / image.height <= 1.91  # cropped to Instagram's widest ratio
    assert image.file.read(3) == b"\xff\xd8\xff"  # a JPEG


def test_it_asks_for_an_ai_image_when_the_post_has_none(source, feed_server):
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    campaign = source.items.get(guid="new-2").campaign
    generation = campaign.generations.get()
    # No OpenAI key in tests: the generation falls back to a placeholder and says so.
    assert campaign.images.get().source == ImageSource.PLACEHOLDER
    assert "OPENAI_API_KEY" in generation.fallback_reason


def test_it_falls_back_to_an_ai_image_when_the_featured_image_is_not_an_image(source, feed_server):
    image_url = feed_server.serve("/images/broken.jpg", b"<html>nope</html>", content_type="image/jpeg")
    feed_server.serve("/feed.xml", two_posts(image_url=image_url))
    poll(source)
    item = source.items.get(guid="new-2")
    assert "could not be used" in item.note
    assert item.campaign.generations.count() == 1


def test_it_drafts_the_caption_with_openai_when_a_key_is_set(source, feed_server, fake_openai):
    fake_openai.chat_text = '{"caption": "Big news from the team.\\n\\nLink in the first comment.", "hashtags": ["#ci", "speed"]}'
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    campaign = source.items.get(guid="new-2").campaign
    chat = next(r for r in fake_openai.requests if r.path == "/v1/chat/completions")
    assert "A new post" in chat.json["messages"][1]["content"]
    assert campaign.caption == "Big news from the team.\n\nLink in the first comment."
    assert campaign.hashtags == "#Ci #Speed #Engineering #ProductNews"


def test_it_falls_back_to_the_template_when_openai_fails(source, feed_server, fake_openai):
    fake_openai.fail(400)
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    item = source.items.get(guid="new-2")
    assert item.campaign.caption.startswith("A new post")
    assert "used the template" in item.note


def test_it_keeps_the_caption_within_instagrams_limits(source, feed_server):
    many = "".join(f"<category>Topic {n}</category>" for n in range(45))
    long_text = "word " * 900
    body = two_posts(categories=many).replace(b"What we shipped this week.", long_text.encode())
    feed_server.serve("/feed.xml", body)
    poll(source)
    campaign = source.items.get(guid="new-2").campaign
    assert caption_problems(caption=campaign.caption, hashtags=campaign.hashtags) == {}
    assert len(campaign.hashtags.split()) == MAX_HASHTAGS
    assert len(render_caption(caption=campaign.caption, hashtags=campaign.hashtags)) <= MAX_CAPTION_CHARS


def test_it_takes_the_hashtags_and_first_comment_of_a_model_campaign(alice_workspace, feed_server, make_source):
    model = CampaignFactory(workspace=alice_workspace, hashtags="#acme", first_comment="Follow @acme for more.")
    feed_server.serve("/feed.xml", ONE_POST)
    source = make_source(template_campaign=model)
    poll(source)
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    campaign = source.items.get(guid="new-2").campaign
    assert campaign.hashtags.endswith("#acme")
    assert campaign.first_comment == "Read the full post: https://acme.example/new\n\nFollow @acme for more."


def test_it_runs_the_campaign_at_once_when_the_source_publishes_on_its_own(feed_server, make_source):
    feed_server.serve("/feed.xml", ONE_POST)
    source = make_source(publish_automatically=True)
    poll(source)
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    campaign = source.items.get(guid="new-2").campaign
    execution = CampaignExecution.objects.get(campaign=campaign)
    assert execution.source == "trigger"
    assert execution.steps.first().name == "prepare_image"  # the run makes the AI image


def test_it_asks_for_approval_instead_of_publishing_where_approval_is_required(
    alice_workspace, alice, feed_server, make_source, mailoutbox
):
    alice_workspace.require_approval = True
    alice_workspace.save()
    feed_server.serve("/feed.xml", ONE_POST)
    source = make_source(publish_automatically=True)
    poll(source)
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    item = source.items.get(guid="new-2")
    assert not CampaignExecution.objects.filter(campaign=item.campaign).exists()
    assert item.campaign.approval_requested_at is not None
    assert "Not published automatically: this workspace requires approval" in item.note
    assert [mail.to for mail in mailoutbox] == [["alice@example.com"]]


def test_it_processes_an_item_once(source, feed_server):
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    item = source.items.get(guid="new-2")
    services.item_process(item_id=item.pk)
    assert source.workspace.campaigns.count() == 1


def test_it_fails_an_item_whose_worker_died_and_lets_a_person_retry_it(source, feed_server):
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    item = source.items.get(guid="new-2")
    item.status = ItemStatus.NEW
    item.save(update_fields=["status"])
    claimed_at = timezone.now()
    # The worker claims the item, then dies before finishing it.
    ContentItem.objects.filter(pk=item.pk).update(status=ItemStatus.PROCESSING, processing_since=claimed_at)

    assert services.items_recover_stuck(now=claimed_at + timedelta(minutes=5)) == 0  # still at work
    assert services.items_recover_stuck(now=claimed_at + services.STUCK_AFTER + timedelta(seconds=1)) == 1

    item.refresh_from_db()
    assert item.status == ItemStatus.FAILED
    assert "retry" in item.note
    assert services.items_retry(source=source) == 1
    services.item_process(item_id=item.pk)
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE
    assert item.campaign is not None


def test_it_stamps_the_time_it_starts_working_on_an_item(source, feed_server):
    feed_server.serve("/feed.xml", two_posts())
    poll(source)
    item = source.items.get(guid="new-2")
    assert item.processing_since is not None
    assert services.items_recover_stuck() == 0  # a finished item is never touched


# Broken and hostile sources --------------------------------------------------------------------


@pytest.fixture
def fresh(feed_server, make_source):
    return make_source()


def test_it_gives_an_error_state_with_the_reason_for_a_web_page(fresh, feed_server):
    feed_server.serve("/feed.xml", feed_file("page.html"), content_type="text/html")
    result = poll(fresh)
    assert not result.ok
    assert fresh.state == SourceState.ERROR
    assert "web page (HTML)" in fresh.last_error


def test_it_refuses_a_declared_50_mb_body_unread(fresh, feed_server):
    feed_server.serve("/feed.xml", b"", headers={"Content-Length": str(50 * 1024 * 1024)}, conditional=False)
    poll(fresh)
    assert fresh.state == SourceState.ERROR
    assert fresh.last_error == "The response is 50.0 MB; the limit is 5.0 MB."


def test_it_cuts_off_a_body_without_a_length_at_the_size_limit(fresh, feed_server):
    feed_server.serve("/feed.xml", b"", endless=True, conditional=False)
    poll(fresh)
    assert fresh.state == SourceState.ERROR
    assert fresh.last_error == "The response is larger than 5.0 MB, the limit."


def test_it_gives_a_readable_error_for_a_redirect_loop(fresh, feed_server):
    feed_server.redirect("/feed.xml", "/b")
    feed_server.redirect("/b", "/feed.xml")
    poll(fresh)
    assert fresh.state == SourceState.ERROR
    assert "redirects in a loop" in fresh.last_error


def test_it_follows_a_plain_redirect(fresh, feed_server):
    feed_server.redirect("/feed.xml", "/moved.xml", status=301)
    feed_server.serve_file("/moved.xml", "rss2.xml")
    result = poll(fresh)
    assert result.ok
    assert fresh.site_title == "Acme Engineering Blog"


def test_it_gives_an_error_state_for_an_entity_bomb(fresh, feed_server):
    feed_server.serve_file("/feed.xml", "billion_laughs.xml")
    poll(fresh)
    assert fresh.state == SourceState.ERROR
    assert "declares XML entities" in fresh.last_error


def test_it_cuts_off_a_server_that_drips_bytes_at_the_deadline(fresh, feed_server, settings):
    settings.CMS_FETCH_DEADLINE = 0.5
    feed_server.serve_file("/feed.xml", "rss2.xml", drip_seconds=0.05)
    poll(fresh)
    assert fresh.state == SourceState.ERROR
    assert "took longer than" in fresh.last_error


def test_it_says_so_when_the_feed_is_missing(fresh):
    poll(fresh)
    assert fresh.last_error == "The server answered HTTP 404: it has no page at this address."


def test_it_refuses_an_address_in_a_private_network(fresh, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    poll(fresh)
    assert fresh.state == SourceState.ERROR
    assert "private network" in fresh.last_error


def test_it_backs_off_after_each_failure_and_recovers(fresh, feed_server):
    poll(fresh)
    first_wait = fresh.next_poll_at - fresh.last_polled_at
    poll(fresh)
    second_wait = fresh.next_poll_at - fresh.last_polled_at
    assert fresh.failures == 2
    assert second_wait == 2 * first_wait
    feed_server.serve_file("/feed.xml", "rss2.xml")
    poll(fresh)
    assert (fresh.state, fresh.failures, fresh.last_error) == (SourceState.OK, 0, "")
