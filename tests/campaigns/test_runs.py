"""The workspace's run list: filters, pages, another workspace's runs, and its CSV download."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from campaigns.models import CampaignExecution, ExecutionStep
from tests.factories import CampaignFactory, WorkspaceFactory

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


def run(campaign, *, status="succeeded", source="manual", ago=timedelta(0), error="") -> CampaignExecution:
    with time_machine.travel(NOW - ago, tick=False):
        return CampaignExecution.objects.create(
            workspace=campaign.workspace, campaign=campaign, status=status, source=source, error_message=error,
            started_at=NOW - ago, finished_at=NOW - ago + timedelta(seconds=4),
        )


def listed(response) -> list[str]:
    """The run ids the page lists, in its order."""
    assert response.status_code == 200
    return re.findall(r"run #([0-9a-f]{8})", response.content.decode())


def short(execution: CampaignExecution) -> str:
    return execution.uuid.hex[:8]


def read_csv(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.getvalue().decode("utf-8").removeprefix("\ufeff"))))


def test_it_lists_the_workspaces_runs_newest_first(alice_client, alice_workspace):
    spring = CampaignFactory(workspace=alice_workspace, name="Spring")
    older, newer = run(spring, ago=timedelta(hours=2)), run(spring, ago=timedelta(hours=1))
    run(CampaignFactory(workspace=WorkspaceFactory(), name="Elsewhere"))

    page = alice_client.get("/runs/")

    assert listed(page) == [short(newer), short(older)]
    assert "Elsewhere" not in page.content.decode()


def test_it_filters_by_status_source_period_and_campaign(alice_client, alice_workspace):
    spring, autumn = CampaignFactory(workspace=alice_workspace), CampaignFactory(workspace=alice_workspace)
    failed = run(spring, status="failed", error="Instagram refused the image")
    scheduled = run(spring, source="schedule", ago=timedelta(days=3))
    old = run(autumn, ago=timedelta(days=10))

    assert listed(alice_client.get("/runs/?status=failed")) == [short(failed)]
    assert listed(alice_client.get("/runs/?source=schedule")) == [short(scheduled)]
    assert listed(alice_client.get("/runs/?days=7")) == [short(failed), short(scheduled)]
    assert listed(alice_client.get(f"/runs/?campaign={autumn.pk}")) == [short(old)]
    assert "Instagram refused the image" in alice_client.get("/runs/?status=failed").content.decode()


def test_it_pages_through_runs_queued_at_the_same_moment_without_losing_one(alice_client, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    runs = [run(campaign) for _ in range(55)]  # one queue time: the id orders them

    first = alice_client.get("/runs/")
    older_link = re.search(r'href="\?older=([0-9.]+)"', first.content.decode())
    second = alice_client.get(f"/runs/?older={older_link.group(1)}")

    newest_first = [short(execution) for execution in reversed(runs)]
    assert listed(first) == newest_first[:50]
    assert listed(second) == newest_first[50:]
    assert "Older runs" not in second.content.decode()
    assert "← Newest" in second.content.decode()


def test_it_reads_a_page_in_a_fixed_number_of_queries(alice_client, alice_workspace, django_assert_max_num_queries):
    for number in range(30):
        execution = run(CampaignFactory(workspace=alice_workspace))
        ExecutionStep.objects.create(execution=execution, position=0, name="publish", status="succeeded")

    with django_assert_max_num_queries(8):
        assert len(listed(alice_client.get("/runs/"))) == 30


def test_it_answers_404_for_another_workspaces_campaign(alice_client):
    elsewhere = CampaignFactory(workspace=WorkspaceFactory())
    run(elsewhere)

    assert alice_client.get(f"/runs/?campaign={elsewhere.pk}").status_code == 404
    assert alice_client.get(f"/runs/export.csv?campaign={elsewhere.pk}").status_code == 404


@pytest.mark.parametrize(
    "query",
    ["status=zzz", "source=%00", "days=abc", "days=-1", "campaign=-4", "campaign=99999999999999999999",
     "older=garbage", "older=99999999999999999999999.1", "older=-5.x"],
)
def test_it_ignores_a_filter_or_cursor_it_does_not_understand(alice_client, alice_workspace, query):
    execution = run(CampaignFactory(workspace=alice_workspace))

    assert listed(alice_client.get(f"/runs/?{query}")) == [short(execution)]


def test_it_downloads_the_filtered_runs_as_csv(alice_client, alice_workspace, alice):
    campaign = CampaignFactory(workspace=alice_workspace, name="@everyone sale")
    failed = run(campaign, status="failed", error="=cmd|' /C calc'!A0")
    failed.requested_by = alice
    failed.save()
    ExecutionStep.objects.create(execution=failed, position=0, name="publish", status="failed")
    run(campaign, status="succeeded")

    response = alice_client.get("/runs/export.csv?status=failed")

    assert response["Content-Disposition"] == 'attachment; filename="alice-co-runs-2026-11-30.csv"'
    header, *rows = read_csv(response)
    assert header == [
        "Run", "Campaign", "Source", "Requested by", "Status", "Error category", "Error", "Queued (UTC)", "Started",
        "Finished", "Seconds", "Steps",
    ]
    assert rows == [[
        failed.uuid.hex, "'@everyone sale", "Run now", "alice@example.com", "Failed", "", "'=cmd|' /C calc'!A0",
        "2026-11-30 12:00:00", "2026-11-30 12:00:00", "2026-11-30 12:00:04", "4.0", "Publish: Failed",
    ]]


def test_it_links_this_weeks_failed_runs_from_the_dashboard(alice_client, alice_workspace):
    run(CampaignFactory(workspace=alice_workspace), status="failed")

    assert 'href="/runs/?status=failed&amp;days=7"' in alice_client.get("/").content.decode()


def test_it_links_a_campaigns_whole_history_from_its_page(alice_client, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    run(campaign)

    assert f'href="/runs/?campaign={campaign.pk}"' in alice_client.get(f"/campaigns/{campaign.pk}/").content.decode()
