"""Best times to post: the account's own posts' engagement by weekday and time of day."""

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import CampaignExecution, ExecutionStep
from integrations.instagram import selectors
from integrations.instagram.models import InsightValue, InstagramAccount
from tests.factories import CampaignFactory

from .conftest import IG_USER_ID

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)  # a Monday
media_ids = itertools.count(9000)


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


def post(account, at: datetime, *, reach: int | None, interactions: int | None = None, **parts: int) -> str:
    """A post published to ``account`` at ``at``, with its numbers as Instagram gave them."""
    media_id = str(next(media_ids))
    campaign = CampaignFactory(workspace=account.workspace)
    execution = CampaignExecution.objects.create(workspace=account.workspace, campaign=campaign, status="succeeded")
    ExecutionStep.objects.create(
        execution=execution, position=1, name="publish", status="done", destination="instagram",
        object_id=account.pk, external_id=media_id, finished_at=at,
        state={"outputs": {"instagram_media_id": media_id}},
    )
    values = {"reach": reach, "total_interactions": interactions, **parts}
    InsightValue.objects.bulk_create(
        InsightValue(
            workspace=account.workspace, account=account, object_type="media", object_id=media_id,
            metric=metric, day=at.date(), value=value,
        )
        for metric, value in values.items()
    )
    return media_id


def at(weekday: int, hour: int, weeks_ago: int = 1) -> datetime:
    """The time of that weekday (0 is Monday) and hour, ``weeks_ago`` weeks before this week, in UTC."""
    monday = datetime(2026, 11, 30, tzinfo=UTC) - timedelta(weeks=weeks_ago)
    return monday + timedelta(days=weekday, hours=hour)


def test_it_ranks_times_by_interactions_per_account_reached(account):
    for weeks_ago in (1, 2):
        post(account, at(1, 18, weeks_ago), reach=100, interactions=10)  # Tue 18:00–21:00: 10 %
        post(account, at(3, 9, weeks_ago), reach=1_000, interactions=50)  # Thu 09:00–12:00: 5 %, more in all
        post(account, at(5, 13, weeks_ago), reach=200, interactions=14)  # Sat 12:00–15:00: 7 %

    best = selectors.best_times(account=account).best

    assert [(slot.label, slot.posts, slot.percent) for slot in best] == [
        ("Tue 18:00–21:00", 2, "10.0%"), ("Sat 12:00–15:00", 2, "7.0%"), ("Thu 09:00–12:00", 2, "5.0%"),
    ]


def test_it_places_posts_in_the_viewers_time_zone(account):
    # 23:30 UTC on a Monday is 08:30 on Tuesday in Tokyo.
    post(account, at(0, 23) + timedelta(minutes=30), reach=100, interactions=5)

    with timezone.override("Asia/Tokyo"):
        found = selectors.best_times(account=account)

    assert list(found.slots) == [(1, 2)]
    assert found.zone == "Asia/Tokyo"


def test_it_suggests_nothing_before_enough_posts_have_numbers(account):
    for weeks_ago in range(1, selectors.BEST_TIMES_MIN_POSTS):
        post(account, at(1, 18, weeks_ago), reach=100, interactions=10)
    post(account, at(2, 18), reach=None, interactions=10)  # no reach: nothing to divide by
    post(account, at(2, 18, 2), reach=0, interactions=0)

    found = selectors.best_times(account=account)

    assert found.posts == selectors.BEST_TIMES_MIN_POSTS - 1
    assert found.best == []
    assert found.slots[(1, 6)].posts == selectors.BEST_TIMES_MIN_POSTS - 1  # the grid still shows what there is


def test_it_needs_two_posts_at_a_time_to_suggest_it(account):
    post(account, at(0, 10), reach=100, interactions=90)  # one lucky post
    for weeks_ago in range(1, 5):
        post(account, at(4, 19, weeks_ago), reach=100, interactions=8)

    best = selectors.best_times(account=account).best

    assert [slot.label for slot in best] == ["Fri 18:00–21:00"]


def test_it_adds_up_the_parts_when_instagram_gave_no_total(account):
    post(account, at(2, 7), reach=50, interactions=None, likes=3, comments=1, saved=1)

    assert selectors.best_times(account=account).slots[(2, 2)].percent == "10.0%"


