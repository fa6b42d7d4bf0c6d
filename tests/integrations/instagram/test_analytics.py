"""The analytics page's periods and summaries, and its CSV downloads."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from integrations.instagram import charts, selectors
from integrations.instagram.models import InsightValue
from marketing.csv_export import csv_filename, safe_cell
from tests.factories import CampaignFactory, add_image

from .conftest import IG_USER_ID
from .test_insights import published

TODAY = date(2026, 11, 30)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(datetime(2026, 11, 30, 12, tzinfo=UTC), tick=False):
        yield


def store(account, metric: str, values: dict[date, int | None]) -> None:
    InsightValue.objects.bulk_create(
        InsightValue(
            workspace=account.workspace, account=account, object_type="account", object_id=IG_USER_ID,
            metric=metric, day=day, value=value,
        )
        for day, value in values.items()
    )


def days_ago(count: int) -> date:
    return TODAY - timedelta(days=count)


def summaries(account, days: int) -> dict[str, selectors.MetricSummary]:
    return {summary.label: summary for summary in selectors.account_analytics(account=account, days=days)["summaries"]}


def read_csv(response) -> list[list[str]]:
    text = response.getvalue().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_it_totals_views_against_the_period_before(account):
    store(account, "views", {days_ago(1): 100, days_ago(3): 200, days_ago(8): 150, days_ago(12): 50})

    views = summaries(account, 7)["Views"]

    assert (views.value, views.previous) == (300, 200)
    assert views.comparison == "+50% on the 7 days before"
    assert views.trend == "up"


def test_it_averages_reach_over_the_days_with_data(account):
    # Reach counts distinct accounts per day: adding days up would count a person once per day.
    store(account, "reach", {days_ago(1): 100, days_ago(2): None, days_ago(3): 201, days_ago(9): 300})

    reach = summaries(account, 7)["Accounts reached"]

    assert (reach.value, reach.previous) == (150, 300)
    assert reach.comparison == "\N{MINUS SIGN}50% on the 7 days before"
    assert reach.trend == "down"


def test_it_shows_the_latest_follower_count_and_its_change(account):
    store(account, "followers_count", {days_ago(0): 1_250, days_ago(5): 1_240, days_ago(40): 1_100, days_ago(70): 1_000})

    followers = summaries(account, 30)["Followers"]

    assert (followers.value, followers.previous) == (1_250, 1_100)
    assert followers.comparison == "+150 in 30 days"


def test_it_compares_nothing_without_data_before_the_period(account):
    store(account, "views", {days_ago(1): 100})

    views = summaries(account, 30)["Views"]
    interactions = summaries(account, 30)["Interactions"]

    assert (views.value, views.previous, views.comparison, views.trend) == (100, None, "", "")
    assert interactions.value is None


def test_it_shows_the_chosen_period_on_the_page(alice_client, account):
    store(account, "views", {days_ago(1): 1_000, days_ago(20): 5_000, days_ago(60): 7_000})

    week = alice_client.get(f"/instagram/{account.pk}/?days=7").content.decode()
    quarter = alice_client.get(f"/instagram/{account.pk}/?days=90").content.decode()

    assert "Nov 24 to Nov 30, 2026" in week and ">1,000<" in week
    assert 'href="?days=7" aria-current="true"' in week
    assert "Sep 2 to Nov 30, 2026" in quarter and ">13,000<" in quarter


@pytest.mark.parametrize("asked", ["", "abc", "8", "-30", "99999999999999999999", "7.0"])
def test_it_falls_back_to_30_days_for_a_period_it_does_not_offer(alice_client, account, asked):
    response = alice_client.get(f"/instagram/{account.pk}/", {"days": asked})

    assert response.status_code == 200
    assert 'href="?days=30" aria-current="true"' in response.content.decode()


def test_it_downloads_one_row_per_day_with_empty_cells_for_no_data(alice_client, account):
    store(account, "views", {days_ago(0): 10, days_ago(6): 60})
    store(account, "reach", {days_ago(6): None})
    store(account, "followers_count", {days_ago(0): 1_234})

    response = alice_client.get(f"/instagram/{account.pk}/daily.csv?days=7")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="aliceco-daily-7-days.csv"'
    rows = read_csv(response)
    assert rows[0] == ["Date", "Followers", "Accounts reached", "Views", "Accounts engaged", "Interactions"]
    assert [row[0] for row in rows[1:]] == [days_ago(count).isoformat() for count in range(6, -1, -1)]
    assert rows[1] == ["2026-11-24", "", "", "60", "", ""]
    assert rows[-1] == ["2026-11-30", "1234", "", "10", "", ""]


def test_it_downloads_the_periods_posts_with_their_numbers(alice_client, graph, account, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, targets=[account], name="=HYPERLINK(\"http://evil\")")
    add_image(campaign)
    execution = published(campaign)
    media_id = execution.outputs["instagram_media_id"]
    InsightValue.objects.create(
        workspace=alice_workspace, account=account, object_type="media", object_id=media_id, metric="views",
        day=TODAY, value=4_321,
    )

    rows = read_csv(alice_client.get(f"/instagram/{account.pk}/posts.csv?days=7"))

    assert rows[0][:5] == ["Campaign", "Published (UTC)", "Post", "Media ID", "Numbers as of"]
    assert rows[0][5:] == ["Views", "Reach", "Likes", "Comments", "Shares", "Saves", "Interactions"]
    assert len(rows) == 2
    name, published_at, permalink, media, as_of, views, reach, *_ = rows[1]
    assert name == "'=HYPERLINK(\"http://evil\")"  # text in a spreadsheet, not a formula
    assert published_at == "2026-11-30 12:00"
    assert (permalink, media, as_of, views, reach) == (execution.outputs["instagram_permalink"], media_id, "2026-11-30", "4321", "")


def test_it_leaves_posts_before_the_period_out_of_the_download(alice_client, graph, campaign, account):
    published(campaign)

    with time_machine.travel(datetime(2026, 12, 10, 12, tzinfo=UTC), tick=False):
        rows = read_csv(alice_client.get(f"/instagram/{account.pk}/posts.csv?days=7"))

    assert len(rows) == 1  # the header alone


def test_it_answers_404_for_another_workspaces_downloads(charlie_client, account):
    for name in ("daily", "posts"):
        assert charlie_client.get(f"/instagram/{account.pk}/{name}.csv").status_code == 404


def test_it_answers_404_for_a_download_it_does_not_offer(alice_client, account):
    assert alice_client.get(f"/instagram/{account.pk}/tokens.csv").status_code == 404


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+33 6 12", "'+33 6 12"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
     ("Spring sale", "Spring sale"), (-5, -5), (None, None)],
)
def test_it_keeps_cells_from_being_read_as_formulas(value, cell):
    assert safe_cell(value) == cell


@pytest.mark.parametrize("days", selectors.ANALYTICS_PERIODS)
def test_it_keeps_each_day_label_inside_the_chart(days):
    chart = charts.line_chart([(days_ago(count), count) for count in range(days - 1, -1, -1)])

    assert len(chart.x_labels) >= 3
    for x, text in chart.x_labels:
        assert x + charts.AXIS_CHAR_PX * len(text) / 2 <= chart.width, text


def test_it_names_a_download_in_ascii_without_empty_parts():
    assert csv_filename("🌸🌸", "Café Ünïcode", "runs", "2026-11-30") == "cafe-unicode-runs-2026-11-30.csv"
