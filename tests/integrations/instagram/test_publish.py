"""Publishing a run to Instagram through the real engine, against the fake Graph API."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import executions, services
from campaigns.destinations import RetryLater
from campaigns.models import CampaignExecution
from integrations.instagram.models import AttemptStatus, PublishAttempt
from tests.factories import add_image

from .conftest import IG_USER_ID


def start(campaign) -> CampaignExecution:
    return executions.execution_create(campaign=campaign)


def run(execution: CampaignExecution) -> CampaignExecution:
    executions.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    return execution


def run_expecting_retry(execution: CampaignExecution) -> RetryLater:
    with pytest.raises(RetryLater) as retry:
        executions.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    return retry.value


def publish_step(execution: CampaignExecution):
    return execution.steps.get(name="publish")


def test_it_publishes_a_single_image_and_stores_the_media_id_and_permalink(graph, campaign):
    execution = run(start(campaign))

    assert execution.status == "succeeded"
    publish = graph.called("media_publish")[0]
    assert execution.outputs.get('instagram_media_id', '') == graph.media[0]["id"]
    assert execution.outputs.get('instagram_permalink', '') == f"https://www.instagram.com/p/{execution.outputs.get('instagram_media_id', '')}/"
    created = graph.called("create_container")
    assert len(created) == 1
    image = campaign.images.get()
    assert created[0].params["image_url"] == image.public_url
    assert created[0].params["caption"] == "Our linen collection is here.\n\n#summer #linen"
    assert created[0].path == f"{IG_USER_ID}/media"
    assert publish.params["creation_id"] == publish_step(execution).state["container_id"]
    assert "Published to @aliceco" in publish_step(execution).detail


def test_it_reads_the_quota_first_and_keeps_it_on_the_account(graph, campaign, account):
    graph.quota_usage, graph.quota_total = 7, 50
    with CaptureQueriesContext(connection) as captured:
        run(start(campaign))

    assert graph.calls[0].endpoint == "quota"
    account.refresh_from_db()
    assert (account.quota_usage, account.quota_total) == (7, 50)
    assert account.quota_checked_at is not None
    [quota_write] = [query["sql"] for query in captured if 'UPDATE "instagram_instagramaccount" SET "quota_total"' in query["sql"]]
    if connection.vendor == "postgresql":  # in the same round trip as the container's id
        assert "container_id" in quota_write


def test_it_keeps_the_quota_it_read_when_the_quota_is_used_up(graph, campaign, account):
    graph.quota_usage, graph.quota_total = 50, 50

    run(start(campaign))

    account.refresh_from_db()
    assert (account.quota_usage, account.quota_total) == (50, 50)


def test_it_sends_the_token_as_a_parameter_with_an_appsecret_proof(graph, campaign):
    run(start(campaign))

    call = graph.called("create_container")[0]
    assert call.params["access_token"] == "EAAlonglivedtokenSECRET123"
    assert len(call.params["appsecret_proof"]) == 64


def test_it_polls_an_in_progress_container_until_it_is_finished(graph, campaign):
    graph.statuses.extend(["IN_PROGRESS", "IN_PROGRESS", "FINISHED"])

    execution = run(start(campaign))

    assert execution.status == "succeeded"
    assert len(graph.called("container_status")) == 3
    assert len(graph.called("media_publish")) == 1


def test_it_comes_back_later_while_the_container_is_still_processing(graph, campaign):
    graph.statuses.extend(["IN_PROGRESS"] * 3)
    execution = start(campaign)

    retry = run_expecting_retry(execution)

    assert execution.status == "queued"
    assert retry.countdown == 60
    assert "still processing" in publish_step(execution).detail
    assert not graph.called("media_publish")

    execution = run(execution)

    assert execution.status == "succeeded"
    assert len(graph.called("create_container")) == 1  # the rerun resumed the same container
    assert len(graph.called("media_publish")) == 1


def test_it_gives_up_on_a_container_still_processing_after_ten_minutes(graph, campaign):
    graph.statuses.extend(["IN_PROGRESS"] * 3)
    execution = start(campaign)
    run_expecting_retry(execution)
    step = publish_step(execution)
    executions.step_save_state(step, container_created_at=(timezone.now() - timedelta(minutes=11)).isoformat())
    graph.statuses.extend(["IN_PROGRESS"] * 3)

    execution = run(execution)

    assert (execution.status, execution.error_category) == ("failed", "timeout")
    assert "still processing the media after 10 minutes" in execution.error_message


def test_it_retries_later_on_9007_and_then_publishes(graph, campaign):
    graph.fail("media_publish", code=9007, subcode=2207027, message="The media is not ready for publishing, please wait for a moment")
    execution = start(campaign)

    retry = run_expecting_retry(execution)

    assert "not ready" in retry.message
    assert retry.countdown >= 30
    assert not execution.outputs.get('instagram_media_id', '')

    execution = run(execution)

    assert execution.status == "succeeded"
    assert execution.outputs.get('instagram_media_id', '') == graph.media[0]["id"]
    assert len(graph.called("create_container")) == 1
    assert len(graph.called("media_publish")) == 2  # the refused one and the one that worked
    assert len(graph.media) == 1


def test_it_fails_with_the_reason_when_the_container_errors(graph, campaign):
    graph.statuses.append("ERROR")

    execution = run(start(campaign))

    assert (execution.status, execution.error_category) == ("failed", "provider")
    assert "2207026" in execution.error_message
    assert not graph.called("media_publish")


def test_it_fails_when_the_container_expired(graph, campaign):
    graph.statuses.append("EXPIRED")

    execution = run(start(campaign))

    assert execution.status == "failed"
    assert "expired before it was published" in execution.error_message
    assert not graph.called("media_publish")


def test_it_stops_before_creating_anything_when_the_quota_is_used_up(graph, campaign):
    graph.quota_usage, graph.quota_total = 100, 100

    execution = run(start(campaign))

    assert (execution.status, execution.error_category) == ("failed", "quota")
    assert "quota reached for @aliceco (100 of 100 posts in the last 24 hours), next slot within 24 hours" in execution.error_message
    assert not graph.called("create_container")


def test_it_names_the_next_slot_from_the_oldest_post_of_the_last_day(graph, campaign, account):
    first = run(start(campaign))
    published_at = timezone.now() - timedelta(hours=20)
    PublishAttempt.objects.filter(execution=first).update(published_at=published_at)
    graph.quota_usage, graph.quota_total = 100, 100

    execution = run(start(campaign))

    # In the workspace's time zone (Alice Co is in Europe/Berlin).
    slot = timezone.localtime(published_at + timedelta(hours=24), ZoneInfo("Europe/Berlin"))
    assert execution.error_category == "quota"
    assert f"next slot at {slot:%Y-%m-%d %H:%M %Z}." in execution.error_message


def test_it_publishes_a_carousel_with_children_then_the_parent(graph, campaign):
    add_image(campaign)
    add_image(campaign)

    execution = run(start(campaign))

    assert execution.status == "succeeded"
    created = graph.called("create_container")
    children, parent = created[:3], created[3]
    images = list(campaign.images.order_by("position"))
    assert [c.params["image_url"] for c in children] == [image.public_url for image in images]
    assert all(c.params["is_carousel_item"] == "true" for c in children)
    assert all("caption" not in c.params for c in children)
    state = publish_step(execution).state
    assert parent.params["media_type"] == "CAROUSEL"
    assert parent.params["children"] == ",".join(state["children"])
    assert parent.params["caption"].startswith("Our linen collection")
    assert graph.called("media_publish")[0].params["creation_id"] == state["container_id"]


def test_it_sends_each_images_alt_text_and_none_where_it_has_none(graph, campaign):
    services.campaign_images_describe(campaign=campaign, alt_texts={campaign.images.get().pk: "Folded linen shirts"})
    single = run(start(campaign))
    [created] = graph.called("create_container")
    assert single.status == "succeeded" and created.params["alt_text"] == "Folded linen shirts"

    second = add_image(campaign)
    services.campaign_images_describe(campaign=campaign, alt_texts={second.pk: "A shirt on sand"})
    add_image(campaign)
    carousel = run(start(campaign))

    assert carousel.status == "succeeded"
    children = graph.called("create_container")[1:4]
    assert [c.params.get("alt_text") for c in children] == ["Folded linen shirts", "A shirt on sand", None]


def test_it_publishes_once_when_the_answer_to_media_publish_is_lost(graph, campaign):
    graph.publish_times_out = True
    execution = start(campaign)

    retry = run_expecting_retry(execution)

    assert not execution.outputs.get('instagram_media_id', '')
    assert len(graph.media) == 1  # Instagram did publish
    assert retry.message == "Instagram did not answer in time."
    assert publish_step(execution).detail == "Will try again: Instagram did not answer in time."
    assert "media_publish" not in execution.error_message

    execution = run(execution)

    assert execution.status == "succeeded"
    assert len(graph.called("media_publish")) == 1
    assert graph.called("recent_media")  # found the post the lost answer was about
    assert execution.outputs.get('instagram_media_id', '') == graph.media[0]["id"]
    assert execution.outputs.get('instagram_permalink', '') == graph.media[0]["permalink"]
    assert len(graph.called("create_container")) == 1


def test_it_posts_the_first_comment_once(graph, campaign):
    campaign.first_comment = "More at our shop #linen"
    campaign.save()

    execution = run(start(campaign))

    comments = graph.called("comment")
    assert len(comments) == 1
    assert comments[0].path == f"{execution.outputs.get('instagram_media_id', '')}/comments"
    assert comments[0].params["message"] == "More at our shop #linen"
    assert "First comment posted" in publish_step(execution).detail


def test_it_keeps_the_media_id_when_the_first_comment_fails_for_now_and_only_comments_on_the_rerun(graph, campaign):
    campaign.first_comment = "First!"
    campaign.save()
    graph.fail("comment", code=2, message="Service temporarily unavailable", transient=True)
    execution = start(campaign)

    run_expecting_retry(execution)

    assert execution.outputs.get('instagram_media_id', '') == graph.media[0]["id"]

    execution = run(execution)

    assert execution.status == "succeeded"
    assert len(graph.called("media_publish")) == 1
    assert len(graph.called("comment")) == 2


def test_it_marks_the_account_needs_reconnect_and_emails_the_owners_on_a_190_from_publish(
    graph, campaign, account, alice, bob, django_capture_on_commit_callbacks
):
    graph.fail("create_container", code=190, subcode=463, message="Error validating access token: Session has expired")

    with django_capture_on_commit_callbacks(execute=True):
        execution = run(start(campaign))

    assert (execution.status, execution.error_category) == ("failed", "auth")
    account.refresh_from_db()
    assert account.status == "needs_reconnect"
    assert "Session has expired" in account.last_error
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]  # owners only, not bob
    assert "@aliceco" in mail.outbox[0].subject
    assert "/instagram/" in mail.outbox[0].body
    assert "EAAlonglivedtokenSECRET123" not in mail.outbox[0].body


def test_it_refuses_to_publish_with_an_account_that_needs_reconnecting(graph, campaign, account):
    account.status = "needs_reconnect"
    account.save()

    execution = run(start(campaign))

    assert (execution.status, execution.error_category) == ("failed", "auth")
    assert "Reconnect it" in execution.error_message
    assert graph.calls == []


def test_it_names_public_base_url_when_instagram_cannot_fetch_the_image(graph, campaign, settings):
    graph.fail("create_container", code=9004, subcode=2207052, message="The media could not be fetched from this uri")

    execution = run(start(campaign))

    assert execution.status == "failed"
    assert settings.PUBLIC_BASE_URL in execution.error_message
    assert "PUBLIC_BASE_URL" in execution.error_message


def test_it_retries_later_on_a_rate_limit(graph, campaign):
    graph.fail("create_container", code=4, message="(#4) Application request limit reached")
    execution = start(campaign)

    retry = run_expecting_retry(execution)

    assert "rate limit" in retry.message
    assert retry.countdown >= 120

    assert run(execution).status == "succeeded"


def test_it_fails_with_metas_message_on_other_errors(graph, campaign):
    graph.fail("create_container", code=100, subcode=2207004, message="The image is too large to download")

    execution = run(start(campaign))

    assert (execution.status, execution.error_category) == ("failed", "provider")
    assert execution.error_message == "Instagram: The image is too large to download"


def test_it_records_each_publish_attempt(graph, campaign, account):
    graph.fail("media_publish", code=9007, message="Not ready")
    execution = start(campaign)
    run_expecting_retry(execution)
    run(execution)

    attempts = list(PublishAttempt.objects.filter(execution=execution).order_by("id"))
    assert [a.status for a in attempts] == [AttemptStatus.RETRYING, AttemptStatus.PUBLISHED]
    assert attempts[0].error_code == 9007
    assert attempts[0].container_id == attempts[1].container_id != ""
    assert attempts[1].media_id == execution.outputs.get('instagram_media_id', '')
    assert attempts[1].published_at is not None
    assert all(a.account == account for a in attempts)


def test_it_records_the_media_id_and_the_published_attempt_in_one_write(graph, campaign):
    execution = start(campaign)

    with CaptureQueriesContext(connection) as captured:
        run(execution)

    [attempt] = PublishAttempt.objects.filter(execution=execution)
    step = publish_step(execution)
    assert (attempt.status, attempt.media_id, step.external_id) == (AttemptStatus.PUBLISHED, step.external_id, graph.media[0]["id"])
    assert attempt.started_at is not None and attempt.published_at is not None
    inserting = [query["sql"] for query in captured if 'INSERT INTO "instagram_publishattempt"' in query["sql"]]
    if connection.vendor == "postgresql":
        [statement] = inserting
        assert statement.startswith('UPDATE "campaigns_executionstep" SET "external_id"')


def test_it_says_a_disconnected_account_was_disconnected_in_plain_words(graph, campaign, account):
    account.status = "disconnected"
    account.save()

    execution = run(start(campaign))

    assert execution.error_message.startswith("The Instagram account @aliceco was disconnected.")
    assert " is " not in execution.error_message.split(".")[0]


def test_it_keeps_a_steps_first_start_across_attempts(graph, campaign, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    graph.publish_times_out = True
    execution = start(campaign)
    run_expecting_retry(execution)
    first_start = publish_step(execution).started_at

    time_machine.shift(timedelta(seconds=77))
    execution = run(execution)

    step = publish_step(execution)
    assert step.started_at == first_start
    assert (step.finished_at - step.started_at).total_seconds() == 77


def test_it_saves_the_publish_time_only_when_publishing_a_container_of_an_earlier_pass(graph, campaign):
    graph.fail("media_publish", code=2, message="Service temporarily unavailable", transient=True)
    execution = start(campaign)

    run_expecting_retry(execution)

    state = publish_step(execution).state
    assert state["container_created_at"] and "publish_requested_at" not in state

    execution = run(execution)

    assert execution.status == "succeeded"
    assert publish_step(execution).state["publish_requested_at"] > state["container_created_at"]


def test_it_records_the_permalink_with_the_first_comment(graph, campaign):
    campaign.first_comment = "More at our shop"
    campaign.save()

    execution = run(start(campaign))

    step = publish_step(execution)
    assert step.external_url == f"https://www.instagram.com/p/{step.external_id}/"
    assert step.state["comment_id"]
    assert step.state["outputs"]["instagram_permalink"] == step.external_url


def test_it_asks_for_the_permalink_again_on_the_rerun_when_the_first_comment_failed_for_now(graph, campaign):
    campaign.first_comment = "First!"
    campaign.save()
    graph.fail("comment", code=2, message="Service temporarily unavailable", transient=True)
    execution = start(campaign)
    run_expecting_retry(execution)

    execution = run(execution)

    assert execution.status == "succeeded"
    assert len(graph.called("permalink")) == 2
    assert execution.outputs["instagram_permalink"] == publish_step(execution).external_url != ""
