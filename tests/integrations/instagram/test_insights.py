"""Pulling insights into a daily time series, and showing them."""

from datetime import timedelta

import time_machine
from django.template.loader import render_to_string
from django.utils import timezone

from campaigns import executions
from campaigns.models import CampaignExecution
from integrations.instagram import selectors, tasks
from integrations.instagram.models import InsightValue

from .conftest import IG_USER_ID


def published(campaign) -> CampaignExecution:
    execution = executions.execution_create(campaign=campaign)
    executions.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == "succeeded"
    return execution


def media_values(media_id: str) -> dict:
    return dict(InsightValue.objects.filter(object_type="media", object_id=media_id).values_list("metric", "value"))


def test_it_stores_media_insights_and_updates_them_in_place(graph, campaign):
    execution = published(campaign)
    media_id = execution.outputs['instagram_media_id']

    assert tasks.pull_media_insights.delay().get() == 1

    assert media_values(media_id) == {
        "views": 120, "reach": 80, "likes": 9, "comments": 2, "shares": 1, "saved": 3, "total_interactions": 15
    }
    call = graph.called("media_insights")[0]
    assert call.params["metric"] == "views,reach,likes,comments,shares,saved,total_interactions"

    graph.media_insights[media_id] = {"views": 300, "reach": 200, "likes": 20, "comments": 4, "shares": 2, "saved": 5, "total_interactions": 31}
    tasks.pull_media_insights.delay()

    assert InsightValue.objects.filter(object_id=media_id).count() == 7  # the same day's rows, updated
    assert media_values(media_id)["views"] == 300


def test_it_keeps_one_row_per_day(graph, campaign):
    execution = published(campaign)
    tasks.pull_media_insights.delay()
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        tasks.pull_media_insights.delay()

    days = InsightValue.objects.filter(object_id=execution.outputs['instagram_media_id'], metric="views").values_list("day", flat=True)
    assert len(set(days)) == 2


def test_it_stores_not_enough_viewers_as_no_data(graph, campaign):
    execution = published(campaign)
    graph.fail("media_insights", code=10, message="(#10) Not enough viewers for the media to show insights")

    tasks.pull_media_insights.delay()

    values = media_values(execution.outputs['instagram_media_id'])
    assert set(values) == {"views", "reach", "likes", "comments", "shares", "saved", "total_interactions"}
    assert set(values.values()) == {None}


def test_it_stores_a_missing_metric_as_no_data(graph, campaign):
    execution = published(campaign)
    graph.media_insights[execution.outputs['instagram_media_id']] = {"views": 5, "reach": 4}

    tasks.pull_media_insights.delay()

    values = media_values(execution.outputs['instagram_media_id'])
    assert (values["views"], values["likes"], values["saved"]) == (5, None, None)


def test_it_only_pulls_posts_of_the_last_30_days(graph, campaign):
    execution = published(campaign)
    CampaignExecution.objects.filter(pk=execution.pk).update(finished_at=timezone.now() - timedelta(days=31))

    assert tasks.pull_media_insights.delay().get() == 0
    assert not graph.called("media_insights")


def test_it_marks_the_account_needs_reconnect_on_a_190_from_insights(graph, campaign, account):
    published(campaign)
    graph.fail("media_insights", code=190, message="Error validating access token")

    tasks.pull_media_insights.delay()

    account.refresh_from_db()
    assert account.status == "needs_reconnect"
    assert not InsightValue.objects.exists()


def test_it_pulls_account_insights_for_yesterday_and_todays_followers(graph, account):
    assert tasks.pull_account_insights.delay().get() == 1

    today = timezone.now().date()
    rows = {
        (metric, day): value
        for metric, day, value in InsightValue.objects.filter(object_type="account", object_id=IG_USER_ID).values_list(
            "metric", "day", "value"
        )
    }
    yesterday = today - timedelta(days=1)
    assert rows[("reach", yesterday)] == 400
    assert rows[("views", yesterday)] == 900
    assert rows[("likes", yesterday)] is None  # not in Instagram's answer: no data
    assert rows[("followers_count", today)] == 1234
    call = graph.called("account_insights")[0]
    assert (call.params["period"], call.params["metric_type"]) == ("day", "total_value")
    assert int(call.params["until"]) - int(call.params["since"]) == 86400


def test_it_shows_the_posts_numbers_and_no_data_in_the_campaign_fragment(graph, campaign):
    execution = published(campaign)
    graph.media_insights[execution.outputs['instagram_media_id']] = {"views": 4321, "reach": 77}
    tasks.pull_media_insights.delay()

    html = render_to_string(
        "instagram/_campaign_insights.html", {"data": selectors.campaign_insights(campaign=campaign)}
    )

    assert "Instagram insights" in html
    assert "4321" in html and "77" in html
    assert html.count(">no data<") == 5
    assert execution.outputs['instagram_permalink'] in html


def test_it_leaves_the_campaign_fragment_empty_without_posts(campaign):
    html = render_to_string(
        "instagram/_campaign_insights.html", {"data": selectors.campaign_insights(campaign=campaign)}
    )

    assert html.strip() == ""


def test_it_charts_the_accounts_metrics_on_the_analytics_page(alice_client, graph, account, campaign):
    published(campaign)
    del graph.account_insights["accounts_engaged"]
    tasks.pull_account_insights.delay()
    tasks.pull_media_insights.delay()

    page = alice_client.get(f"/instagram/{account.pk}/")

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<svg") >= 2  # followers and reach have data
    assert "<polyline" in html or "<circle" in html
    assert "Followers" in html and "Accounts reached" in html
    assert campaign.name in html
    assert "No data yet." in html  # accounts engaged: Instagram gave nothing


def test_it_lets_an_owner_refresh_insights_at_most_once_per_ten_minutes(
    graph, campaign, account, alice_client, django_capture_on_commit_callbacks
):
    execution = published(campaign)
    url = f"/instagram/{account.pk}/insights/refresh/"

    with django_capture_on_commit_callbacks(execute=True):
        first = alice_client.post(url, follow=True)
    assert "Pulling the insights of @aliceco now" in first.content.decode()
    assert media_values(execution.outputs['instagram_media_id'])["views"] == 120
    assert graph.called("account_insights")

    with django_capture_on_commit_callbacks(execute=True):
        second = alice_client.post(url, follow=True)
    assert "try again in 10 minutes" in second.content.decode()
    assert len(graph.called("media_insights")) == 1


def test_it_does_not_let_a_member_refresh_insights(graph, account, bob, client):
    client.force_login(bob)
    response = client.post(f"/instagram/{account.pk}/insights/refresh/")
    assert response.status_code == 403
    assert not graph.called("account_insights")
