"""A campaign in the story format publishes its image as an Instagram story: no caption, no alt
text, no first comment, and never twice when the answer to media_publish is lost."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from campaigns import executions, services
from campaigns.models import CampaignExecution
from integrations.instagram import tasks
from integrations.instagram.models import InsightValue
from tests.factories import add_image


@pytest.fixture
def story(campaign):
    services.campaign_update(campaign=campaign, by=None, format="story", first_comment="Link in bio")
    services.campaign_images_describe(campaign=campaign, alt_texts={campaign.images.get().pk: "Folded shirts"})
    return campaign


def _run(campaign) -> CampaignExecution:
    execution = executions.execution_create(campaign=campaign)
    executions.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    return execution


def test_it_publishes_the_image_as_a_story_without_caption_alt_text_or_comment(graph, story):
    execution = _run(story)

    assert execution.status == "succeeded"
    [created] = graph.called("create_container")
    sent = {name: value for name, value in created.params.items() if name not in ("access_token", "appsecret_proof")}
    assert sent == {"media_type": "STORIES", "image_url": story.images.get().public_url}
    assert graph.called("media_publish")[0].params["creation_id"] == [*graph.containers][0]
    assert execution.outputs["instagram_media_id"] == graph.stories[0]["id"]
    assert not graph.media  # a story is not a feed post
    assert not graph.called("comment")


def test_it_publishes_a_story_once_when_the_answer_to_media_publish_is_lost(graph, story):
    graph.publish_times_out = True
    execution = executions.execution_create(campaign=story)
    with pytest.raises(executions.RetryLater):
        executions.execution_run(execution_id=execution.pk)

    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == "succeeded"
    assert len(graph.called("media_publish")) == 1
    assert graph.called("recent_stories")  # found among the live stories, by its time
    assert execution.outputs["instagram_media_id"] == graph.stories[0]["id"]


def test_it_publishes_a_feed_post_again_once_the_campaign_is_a_post(graph, story):
    services.campaign_update(campaign=story, by=None, format="post")
    add_image(story)

    execution = _run(story)

    assert execution.status == "succeeded"
    assert graph.called("create_container")[0].params["is_carousel_item"] == "true"
    assert len(graph.media) == 1 and not graph.stories


def test_it_pulls_a_live_storys_own_metrics_and_stops_once_it_expired(graph, story):
    execution = _run(story)
    media_id = execution.outputs["instagram_media_id"]

    assert tasks.pull_media_insights.delay().get() == 1

    assert graph.called("media_insights")[0].params["metric"] == "views,reach,shares,total_interactions"
    stored = dict(InsightValue.objects.filter(object_type="media", object_id=media_id).values_list("metric", "value"))
    assert stored == {"views": 120, "reach": 80, "shares": 1, "total_interactions": 15}

    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert tasks.pull_media_insights.delay().get() == 0
    assert len(graph.called("media_insights")) == 1