def test_it_takes_each_posts_newest_numbers(account):
    media_id = post(account, at(2, 7), reach=50, interactions=5)
    InsightValue.objects.filter(object_id=media_id, metric="reach").update(day=date(2026, 11, 1))
    InsightValue.objects.create(
        workspace=account.workspace, account=account, object_type="media", object_id=media_id,
        metric="reach", day=date(2026, 11, 2), value=100,
    )

    assert selectors.best_times(account=account).slots[(2, 2)].percent == "5.0%"


def test_it_leaves_out_posts_older_than_its_window(account):
    post(account, NOW - timedelta(days=selectors.BEST_TIMES_DAYS + 1), reach=100, interactions=10)

    assert selectors.best_times(account=account).slots == {}


def test_it_shades_each_time_against_the_best(account):
    post(account, at(0, 9), reach=100, interactions=8)
    post(account, at(1, 9), reach=100, interactions=4)
    post(account, at(2, 9), reach=100, interactions=1)
    post(account, at(3, 9), reach=100, interactions=0)

    levels = {key[0]: slot.level for key, slot in selectors.best_times(account=account).slots.items()}

    assert levels == {0: 4, 1: 2, 2: 1, 3: 0}


def test_it_shades_against_the_best_time_with_enough_posts(account):
    post(account, at(0, 10), reach=100, interactions=90)  # one lucky post
    for weeks_ago in (1, 2):
        post(account, at(4, 19, weeks_ago), reach=100, interactions=8)
        post(account, at(5, 19, weeks_ago), reach=100, interactions=4)

    slots = selectors.best_times(account=account).slots

    assert (slots[(4, 6)].level, slots[(5, 6)].level) == (4, 2)
    assert slots[(0, 3)].level == 4


def test_it_counts_only_the_accounts_own_posts(account, alice_workspace):
    other = InstagramAccount.objects.create(
        workspace=alice_workspace, ig_user_id="17840000000000999", username="otherco", page_id="2", access_token="t",
    )
    post(other, at(1, 18), reach=100, interactions=10)

    assert selectors.best_times(account=account).slots == {}


def test_it_shows_the_best_times_and_their_grid_on_the_analytics_page(alice_client, account):
    for weeks_ago in range(1, 4):
        post(account, at(1, 18, weeks_ago), reach=100, interactions=10)
        post(account, at(3, 9, weeks_ago), reach=100, interactions=5)

    page = alice_client.get(f"/instagram/{account.pk}/").content.decode()

    assert "Your posts did best on <strong>Tue 18:00–21:00, Thu 09:00–12:00</strong>" in page
    assert '<td class="ig-heat-4" title="3 posts">10.0%</td>' in page
    assert '<td class="ig-heat-2" title="3 posts">5.0%</td>' in page


def test_it_leaves_a_time_with_one_post_unshaded_on_the_page(alice_client, account):
    post(account, at(2, 7), reach=100, interactions=40)

    page = alice_client.get(f"/instagram/{account.pk}/").content.decode()

    assert '<td class="muted" title="1 post">40.0%*</td>' in page


def test_it_says_how_many_posts_it_still_needs_on_the_page(alice_client, account):
    post(account, at(1, 18), reach=100, interactions=10)

    page = alice_client.get(f"/instagram/{account.pk}/").content.decode()

    assert f"Best times show once {selectors.BEST_TIMES_MIN_POSTS} posts of the last 90 days" in page
    assert "(1 so far)" in page


def test_it_names_each_targets_best_times_on_the_schedule_page(alice_client, account, alice_workspace):
    for weeks_ago in range(1, 4):
        post(account, at(1, 18, weeks_ago), reach=100, interactions=10)
        post(account, at(3, 9, weeks_ago), reach=100, interactions=5)
    campaign = CampaignFactory(workspace=alice_workspace, targets=[account])

    page = alice_client.get(f"/campaigns/{campaign.pk}/schedule/").content.decode()

    assert f'<a href="/instagram/{account.pk}/#best-times">@aliceco</a>’s posts did best on Tue 18:00–21:00, Thu 09:00–12:00' in page


def test_it_says_nothing_on_the_schedule_page_without_enough_posts(alice_client, account, alice_workspace):
    post(account, at(1, 18), reach=100, interactions=10)
    campaign = CampaignFactory(workspace=alice_workspace, targets=[account])

    page = alice_client.get(f"/campaigns/{campaign.pk}/schedule/").content.decode()

    assert "timing-hints" not in page
